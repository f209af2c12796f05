"""The workflow compiler: from a submitted ``WorkflowSpec`` to the ``WorkflowClosure`` it runs as.

Compiling checks a workflow against the tasks and the (already registered)
sub-workflows it references, and produces its closure: the workflow with every
reference resolved and its nodes in topological order, plus every sub-workflow
and task it uses. It is pure: the registry asks ``direct_references`` what to
fetch, fetches it, and passes it in.

Nodes inside a branch share the workflow's namespace of node ids but are not
nodes of its graph: they run as part of their branch node, which waits for
everything its conditions and its cases bind to. Only top-level nodes appear
in ``order`` and ``upstream``; nothing outside a branch can bind to a node
inside it (it binds to the branch's outputs instead).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.registry.domain.errors import CompilationFailed, CompileError, ErrorCode
from services.registry.domain.interfaces import interface_errors
from shared.identifiers import Identifier, ResourceType
from shared.literals import (
    BOOL,
    FLOAT,
    INT,
    NONE,
    STR,
    DictType,
    EnumType,
    ListType,
    LiteralType,
    SimpleType,
    UnionType,
    can_assign,
    is_optional,
    optional,
    render,
    value_errors,
)
from shared.specs import (
    Binding,
    Comparison,
    ComparisonOp,
    CompiledTask,
    CompiledWorkflow,
    Condition,
    Conjunction,
    DictBinding,
    EntityRef,
    InputBinding,
    ListBinding,
    LiteralBinding,
    Negation,
    Node,
    NodeKind,
    OutputBinding,
    TaskSpec,
    TypedInterface,
    WorkflowClosure,
    WorkflowSpec,
)

_EQUALITY = (ComparisonOp.EQ, ComparisonOp.NE)
_KIND_FIELDS = ("task", "workflow", "branch", "map")
_MAX_CAUSES = 3


def direct_references(
    spec: WorkflowSpec, project: str, domain: str, version: str
) -> tuple[set[Identifier], set[Identifier]]:
    """The tasks and the workflows that ``spec``'s nodes reference directly.

    Looks inside branches (every case and the otherwise) and maps. References
    are resolved with ``EntityRef.resolve`` against the workflow's own project,
    domain and version. A reference that can't be resolved into a valid
    identifier, or whose resource type doesn't fit where it stands (a workflow
    in a task node's ``task``), is left out: ``compile_workflow`` reports it.
    Never raises.
    """
    tasks: set[Identifier] = set()
    workflows: set[Identifier] = set()
    for top in spec.nodes:
        for node, _ in _walk(top, ""):
            for ref, expected in _references(node):
                identifier = _resolve(ref, project, domain, version).identifier
                if identifier is None or identifier.resource_type is not expected:
                    continue
                (tasks if expected is ResourceType.TASK else workflows).add(identifier)
    return tasks, workflows


def compile_workflow(
    identifier: Identifier,
    spec: WorkflowSpec,
    tasks: Mapping[Identifier, TaskSpec],
    sub_workflows: Mapping[Identifier, WorkflowClosure],
) -> WorkflowClosure:
    """Compile ``spec``, registered as ``identifier``, into its closure.

    ``tasks`` and ``sub_workflows`` hold (at least) the registered entities
    among ``direct_references(spec, ...)``; a reference missing from them is
    an ``unknown_reference`` error. The same arguments always give an
    identical closure (byte for byte under ``canonical_json``).

    Raises ``CompilationFailed`` with every error found when the workflow does
    not compile.
    """
    return _Compiler(identifier, spec, tasks, sub_workflows).run()


# --- the walk over nodes and references -------------------------------------------


def _walk(node: Node, path: str) -> Iterator[tuple[Node, str]]:
    """``node`` and every node nested in it (the cases of branches), with their paths."""
    yield node, path
    if node.branch is not None:
        for i, case in enumerate(node.branch.cases):
            yield from _walk(case.then, f"{path}.branch.cases[{i}].then")
        if node.branch.otherwise is not None:
            yield from _walk(node.branch.otherwise, f"{path}.branch.otherwise")


def _references(node: Node) -> list[tuple[EntityRef, ResourceType]]:
    """The references a node holds, with the resource type each must have."""
    refs: list[tuple[EntityRef, ResourceType]] = []
    if node.task is not None:
        refs.append((node.task, ResourceType.TASK))
    if node.workflow is not None:
        refs.append((node.workflow, ResourceType.WORKFLOW))
    if node.map is not None:
        refs.append((node.map.task, ResourceType.TASK))
    return refs


_RefKey = tuple[ResourceType, str, str | None, str | None, str | None]


def _ref_key(ref: EntityRef) -> _RefKey:
    return (ref.resource_type, ref.name, ref.project, ref.domain, ref.version)


@dataclass(frozen=True)
class _Resolution:
    identifier: Identifier | None
    problem: str = ""


def _resolve(ref: EntityRef, project: str, domain: str, version: str) -> _Resolution:
    try:
        return _Resolution(ref.resolve(project, domain, version))
    except ValidationError as exc:
        parts = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        spelled = [f"{part} {getattr(ref, part, None)!r}" for part in parts]
        return _Resolution(None, f"invalid {' and '.join(spelled) or 'identifier'}")


def _describe(identifier: Identifier) -> str:
    kind = identifier.resource_type.value.replace("_", " ")
    return (
        f"{kind} {identifier.project}/{identifier.domain}/{identifier.name}"
        f" version {identifier.version}"
    )


def _sort_key(identifier: Identifier) -> tuple[str, str, str, str, str]:
    return (
        identifier.project,
        identifier.domain,
        identifier.name,
        identifier.version,
        identifier.resource_type.value,
    )


# --- the compiler ---------------------------------------------------------------------


@dataclass
class _Top:
    """A top-level node: a vertex of the workflow's graph."""

    node: Node
    index: int
    deps: set[str] = field(default_factory=set)
    broken: bool = False


@dataclass(frozen=True)
class _Outputs:
    """What a node offers downstream: ``types`` is ``None`` when it is unknown (the node
    does not compile); ``unavailable`` says why a branch can't offer an output."""

    types: dict[str, LiteralType] | None
    unavailable: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted({*(self.types or {}), *self.unavailable})


@dataclass(frozen=True)
class _Site:
    """Where a binding stands: the input (or workflow output) it binds, and whose
    dependencies it adds to (``owner``, a top-level node; ``None`` for workflow outputs)."""

    node: str | None
    input: str | None
    owner: str | None
    path: str = ""
    label: str | None = None

    def at(self, suffix: str) -> _Site:
        return _Site(self.node, self.input, self.owner, self.path + suffix, self.label)

    def what(self) -> str:
        if self.label is not None:
            return self.label + self.path
        if self.node is None:
            return f"workflow output '{self.input}{self.path}'"
        if self.input is None:
            return f"node {self.node}"
        return f"input '{self.input}{self.path}' of node {self.node}"


@dataclass(frozen=True)
class _Operand:
    type: LiteralType
    literal: Any = None
    is_literal: bool = False


class _Compiler:
    def __init__(
        self,
        identifier: Identifier,
        spec: WorkflowSpec,
        tasks: Mapping[Identifier, TaskSpec],
        sub_workflows: Mapping[Identifier, WorkflowClosure],
    ) -> None:
        self.identifier = identifier
        self.spec = spec
        self.tasks = tasks
        self.sub_workflows = sub_workflows
        self.errors: list[CompileError] = []
        self.tops: dict[str, _Top] = {}
        self.inner_owner: dict[str, str] = {}
        self.outputs: dict[str, _Outputs] = {}
        # Caches by the fields of a reference: tuples hash and compare much faster than models.
        self.resolutions: dict[_RefKey, _Resolution] = {}
        self.resolved_refs: dict[_RefKey, EntityRef] = {}
        self.callees: dict[tuple[NodeKind, _RefKey], tuple[Identifier, TypedInterface] | None] = {}
        self.used_tasks: set[Identifier] = set()
        self.used_workflows: set[Identifier] = set()

    # -- driver --

    def run(self) -> WorkflowClosure:
        self._collect_ids()
        self.errors += interface_errors(self.spec.interface, f"workflow {self.spec.name}")
        for top in self.spec.nodes:
            self._check_node(top, top.id)
        self._check_workflow_outputs()
        order = self._check_graph()
        if self.errors:
            raise CompilationFailed(self.errors)
        assert order is not None
        return self._closure(order)

    def _error(
        self,
        code: ErrorCode,
        message: str,
        node: str | None = None,
        input: str | None = None,
        owner: str | None = None,
    ) -> None:
        self.errors.append(CompileError(code, message, node, input))
        if owner is not None:
            self.tops[owner].broken = True

    def _resolution(self, ref: EntityRef) -> _Resolution:
        key = _ref_key(ref)
        found = self.resolutions.get(key)
        if found is None:
            i = self.identifier
            found = self.resolutions[key] = _resolve(ref, i.project, i.domain, i.version)
        return found

    # -- namespace --

    def _collect_ids(self) -> None:
        places: dict[str, list[tuple[str, str]]] = {}
        for index, top in enumerate(self.spec.nodes):
            self.tops.setdefault(top.id, _Top(top, index))
            for node, path in _walk(top, f"nodes[{index}]"):
                places.setdefault(node.id, []).append((path, top.id))
                if node is not top:
                    self.inner_owner.setdefault(node.id, top.id)
        for node_id, where in places.items():
            if len(where) > 1:
                paths = ", ".join(path for path, _ in where)
                self._error(
                    ErrorCode.DUPLICATE_NODE_ID,
                    f"node id {node_id} is used {len(where)} times: {paths}",
                    node=node_id,
                )
                for _, owner in where:
                    self.tops[owner].broken = True

    # -- nodes --

    def _check_node(self, node: Node, owner: str) -> None:
        self._check_kind(node, owner)
        for upstream in node.upstream:
            self._check_upstream(node, upstream, owner)
        if node.kind is NodeKind.BRANCH:
            for name, binding in node.inputs.items():
                self._check_binding(binding, None, _Site(node.id, name, owner))
            self._check_branch(node, owner)
        else:
            self._check_call(node, owner)

    def _check_kind(self, node: Node, owner: str) -> None:
        expected = node.kind.value
        present = [name for name in _KIND_FIELDS if getattr(node, name) is not None]
        if expected not in present:
            self._error(
                ErrorCode.INVALID_NODE,
                f"node {node.id} is a {expected} node but has no '{expected}'",
                node=node.id,
                owner=owner,
            )
        extra = [name for name in present if name != expected]
        if extra:
            self._error(
                ErrorCode.INVALID_NODE,
                f"node {node.id} is a {expected} node but also sets "
                + ", ".join(f"'{name}'" for name in extra),
                node=node.id,
                owner=owner,
            )
        if node.kind is NodeKind.BRANCH and node.inputs:
            self._error(
                ErrorCode.INVALID_NODE,
                f"node {node.id} is a branch node, which binds no inputs itself; "
                "bind them on the nodes of its cases",
                node=node.id,
                input=sorted(node.inputs)[0],
                owner=owner,
            )

    def _check_upstream(self, node: Node, upstream: str, owner: str) -> None:
        if upstream in self.tops:
            self.tops[owner].deps.add(upstream)
            return
        enclosing = self.inner_owner.get(upstream)
        if enclosing is not None:
            message = (
                f"node {node.id} waits for node {upstream}, which runs inside branch "
                f"{enclosing}; wait for {enclosing} instead"
            )
        else:
            message = f"node {node.id} waits for node {upstream}, which does not exist"
        self._error(ErrorCode.UNKNOWN_NODE, message, node=node.id, owner=owner)

    def _callee_ref(self, node: Node) -> EntityRef | None:
        match node.kind:
            case NodeKind.TASK:
                return node.task
            case NodeKind.WORKFLOW:
                return node.workflow
            case NodeKind.MAP:
                return node.map.task if node.map is not None else None
        return None

    def _callee(self, node: Node) -> tuple[Identifier, TypedInterface] | None:
        """The task or sub-workflow a node calls, when it is known. Reports nothing."""
        ref = self._callee_ref(node)
        if ref is None:
            return None
        key = (node.kind, _ref_key(ref))
        if key not in self.callees:
            self.callees[key] = self._find_callee(node.kind, ref)
        return self.callees[key]

    def _find_callee(
        self, kind: NodeKind, ref: EntityRef
    ) -> tuple[Identifier, TypedInterface] | None:
        identifier = self._resolution(ref).identifier
        if identifier is None:
            return None
        if kind is NodeKind.WORKFLOW:
            closure = self.sub_workflows.get(identifier)
            if closure is None or identifier == self.identifier:
                return None
            return identifier, closure.primary.spec.interface
        task = self.tasks.get(identifier)
        if task is None or identifier.resource_type is not ResourceType.TASK:
            return None
        return identifier, task.interface

    def _check_call(self, node: Node, owner: str) -> None:
        """A task, sub-workflow or map node: its reference, its bindings, its unbound inputs."""
        interface: TypedInterface | None = None
        callee = ""
        ref = self._callee_ref(node)
        if ref is not None:
            interface, callee = self._check_reference(node, ref, owner)
        if node.kind is NodeKind.MAP and node.map is not None:
            self._check_map(node, interface, callee, owner)
        for name, binding in node.inputs.items():
            site = _Site(node.id, name, owner)
            param = interface.inputs.get(name) if interface is not None else None
            if interface is not None and param is None:
                declared = ", ".join(interface.inputs) or "no inputs"
                self._error(
                    ErrorCode.UNKNOWN_INPUT,
                    f"node {node.id} binds input '{name}', which {callee} does not declare "
                    f"(it takes {declared})",
                    node=node.id,
                    input=name,
                    owner=owner,
                )
            target: LiteralType | None = None
            if param is not None:
                target = ListType(item=param.type) if node.kind is NodeKind.MAP else param.type
            self._check_binding(binding, target, site)
        if interface is None:
            return
        for name, param in interface.inputs.items():
            if name not in node.inputs and param.required and param.default is None:
                expects = ListType(item=param.type) if node.kind is NodeKind.MAP else param.type
                self._error(
                    ErrorCode.UNBOUND_INPUT,
                    f"node {node.id} does not bind input '{name}' ({render(expects)}) of "
                    f"{callee}, which is required and has no default",
                    node=node.id,
                    input=name,
                    owner=owner,
                )

    def _check_reference(
        self, node: Node, ref: EntityRef, owner: str
    ) -> tuple[TypedInterface | None, str]:
        """Report what is wrong with a node's reference; the callee's interface when known."""
        resolution = self._resolution(ref)
        identifier = resolution.identifier
        if identifier is None:
            self._error(
                ErrorCode.UNKNOWN_REFERENCE,
                f"node {node.id} references {ref.resource_type.value} {ref.name} with an "
                f"{resolution.problem}",
                node=node.id,
                owner=owner,
            )
            return None, ""
        callee = _describe(identifier)
        expected = ResourceType.WORKFLOW if node.kind is NodeKind.WORKFLOW else ResourceType.TASK
        if identifier.resource_type is not expected:
            self._error(
                ErrorCode.INVALID_MAP if node.kind is NodeKind.MAP else ErrorCode.INVALID_NODE,
                f"node {node.id} is a {node.kind.value} node but references a {callee}; "
                f"it must reference a {expected.value}",
                node=node.id,
                owner=owner,
            )
            return None, callee
        if identifier == self.identifier:
            self._error(
                ErrorCode.CYCLE,
                f"node {node.id} runs workflow {identifier.name} inside itself "
                f"({identifier.name} -> {identifier.name})",
                node=node.id,
                owner=owner,
            )
            return None, callee
        found = self._callee(node)
        if found is None:
            self._error(
                ErrorCode.UNKNOWN_REFERENCE,
                f"node {node.id} references {callee}, which is not registered",
                node=node.id,
                owner=owner,
            )
            return None, callee
        (self.used_workflows if expected is ResourceType.WORKFLOW else self.used_tasks).add(
            identifier
        )
        return found[1], callee

    def _check_map(
        self, node: Node, interface: TypedInterface | None, callee: str, owner: str
    ) -> None:
        assert node.map is not None
        spec = node.map
        # pydantic enforces these bounds on parsed specs; checked again for constructed ones.
        if spec.concurrency is not None and spec.concurrency <= 0:
            self._error(
                ErrorCode.INVALID_MAP,
                f"map node {node.id} has concurrency {spec.concurrency}; it must be positive",
                node=node.id,
                owner=owner,
            )
        if not 0.0 <= spec.min_success_ratio <= 1.0:
            self._error(
                ErrorCode.INVALID_MAP,
                f"map node {node.id} has min_success_ratio {spec.min_success_ratio}; "
                "it must be between 0 and 1",
                node=node.id,
                owner=owner,
            )
        if interface is not None and not interface.inputs:
            self._error(
                ErrorCode.INVALID_MAP,
                f"map node {node.id} maps {callee}, which takes no inputs to map over",
                node=node.id,
                owner=owner,
            )

    # -- branches --

    def _check_branch(self, node: Node, owner: str) -> None:
        branch = node.branch
        if branch is None:
            return
        if branch.otherwise is not None and branch.fail_message is not None:
            self._error(
                ErrorCode.INVALID_BRANCH,
                f"branch {node.id} has both an otherwise and a fail_message; "
                "when no case holds it either runs the otherwise or fails, not both",
                node=node.id,
                owner=owner,
            )
        for i, case in enumerate(branch.cases):
            self._check_condition(case.condition, node, owner, f"case {i}")
            self._check_node(case.then, owner)
        if branch.otherwise is not None:
            self._check_node(branch.otherwise, owner)

    def _check_condition(self, condition: Condition, node: Node, owner: str, case: str) -> None:
        match condition:
            case Comparison():
                label = f"the condition of {case} of branch {node.id}"
                site = _Site(node.id, None, owner, label=label)
                left = self._operand(condition.left, site.at(" (left)"))
                right = self._operand(condition.right, site.at(" (right)"))
                if left is None or right is None:
                    return
                problem = _incomparable(left, right, condition.op)
                if problem is not None:
                    self._error(
                        ErrorCode.TYPE_MISMATCH,
                        f"{label} compares {render(left.type)} {condition.op.value} "
                        f"{render(right.type)}: {problem}",
                        node=node.id,
                        owner=owner,
                    )
            case Conjunction():
                self._check_condition(condition.left, node, owner, case)
                self._check_condition(condition.right, node, owner, case)
            case Negation():
                self._check_condition(condition.operand, node, owner, case)

    def _operand(self, binding: Binding, site: _Site) -> _Operand | None:
        match binding:
            case InputBinding() | OutputBinding():
                source, _ = self._source(binding, site)
                return _Operand(source) if source is not None else None
            case LiteralBinding():
                literal_type = _literal_scalar_type(binding.value)
                if literal_type is not None:
                    return _Operand(literal_type, binding.value, is_literal=True)
            case ListBinding() | DictBinding():
                self._check_binding(binding, None, site)
        self._error(
            ErrorCode.TYPE_MISMATCH,
            f"{site.what()} compares a {binding.kind}; only scalars (numbers, strings, "
            "booleans, enums, datetimes, durations and null) compare",
            node=site.node,
            owner=site.owner,
        )
        return None

    def _branch_outputs(self, node: Node) -> _Outputs:
        branch = node.branch
        if branch is None:
            return _Outputs(None)
        arms = [(f"case {i}", case.then) for i, case in enumerate(branch.cases)]
        if branch.otherwise is not None:
            arms.append(("otherwise", branch.otherwise))
        offers = [(label, arm, self._node_outputs(arm)) for label, arm in arms]
        known: list[tuple[str, Node, dict[str, LiteralType]]] = []
        for label, arm, outputs in offers:
            if outputs.types is None:
                return _Outputs(None)
            known.append((label, arm, outputs.types))
        names = sorted({name for _, _, types in known for name in types})
        if branch.otherwise is None and branch.fail_message is None:
            reason = (
                f"branch {node.id} has neither an otherwise nor a fail_message, so it is "
                "skipped when no case holds and has no outputs then"
            )
            return _Outputs({}, dict.fromkeys(names, reason))
        types: dict[str, LiteralType] = {}
        unavailable: dict[str, str] = {}
        for name in names:
            lacking = [f"{label} (node {arm.id})" for label, arm, t in known if name not in t]
            if lacking:
                unavailable[name] = (
                    f"output '{name}' of branch {node.id} is not produced by {', '.join(lacking)}"
                )
                continue
            candidates = [t[name] for _, _, t in known]
            common = next(
                (c for c in candidates if all(can_assign(other, c) for other in candidates)),
                None,
            )
            if common is None:
                spelled = ", ".join(f"{label} {render(t[name])}" for label, _, t in known)
                unavailable[name] = (
                    f"the cases of branch {node.id} give output '{name}' types that don't "
                    f"agree ({spelled})"
                )
            else:
                types[name] = common
        return _Outputs(types, unavailable)

    # -- outputs of nodes --

    def _node_outputs(self, node: Node) -> _Outputs:
        if node.kind is NodeKind.BRANCH:
            return self._branch_outputs(node)
        callee = self._callee(node)
        if callee is None:
            return _Outputs(None)
        outputs = callee[1].outputs
        if node.kind is NodeKind.MAP:
            assert node.map is not None
            # Items that fail leave a hole when the map may partly fail.
            partial = node.map.min_success_ratio < 1.0
            return _Outputs(
                {
                    name: ListType(
                        item=optional(v.type) if partial and not is_optional(v.type) else v.type
                    )
                    for name, v in outputs.items()
                }
            )
        return _Outputs({name: v.type for name, v in outputs.items()})

    def _top_outputs(self, node_id: str) -> _Outputs:
        found = self.outputs.get(node_id)
        if found is None:
            found = self.outputs[node_id] = self._node_outputs(self.tops[node_id].node)
        return found

    # -- bindings --

    def _check_binding(self, binding: Binding, target: LiteralType | None, site: _Site) -> None:
        """Check a binding against the type it must have (``None``: unknown, only resolve it)."""
        match binding:
            case InputBinding() | OutputBinding():
                source, described = self._source(binding, site)
                if source is not None and target is not None and not can_assign(source, target):
                    self._error(
                        ErrorCode.TYPE_MISMATCH,
                        f"{site.what()} expects {render(target)}, but {described} is "
                        f"{render(source)}",
                        node=site.node,
                        input=site.input,
                        owner=site.owner,
                    )
            case LiteralBinding():
                if target is None:
                    return
                problems = value_errors(target, binding.value)
                if problems:
                    self._error(
                        ErrorCode.TYPE_MISMATCH,
                        f"{site.what()} expects {render(target)}, but the literal bound to it "
                        f"is not one: {'; '.join(problems[:3])}",
                        node=site.node,
                        input=site.input,
                        owner=site.owner,
                    )
            case ListBinding():
                items = _list_items(target)
                self._check_collection(target, "list", items, site)
                item = _union_of(items)
                for i, value in enumerate(binding.items):
                    self._check_binding(value, item, site.at(f"[{i}]"))
            case DictBinding():
                values = _dict_values(target)
                self._check_collection(target, "dict", values, site)
                item = _union_of(values)
                for key, value in binding.items.items():
                    self._check_binding(value, item, site.at(f"[{key!r}]"))

    def _check_collection(
        self,
        target: LiteralType | None,
        kind: str,
        items: list[LiteralType],
        site: _Site,
    ) -> None:
        if target is not None and not items:
            self._error(
                ErrorCode.TYPE_MISMATCH,
                f"{site.what()} expects {render(target)}, but is bound to a {kind} of bindings",
                node=site.node,
                input=site.input,
                owner=site.owner,
            )

    def _source(
        self, binding: InputBinding | OutputBinding, site: _Site
    ) -> tuple[LiteralType | None, str]:
        """The type of what an input or output binding refers to, reporting what is unknown."""
        if isinstance(binding, InputBinding):
            param = self.spec.interface.inputs.get(binding.input)
            if param is None:
                declared = ", ".join(self.spec.interface.inputs) or "none"
                self._error(
                    ErrorCode.UNKNOWN_WORKFLOW_INPUT,
                    f"{site.what()} is bound to workflow input '{binding.input}', which the "
                    f"workflow does not declare (its inputs: {declared})",
                    node=site.node,
                    input=site.input,
                    owner=site.owner,
                )
                return None, ""
            return param.type, f"workflow input '{binding.input}'"
        node_id = binding.node
        described = f"output '{binding.output}' of node {node_id}"
        if node_id in self.tops:
            if site.owner is not None:
                self.tops[site.owner].deps.add(node_id)
            outputs = self._top_outputs(node_id)
            if outputs.types is None:
                return None, described
            found = outputs.types.get(binding.output)
            if found is not None:
                return found, described
            reason = outputs.unavailable.get(binding.output)
            if reason is not None:
                self._error(
                    ErrorCode.INVALID_BRANCH,
                    f"{site.what()} is bound to {described}, but {reason}",
                    node=site.node,
                    input=site.input,
                    owner=site.owner,
                )
            else:
                offered = ", ".join(outputs.names()) or "none"
                self._error(
                    ErrorCode.UNKNOWN_OUTPUT,
                    f"{site.what()} is bound to {described}, which node {node_id} does not "
                    f"have (its outputs: {offered})",
                    node=site.node,
                    input=site.input,
                    owner=site.owner,
                )
            return None, described
        enclosing = self.inner_owner.get(node_id)
        if enclosing is not None:
            message = (
                f"{site.what()} is bound to {described}, but node {node_id} runs inside "
                f"branch {enclosing} and can't be bound to; bind to the outputs of {enclosing}"
            )
        else:
            message = f"{site.what()} is bound to {described}, but there is no node {node_id}"
        self._error(
            ErrorCode.UNKNOWN_NODE, message, node=site.node, input=site.input, owner=site.owner
        )
        return None, described

    # -- workflow outputs --

    def _check_workflow_outputs(self) -> None:
        declared = self.spec.interface.outputs
        for name, binding in self.spec.outputs.items():
            site = _Site(None, name, None)
            variable = declared.get(name)
            if variable is None:
                self._error(
                    ErrorCode.UNBOUND_INPUT,
                    f"workflow output '{name}' is bound in outputs but not declared in the "
                    "interface",
                    input=name,
                )
            self._check_binding(binding, variable.type if variable else None, site)
        for name, variable in declared.items():
            if name not in self.spec.outputs:
                self._error(
                    ErrorCode.UNBOUND_INPUT,
                    f"workflow output '{name}' ({render(variable.type)}) is declared in the "
                    "interface but not bound in outputs",
                    input=name,
                )

    # -- the graph --

    def _check_graph(self) -> list[str] | None:
        """Report cycles and unreachable nodes; the topological order when there is one."""
        ids = list(self.tops)
        dependents: dict[str, list[str]] = {node_id: [] for node_id in ids}
        for node_id in ids:
            for dep in sorted(self.tops[node_id].deps, key=self._index):
                dependents[dep].append(node_id)
        order = self._order(dependents)
        if order is not None and not self.errors:
            return order
        cyclic: set[str] = set()
        if order is None:
            for component in _components(ids, self.tops):
                if len(component) > 1 or component[0] in self.tops[component[0]].deps:
                    cyclic.update(component)
                    self._report_cycle(component, dependents)
        self._report_unreachable(ids, dependents, cyclic)
        return order

    def _index(self, node_id: str) -> int:
        return self.tops[node_id].index

    def _order(self, dependents: Mapping[str, list[str]]) -> list[str] | None:
        """Kahn's algorithm, taking ready nodes in declaration order; ``None`` on a cycle."""
        waiting = {node_id: len(top.deps) for node_id, top in self.tops.items()}
        ready = [(top.index, node_id) for node_id, top in self.tops.items() if not top.deps]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, node_id = heapq.heappop(ready)
            order.append(node_id)
            for dependent in dependents[node_id]:
                waiting[dependent] -= 1
                if not waiting[dependent]:
                    heapq.heappush(ready, (self.tops[dependent].index, dependent))
        return order if len(order) == len(self.tops) else None

    def _report_cycle(self, component: list[str], dependents: Mapping[str, list[str]]) -> None:
        members = set(component)
        start = min(component, key=self._index)
        # Shortest way around, in the direction data flows.
        came_from: dict[str, str] = {}
        queue = deque([start])
        path: list[str] = [start, start]
        while queue:
            current = queue.popleft()
            if start in dependents[current]:
                path = [start]
                while current != start:
                    path.insert(1, current)
                    current = came_from[current]
                path.append(start)
                break
            for nxt in dependents[current]:
                if nxt in members and nxt not in came_from and nxt != start:
                    came_from[nxt] = current
                    queue.append(nxt)
        others = sorted(members - set(path), key=self._index)
        also = ""
        if others:
            verb = "is" if len(others) == 1 else "are"
            also = f"; {', '.join(others)} {verb} on a cycle with them too"
        self._error(
            ErrorCode.CYCLE,
            f"nodes {' -> '.join(path)} form a cycle{also}",
            node=start,
        )

    def _report_unreachable(
        self, ids: list[str], dependents: Mapping[str, list[str]], cyclic: set[str]
    ) -> None:
        """One ``unreachable_node`` for each node that has no fault of its own but waits,
        directly or not, for a node that does or for a cycle."""
        bad = [i for i in ids if self.tops[i].broken or i in cyclic]
        causes: dict[str, list[str]] = {}
        for origin in bad:
            seen = {origin}
            queue = deque(dependents[origin])
            while queue:
                current = queue.popleft()
                if current in seen:
                    continue
                seen.add(current)
                # A node with faults of its own, or on a cycle, is reported for those.
                if current not in cyclic and not self.tops[current].broken:
                    causes.setdefault(current, []).append(origin)
                queue.extend(dependents[current])
        for node_id in ids:
            origins = causes.get(node_id)
            if not origins:
                continue
            named = [
                f"{o} (which is on a cycle)" if o in cyclic else f"{o} (which does not compile)"
                for o in origins[:_MAX_CAUSES]
            ]
            more = f" and {len(origins) - _MAX_CAUSES} more" if len(origins) > _MAX_CAUSES else ""
            self._error(
                ErrorCode.UNREACHABLE_NODE,
                f"node {node_id} can never run: it depends on {', '.join(named)}{more}",
                node=node_id,
            )

    # -- the closure --

    def _closure(self, order: list[str]) -> WorkflowClosure:
        nodes = [self._resolved_node(node) for node in self.spec.nodes]
        primary = CompiledWorkflow(
            identifier=self.identifier,
            spec=self.spec.model_copy(update={"nodes": nodes}),
            order=order,
            upstream={node_id: sorted(self.tops[node_id].deps) for node_id in self.tops},
        )
        sub_workflows: list[CompiledWorkflow] = []
        seen: set[Identifier] = set()
        task_specs: dict[Identifier, TaskSpec] = {i: self.tasks[i] for i in self.used_tasks}
        for identifier in sorted(self.used_workflows, key=_sort_key):
            closure = self.sub_workflows[identifier]
            # A closure lists each sub-workflow after what it references; keep that.
            for compiled in [*closure.sub_workflows, closure.primary]:
                if compiled.identifier not in seen:
                    seen.add(compiled.identifier)
                    sub_workflows.append(compiled)
            for task in closure.tasks:
                task_specs.setdefault(task.identifier, task.spec)
        tasks = [
            CompiledTask(identifier=i, spec=task_specs[i])
            for i in sorted(task_specs, key=_sort_key)
        ]
        return WorkflowClosure(primary=primary, sub_workflows=sub_workflows, tasks=tasks)

    def _resolved_ref(self, ref: EntityRef) -> EntityRef:
        key = _ref_key(ref)
        resolved = self.resolved_refs.get(key)
        if resolved is None:
            identifier = self._resolution(ref).identifier
            assert identifier is not None
            resolved = self.resolved_refs[key] = ref.model_copy(
                update={
                    "project": identifier.project,
                    "domain": identifier.domain,
                    "version": identifier.version,
                }
            )
        return resolved

    def _resolved_node(self, node: Node) -> Node:
        update: dict[str, Any] = {}
        if node.task is not None:
            update["task"] = self._resolved_ref(node.task)
        if node.workflow is not None:
            update["workflow"] = self._resolved_ref(node.workflow)
        if node.map is not None:
            update["map"] = node.map.model_copy(update={"task": self._resolved_ref(node.map.task)})
        if node.branch is not None:
            branch = node.branch
            cases = [
                case.model_copy(update={"then": self._resolved_node(case.then)})
                for case in branch.cases
            ]
            otherwise = (
                self._resolved_node(branch.otherwise) if branch.otherwise is not None else None
            )
            update["branch"] = branch.model_copy(update={"cases": cases, "otherwise": otherwise})
        return node.model_copy(update=update) if update else node


# --- types ----------------------------------------------------------------------------


def _members(target: LiteralType | None) -> tuple[LiteralType, ...]:
    """``target`` itself, or the variants of a union."""
    if target is None:
        return ()
    return target.variants if isinstance(target, UnionType) else (target,)


def _list_items(target: LiteralType | None) -> list[LiteralType]:
    """The item types of the list types that ``target`` accepts."""
    return [t.item for t in _members(target) if isinstance(t, ListType)]


def _dict_values(target: LiteralType | None) -> list[LiteralType]:
    """The value types of the dict types that ``target`` accepts."""
    return [t.value for t in _members(target) if isinstance(t, DictType)]


def _components(ids: list[str], tops: Mapping[str, _Top]) -> list[list[str]]:
    """Strongly connected components of the dependency graph (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def edges(node_id: str) -> Iterator[str]:
        return iter(sorted(tops[node_id].deps, key=lambda d: tops[d].index))

    for root in ids:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, edges(root))]
        while work:
            current, pending = work[-1]
            for nxt in pending:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, edges(nxt)))
                    break
                if nxt in on_stack:
                    low[current] = min(low[current], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[current])
                if low[current] == index[current]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == current:
                            break
                    components.append(component)
    return components


def _union_of(types: list[LiteralType]) -> LiteralType | None:
    if not types:
        return None
    if len(types) == 1:
        return types[0]
    return UnionType(variants=tuple(types))


def _literal_scalar_type(value: Any) -> LiteralType | None:
    match value:
        case None:
            return NONE
        case bool():
            return BOOL
        case int():
            return INT
        case float():
            return FLOAT
        case str():
            return STR
    return None


def _comparison_class(t: LiteralType) -> tuple[str, LiteralType] | None:
    """Which values a type compares with (ignoring ``None`` in an optional)."""
    if isinstance(t, UnionType):
        non_none = [v for v in t.variants if v != NONE]
        if len(non_none) != 1:
            return None
        t = non_none[0]
    if isinstance(t, EnumType):
        return "enum", t
    if isinstance(t, SimpleType):
        if t.kind in ("int", "float"):
            return "number", t
        if t.kind in ("str", "bool", "datetime", "duration"):
            return t.kind, t
    return None


def _incomparable(left: _Operand, right: _Operand, op: ComparisonOp) -> str | None:
    """Why ``left op right`` can't be evaluated; ``None`` when it can."""
    if op in _EQUALITY and NONE in (left.type, right.type):
        return None
    lc, rc = _comparison_class(left.type), _comparison_class(right.type)
    if lc is None or rc is None:
        return (
            "only numbers, strings, booleans, enums, datetimes and durations compare "
            "(and anything with null, by == or !=)"
        )
    classes = {lc[0], rc[0]}
    if "enum" in classes and classes <= {"enum", "str"}:
        if op not in _EQUALITY:
            return "enums compare only by == and !="
        for operand, other in ((left, rc[1]), (right, lc[1])):
            if (
                isinstance(other, EnumType)
                and operand.is_literal
                and operand.literal not in other.values
            ):
                return f"{operand.literal!r} is not a value of {render(other)}"
        return None
    if lc[0] != rc[0]:
        return "they don't compare"
    if lc[0] == "bool" and op not in _EQUALITY:
        return "booleans compare only by == and !="
    return None
