"""Workflows: a static graph of task, sub-workflow, branch and map nodes.

``@workflow`` calls the decorated function once, at decoration, with a
``Promise`` for each input (as flytekit does). Every task or workflow it calls
becomes a node, numbered ``n0, n1, ...`` in call order; what it returns becomes
the workflow's outputs. Calling the workflow afterwards outside another
workflow's definition runs the graph here, node by node, through literals.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from contrail.errors import ExecutionFailed
from contrail.map import MapTask
from contrail.promise import (
    BranchDraft,
    Expression,
    MapDraft,
    NodeDraft,
    NodeOutputs,
    NodeRef,
    Promise,
)
from contrail.task import (
    COMPILING,
    Callee,
    DefinitionError,
    InputError,
    Interface,
    OutputError,
    OutputStyle,
    bind_arguments,
    describe,
    display_path,
    interface_of,
)
from contrail.types import TypeEngineError, to_literal
from shared.identifiers import ResourceType
from shared.literals import (
    DictType,
    ListType,
    LiteralType,
    UnionType,
    can_assign,
    render,
    value_errors,
)
from shared.specs import (
    ENTITY_NAME_PATTERN,
    Binding,
    Branch,
    BranchCase,
    Comparison,
    Condition,
    Conjunction,
    DictBinding,
    EntityRef,
    FailurePolicy,
    InputBinding,
    ListBinding,
    LiteralBinding,
    MapSpec,
    Node,
    NodeKind,
    OutputBinding,
    WorkflowSpec,
)

P = ParamSpec("P")
R = TypeVar("R", covariant=True)


# --- compiling ----------------------------------------------------------------


class WorkflowBuilder:
    """The state of one workflow while its function runs on promises."""

    def __init__(self, name: str, fn: Callable[..., object]) -> None:
        self.name = name
        self._code = getattr(fn, "__code__", None)
        self._file = display_path(self._code.co_filename) if self._code else "<unknown>"
        self._first_line = self._code.co_firstlineno if self._code else 0
        self.nodes: list[NodeDraft] = []
        self._count = 0
        self._captures: list[list[NodeDraft]] = []
        self.open_conditionals: list[str] = []
        self.return_line: int | None = None

    # where errors point: the line of the workflow's body being run
    def where(self, line: int | None = None) -> str:
        """``workflow NAME (file:line)``, at the line of the body being compiled."""
        if line is None:
            line = self._current_line()
        return f"workflow {self.name} ({self._file}:{line or self._first_line})"

    def _current_line(self) -> int | None:
        frame = inspect.currentframe()
        while frame is not None:
            if frame.f_code is self._code:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def line_of(self, error: BaseException) -> int | None:
        """The line of the workflow's body that an exception passed through."""
        tb = error.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code is self._code:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line

    def next_id(self) -> str:
        """A new node id, unique in the workflow: ``n0``, ``n1``, ..."""
        node_id = f"n{self._count}"
        self._count += 1
        return node_id

    def add(self, node: NodeDraft) -> None:
        """Add a node to the workflow, or to the conditional case being defined."""
        if self._captures:
            node.in_branch = True
            self._captures[-1].append(node)
        else:
            self.nodes.append(node)

    def start_capture(self) -> None:
        """Nodes made from now on belong to a conditional's case."""
        self._captures.append([])

    def end_capture(self) -> list[NodeDraft]:
        """The nodes made since ``start_capture``."""
        return self._captures.pop()

    def call(self, entity: Callee, args: tuple[object, ...], kwargs: dict[str, object]) -> Any:
        """Add a node that calls ``entity`` with ``kwargs``; its outputs as promises.

        Raises:
            DefinitionError: positional arguments, unknown or missing inputs, or a
                value that does not fit its input.
        """
        short = entity.name.rsplit(".", 1)[-1]
        where = f"{self.where()}: {short}(...)"
        interface = entity.interface
        if args:
            example = ", ".join(f"{n}=..." for n in interface.inputs) or ""
            raise DefinitionError(
                f"{where}: inside a workflow, call tasks and workflows with keyword arguments: "
                f"{short}({example})"
            )
        unknown = [k for k in kwargs if k not in interface.inputs]
        if unknown:
            raise DefinitionError(
                f"{where}: unknown input {', '.join(repr(u) for u in unknown)} "
                f"(inputs: {', '.join(interface.inputs) or 'none'})"
            )
        inputs: dict[str, Binding] = {}
        for name, slot in interface.inputs.items():
            if name in kwargs:
                inputs[name] = self.bind(
                    kwargs[name], slot.annotation, slot.type, f"{where}: input '{name}'"
                )
            elif slot.has_default:
                inputs[name] = LiteralBinding(value=slot.default_literal)
            else:
                raise DefinitionError(f"{where}: missing input '{name}' ({render(slot.type)})")
        node = NodeDraft(
            id=self.next_id(),
            kind=entity.node_kind,
            outputs=dict(interface.outputs),
            entity=entity,
            inputs=inputs,
        )
        if isinstance(entity, MapTask):
            node.map = MapDraft(
                concurrency=entity.concurrency, min_success_ratio=entity.min_success_ratio
            )
        self.add(node)
        return self.promises_of(node, interface.style)

    def promises_of(self, node: NodeDraft, style: OutputStyle) -> Any:
        """What a call returns: a ``NodeRef``, a ``Promise`` or ``NodeOutputs``."""
        if style is OutputStyle.NONE or not node.outputs:
            return NodeRef(node)
        promises = tuple(
            Promise(
                OutputBinding(node=node.id, output=name), slot.type, slot.annotation, node, self
            )
            for name, slot in node.outputs.items()
        )
        if style is OutputStyle.SINGLE and len(promises) == 1:
            return promises[0]
        return NodeOutputs(promises, tuple(node.outputs), node)

    def bind(self, value: object, annotation: Any, target: LiteralType, where: str) -> Binding:
        """The binding of ``value`` (a promise, a constant, or lists/dicts mixing them).

        Raises:
            DefinitionError: the value does not fit ``target``, naming ``where``.
        """
        if isinstance(value, Promise):
            if value.owner is not self:
                raise DefinitionError(
                    f"{where}: {value.describe()} belongs to another workflow's definition"
                )
            if self._captures and any(value.node is n for n in self._captures[-1]):
                raise DefinitionError(
                    f"{where}: a conditional's case is a single call; make "
                    f"{value.node.describe() if value.node else value.describe()} before "
                    "conditional() and pass its result in"
                )
            if value.node is not None and value.node.in_branch:
                raise DefinitionError(
                    f"{where}: {value.describe()} runs only when its conditional case holds; "
                    "use the result of the conditional instead"
                )
            if not can_assign(value.type, target):
                raise DefinitionError(
                    f"{where}: expected {render(target)}, got {value.describe()} "
                    f"of type {render(value.type)}"
                )
            return value.binding
        if isinstance(value, NodeOutputs):
            raise DefinitionError(
                f"{where}: that call has several outputs ({', '.join(value._names)}); "
                "pass one of them, e.g. result.o0 or a, b = ..."
            )
        if isinstance(value, NodeRef):
            raise DefinitionError(f"{where}: that call has no outputs to pass")
        if isinstance(value, Expression):
            raise DefinitionError(
                f"{where}: a comparison of promises is a condition for conditional(), "
                "not a value; compute the bool in a task"
            )
        if isinstance(value, list | tuple) and _has_promise(value):
            item_annotation, item_type = _item_of(annotation, target, list)
            if item_type is None:
                raise DefinitionError(f"{where}: expected {render(target)}, got a list")
            return ListBinding(
                items=[
                    self.bind(item, item_annotation, item_type, f"{where}[{i}]")
                    for i, item in enumerate(value)
                ]
            )
        if isinstance(value, dict) and _has_promise(value):
            item_annotation, item_type = _item_of(annotation, target, dict)
            if item_type is None:
                raise DefinitionError(f"{where}: expected {render(target)}, got a dict")
            items: dict[str, Binding] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise DefinitionError(f"{where}: dict keys are strings, got {key!r}")
                items[key] = self.bind(item, item_annotation, item_type, f"{where}.{key}")
            return DictBinding(items=items)
        try:
            return LiteralBinding(value=to_literal(value, annotation))
        except TypeEngineError as error:
            raise DefinitionError(f"{where}: {error}") from None

    def finish(self, result: object, interface: Interface) -> dict[str, Binding]:
        """The output bindings of what the function returned.

        Raises:
            DefinitionError: an unfinished conditional, or a result that does not
                fit the declared outputs.
        """
        where = self.where(self.return_line)
        if self.open_conditionals:
            raise DefinitionError(
                f"{where}: conditional '{self.open_conditionals[-1]}' is not finished; end it "
                "with .else_().then(...) or .else_().fail('message')"
            )
        if interface.style is OutputStyle.NONE:
            if result is None or isinstance(result, NodeRef):
                return {}
            raise DefinitionError(
                f"{where}: declared to return None, returned {result!r}; annotate its outputs"
            )
        if interface.style is OutputStyle.SINGLE:
            if isinstance(result, NodeOutputs) and len(result) == 1:
                result = result[0]
            values: tuple[object, ...] = (result,)
        else:
            if not isinstance(result, tuple) or len(result) != len(interface.outputs):
                raise DefinitionError(
                    f"{where}: declared {len(interface.outputs)} outputs "
                    f"({', '.join(interface.outputs)}), returned {result!r}"
                )
            values = tuple(result)
        return {
            slot.name: self.bind(
                value, slot.annotation, slot.type, f"{where}: output '{slot.name}'"
            )
            for slot, value in zip(interface.outputs.values(), values, strict=True)
        }


def _has_promise(value: object) -> bool:
    if isinstance(value, Promise | NodeOutputs | NodeRef | Expression):
        return True
    if isinstance(value, list | tuple):
        return any(_has_promise(v) for v in value)
    if isinstance(value, dict):
        return any(_has_promise(v) for v in value.values())
    return False


def _item_of(
    annotation: Any, target: LiteralType, container: type
) -> tuple[Any, LiteralType | None]:
    """The annotation and literal type of the items of a list (or values of a dict) input."""
    candidates = [annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        candidates = list(typing.get_args(annotation))
    for candidate in candidates:
        while typing.get_origin(candidate) is typing.Annotated:
            candidate = typing.get_args(candidate)[0]
        if typing.get_origin(candidate) is container:
            args = typing.get_args(candidate)
            item_annotation = args[0] if container is list else args[1]
            types_ = target.variants if isinstance(target, UnionType) else (target,)
            for t in types_:
                if container is list and isinstance(t, ListType):
                    return item_annotation, t.item
                if container is dict and isinstance(t, DictType):
                    return item_annotation, t.value
    return None, None


def _dependencies(node: NodeDraft) -> list[str]:
    """Ids of the nodes ``node`` waits for: its bindings', conditions' and explicit ones."""
    found: list[str] = []

    def visit(binding: Binding) -> None:
        if isinstance(binding, OutputBinding) and binding.node not in found:
            found.append(binding.node)
        elif isinstance(binding, ListBinding):
            for item in binding.items:
                visit(item)
        elif isinstance(binding, DictBinding):
            for item in binding.items.values():
                visit(item)

    def visit_condition(condition: Condition) -> None:
        if isinstance(condition, Comparison):
            visit(condition.left)
            visit(condition.right)
        elif isinstance(condition, Conjunction):
            visit_condition(condition.left)
            visit_condition(condition.right)
        else:
            visit_condition(condition.operand)

    def visit_node(draft: NodeDraft) -> None:
        for binding in draft.inputs.values():
            visit(binding)
        for upstream in draft.upstream:
            if upstream not in found:
                found.append(upstream)
        if draft.branch is not None:
            for case in draft.branch.cases:
                visit_condition(case.condition.to_spec())
                visit_node(case.node)
            if draft.branch.otherwise is not None:
                visit_node(draft.branch.otherwise)

    visit_node(node)
    return found


def _topological(name: str, nodes: list[NodeDraft]) -> list[NodeDraft]:
    """Nodes each after those it waits for; call order among the ready ones."""
    by_id = {n.id: n for n in nodes}
    waits = {n.id: [d for d in _dependencies(n) if d in by_id] for n in nodes}
    done: set[str] = set()
    order: list[NodeDraft] = []
    pending = sorted(nodes, key=lambda n: n.index)
    while pending:
        ready = next((n for n in pending if all(d in done for d in waits[n.id])), None)
        if ready is None:
            cycle = ", ".join(n.describe() for n in pending)
            raise DefinitionError(f"workflow {name}: '>>' makes a cycle among {cycle}")
        order.append(ready)
        done.add(ready.id)
        pending.remove(ready)
    return order


# --- workflows ------------------------------------------------------------------


class Workflow(Generic[P, R]):
    """A static graph of nodes compiled from a Python function (made by ``@workflow``).

    Call it inside another ``@workflow`` (keyword arguments) to add a sub-workflow
    node; call it anywhere else to run it here: the graph runs node by node,
    branches and maps for real, with the type checks of a remote run.
    """

    node_kind = NodeKind.WORKFLOW

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        failure_policy: FailurePolicy = FailurePolicy.FAIL_IMMEDIATELY,
    ) -> None:
        """Compile ``fn`` into nodes by calling it once with promises.

        Raises:
            DefinitionError: a bad annotation, a bad call, a type mismatch, an
                unfinished conditional, or anything else the function raised while
                compiling; the message names the workflow, its file and line.
        """
        if not inspect.isfunction(fn):
            raise DefinitionError(f"@workflow decorates a function, got {fn!r}")
        self._fn = fn
        self._name = f"{fn.__module__}.{fn.__qualname__}"
        self._where = f"workflow {describe(fn)}"
        if inspect.iscoroutinefunction(fn):
            raise DefinitionError(f"{self._where}: a workflow's function is a plain def")
        self._interface = interface_of(fn, "workflow")
        self.failure_policy = FailurePolicy(failure_policy)
        builder = WorkflowBuilder(self._name, fn)
        inputs = {
            name: Promise(InputBinding(input=name), slot.type, slot.annotation, None, builder)
            for name, slot in self._interface.inputs.items()
        }
        COMPILING.append(builder)
        try:
            result = fn(**inputs)
        except DefinitionError as error:
            if str(error).startswith("workflow "):
                raise
            raise DefinitionError(f"{builder.where(builder.line_of(error))}: {error}") from None
        except (InputError, OutputError, ExecutionFailed):  # they name the call at fault
            raise
        except Exception as error:
            raise DefinitionError(
                f"{builder.where(builder.line_of(error))}: {type(error).__name__}: {error} "
                "(a workflow's body runs once, at decoration, on promises: it calls tasks and "
                "workflows and wires their outputs; compute values in tasks)"
            ) from error
        finally:
            COMPILING.remove(builder)
        builder.return_line = _return_line(fn)
        self._outputs = builder.finish(result, self._interface)
        self._nodes = sorted(builder.nodes, key=lambda n: n.index)
        self._order = _topological(self._name, self._nodes)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        """``module.qualname`` of the function: the registered name."""
        return self._name

    @property
    def function(self) -> Callable[P, R]:
        """The decorated function itself."""
        return self._fn

    @property
    def interface(self) -> Interface:
        """Typed inputs and outputs, read from the signature."""
        return self._interface

    def references(self) -> list[Callee]:
        """The tasks and workflows its nodes call (maps give their task), in node order."""
        found: list[Callee] = []

        def visit(draft: NodeDraft) -> None:
            entity = draft.entity
            if entity is not None:
                target = entity.task if isinstance(entity, MapTask) else entity
                if all(target is not f for f in found):
                    found.append(target)
            if draft.branch is not None:
                for case in draft.branch.cases:
                    visit(case.node)
                if draft.branch.otherwise is not None:
                    visit(draft.branch.otherwise)

        for draft in self._nodes:
            visit(draft)
        return found

    def spec(self) -> WorkflowSpec:
        """The ``WorkflowSpec`` that registration sends.

        Raises:
            DefinitionError: the workflow, or an entity it calls, is not defined at a
                module's top level (so it could not be registered).
        """
        if not re.fullmatch(ENTITY_NAME_PATTERN, self._name):
            raise DefinitionError(
                f"{self._where}: a registered workflow must be defined at the top level of a module"
            )
        return WorkflowSpec(
            name=self._name,
            interface=self._interface.typed_interface(),
            nodes=[_node_spec(draft) for draft in self._nodes],
            outputs=self._outputs,
            failure_policy=self.failure_policy,
            description=inspect.getdoc(self._fn) or "",
        )

    def execute_literals(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the graph here with literal inputs; its outputs as literals.

        Exceptions raised by tasks propagate as they are.

        Raises:
            InputError: the literals do not fit the inputs.
            ExecutionFailed: a conditional reached ``fail``, or a map fell below its
                minimum success ratio.
        """
        literals = _complete_inputs(self._name, self._interface, inputs)
        results: dict[str, dict[str, Any]] = {}

        def resolve(binding: Binding) -> Any:
            if isinstance(binding, InputBinding):
                return literals[binding.input]
            if isinstance(binding, OutputBinding):
                return results[binding.node][binding.output]
            if isinstance(binding, LiteralBinding):
                return binding.value
            if isinstance(binding, ListBinding):
                return [resolve(item) for item in binding.items]
            return {key: resolve(item) for key, item in binding.items.items()}

        for draft in self._order:
            results[draft.id] = self._run_node(draft, resolve)
        return {name: resolve(binding) for name, binding in self._outputs.items()}

    def _run_node(self, draft: NodeDraft, resolve: Callable[[Binding], Any]) -> dict[str, Any]:
        if draft.branch is not None:
            branch = draft.branch
            for case in branch.cases:
                if case.condition.evaluate(resolve):
                    return self._run_node(case.node, resolve)
            if branch.otherwise is not None:
                return self._run_node(branch.otherwise, resolve)
            raise ExecutionFailed(
                f"{self._name}: conditional '{branch.name}' ({draft.id}): "
                f"{branch.fail_message or 'no case held'}"
            )
        assert draft.entity is not None
        return draft.entity.execute_literals(
            {name: resolve(binding) for name, binding in draft.inputs.items()}
        )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """In a workflow: a sub-workflow node and its promises. Elsewhere: run it here.

        Raises:
            DefinitionError: (in a workflow) positional arguments, unknown or missing
                inputs, or a value of the wrong type.
            InputError: (locally) inputs that do not fit the interface.
            OutputError: (locally) a task returned something that does not fit.
            ExecutionFailed: (locally) a conditional failed or a map fell short.
        """
        if COMPILING:
            return cast(R, COMPILING[-1].call(self, args, dict(kwargs)))
        values = bind_arguments(self._name, self._fn, args, kwargs)
        literals = self._interface.inputs_to_literals(self._name, values)
        outputs = self.execute_literals(literals)
        return cast(R, self._interface.literals_to_outputs(self._name, outputs))

    def __repr__(self) -> str:
        return f"Workflow({self._name})"


def _return_line(fn: Callable[..., object]) -> int | None:
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    for offset in range(len(lines) - 1, -1, -1):
        if lines[offset].strip().startswith("return"):
            return first + offset
    return None


def _complete_inputs(owner: str, interface: Interface, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Input literals with defaults filled in, each checked against its type.

    Raises:
        InputError: an unknown or missing input, or a literal not of its type.
    """
    unknown = [name for name in inputs if name not in interface.inputs]
    if unknown:
        raise InputError(f"{owner}: unknown input {', '.join(repr(u) for u in unknown)}")
    literals: dict[str, Any] = {}
    for name, slot in interface.inputs.items():
        if name in inputs:
            literal = inputs[name]
        elif slot.has_default:
            literal = slot.default_literal
        else:
            raise InputError(f"{owner}: missing input '{name}' ({render(slot.type)})")
        errors = value_errors(slot.type, literal)
        if errors:
            raise InputError(f"{owner}: input '{name}': {'; '.join(errors)}")
        literals[name] = literal
    return literals


def _node_spec(draft: NodeDraft) -> Node:
    entity = draft.entity
    upstream = list(draft.upstream)
    fields: dict[str, Any] = {}
    if draft.kind is NodeKind.TASK and entity is not None:
        fields["task"] = EntityRef(resource_type=ResourceType.TASK, name=entity.name)
    elif draft.kind is NodeKind.WORKFLOW and entity is not None:
        fields["workflow"] = EntityRef(resource_type=ResourceType.WORKFLOW, name=entity.name)
    elif draft.kind is NodeKind.MAP and entity is not None and draft.map is not None:
        fields["map"] = MapSpec(
            task=EntityRef(resource_type=ResourceType.TASK, name=entity.name),
            concurrency=draft.map.concurrency,
            min_success_ratio=draft.map.min_success_ratio,
        )
    elif draft.branch is not None:
        fields["branch"] = _branch_spec(draft.branch)
        # What the cases and conditions read, said explicitly: the branch waits for it.
        for node_id in _dependencies(draft):
            if node_id not in upstream:
                upstream.append(node_id)
    return Node(id=draft.id, kind=draft.kind, inputs=draft.inputs, upstream=upstream, **fields)


def _branch_spec(branch: BranchDraft) -> Branch:
    return Branch(
        cases=[
            BranchCase(condition=case.condition.to_spec(), then=_node_spec(case.node))
            for case in branch.cases
        ],
        otherwise=_node_spec(branch.otherwise) if branch.otherwise is not None else None,
        fail_message=branch.fail_message,
    )


@overload
def workflow(fn: Callable[P, R], /) -> Workflow[P, R]: ...


@overload
def workflow(
    *, failure_policy: FailurePolicy = FailurePolicy.FAIL_IMMEDIATELY
) -> Callable[[Callable[P, R]], Workflow[P, R]]: ...


def workflow(
    fn: Callable[P, R] | None = None,
    /,
    *,
    failure_policy: FailurePolicy = FailurePolicy.FAIL_IMMEDIATELY,
) -> Workflow[P, R] | Callable[[Callable[P, R]], Workflow[P, R]]:
    """Make a typed function a workflow: ``@workflow`` or ``@workflow(failure_policy=...)``.

    The function runs once, now, on promises: inside it, call tasks and workflows
    with keyword arguments, branch with ``conditional``, map with ``map_task``,
    and return the outputs (a promise, a tuple of promises, or None).

    Raises:
        DefinitionError: at decoration, for a bad annotation, a bad call or binding,
            or a result that does not fit the declared outputs; the message names the
            workflow, the file and line, and the node or input at fault.
    """

    def decorate(f: Callable[P, R]) -> Workflow[P, R]:
        return Workflow(f, failure_policy=failure_policy)

    if fn is not None:
        return decorate(fn)
    return decorate
