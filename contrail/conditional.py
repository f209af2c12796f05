"""``conditional``: a branch node, whose first case that holds runs.

Inside a ``@workflow``::

    result = (
        conditional("size")
        .if_(n == 3).then(small(x=n))
        .elif_((n > 5) & (n < 10)).then(medium(x=n))
        .else_().then(large(x=n))          # or .else_().fail("n is out of range")
    )

Each ``then`` takes exactly one call of a task, workflow or map, made inside
it; every case gives the same outputs, which are the branch's outputs.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from contrail.promise import (
    BranchCaseDraft,
    BranchDraft,
    Expression,
    NodeDraft,
    NodeOutputs,
    NodeRef,
    Promise,
    as_condition,
)
from contrail.task import COMPILING, DefinitionError, OutputStyle
from contrail.workflow import WorkflowBuilder
from shared.literals import can_assign, render
from shared.specs import NodeKind

T = TypeVar("T")


class Conditional:
    """A branch being defined; start it with ``if_``. Made by ``conditional(name)``."""

    def __init__(self, name: str) -> None:
        """Open a conditional in the workflow being compiled.

        Raises:
            DefinitionError: outside a ``@workflow``'s function, or without a name.
        """
        if not isinstance(name, str) or not name:
            raise DefinitionError("conditional() takes a name, e.g. conditional('size')")
        if not COMPILING or not isinstance(COMPILING[-1], WorkflowBuilder):
            raise DefinitionError(
                f"conditional('{name}') is used inside a @workflow's function; to branch in "
                "plain Python code, use if"
            )
        self._builder: WorkflowBuilder = COMPILING[-1]
        self.name = name
        self._draft = NodeDraft(
            id=self._builder.next_id(),
            kind=NodeKind.BRANCH,
            outputs={},
            branch=BranchDraft(name=name),
        )
        self._style: OutputStyle | None = None
        self._expected = "if_"
        self._builder.open_conditionals.append(name)

    def _where(self) -> str:
        return f"{self._builder.where()}: conditional '{self.name}'"

    def _step(self, step: str, *expected: str) -> None:
        if step not in expected:
            raise DefinitionError(
                f"{self._where()}: .{step}() can't come here; expected .{expected[0]}()"
            )

    def if_(self, condition: object) -> _Then:
        """The first case: ``.if_(x > 3).then(task(x=x))``.

        Raises:
            DefinitionError: the condition is not a comparison of promises (or a bool promise).
        """
        self._step(self._expected, "if_")
        return self._open_case(condition)

    def _open_case(self, condition: object) -> _Then:
        expression = as_condition(condition, self._where())
        self._expected = "then"
        self._builder.start_capture()
        return _Then(self, expression)

    def _case_node(self, result: object) -> NodeDraft:
        """The one node made inside ``then(...)``, checked against what it returned."""
        self._step(self._expected, "then")
        made = self._builder.end_capture()
        where = self._where()
        if not made:
            raise DefinitionError(
                f"{where}: then() takes a call of a task or workflow made inside it, "
                f"e.g. .then(t(x=...)); got {result!r}"
            )
        if len(made) > 1:
            raise DefinitionError(
                f"{where}: a case is a single call, but {', '.join(n.describe() for n in made)} "
                "were made inside then(); compute their inputs before conditional()"
            )
        node = made[0]
        result_node = (
            result.ref.node if isinstance(result, Promise | NodeOutputs | NodeRef) else None
        )
        if result_node is not node:
            raise DefinitionError(
                f"{where}: then() takes the result of the call made inside it, got {result!r}"
            )
        style = (
            OutputStyle.SINGLE
            if isinstance(result, Promise)
            else OutputStyle.TUPLE
            if isinstance(result, NodeOutputs)
            else OutputStyle.NONE
        )
        if self._style is None:
            self._style = style
            self._draft.outputs = dict(node.outputs)
        else:
            expected = self._draft.outputs
            if list(node.outputs) != list(expected):
                raise DefinitionError(
                    f"{where}: every case gives the same outputs; {node.describe()} gives "
                    f"({', '.join(node.outputs) or 'none'}), the first case gives "
                    f"({', '.join(expected) or 'none'})"
                )
            for name, slot in node.outputs.items():
                if not can_assign(slot.type, expected[name].type):
                    raise DefinitionError(
                        f"{where}: output '{name}' of {node.describe()} is "
                        f"{render(slot.type)}, the first case's is {render(expected[name].type)}"
                    )
        return node

    def _add_case(self, expression: Expression, result: object) -> None:
        node = self._case_node(result)
        assert self._draft.branch is not None
        self._draft.branch.cases.append(BranchCaseDraft(condition=expression, node=node))
        self._expected = "elif_"

    def _elif(self, condition: object) -> _Then:
        self._step(self._expected, "elif_", "else_")
        return self._open_case(condition)

    def _else(self) -> None:
        self._step(self._expected, "else_", "elif_")

    def _finish(self, otherwise: NodeDraft | None, fail_message: str | None) -> Any:
        assert self._draft.branch is not None
        self._draft.branch.otherwise = otherwise
        self._draft.branch.fail_message = fail_message
        self._expected = "done"
        self._builder.open_conditionals.remove(self.name)
        self._builder.add(self._draft)
        return self._builder.promises_of(self._draft, self._style or OutputStyle.NONE)

    def __repr__(self) -> str:
        return f"conditional({self.name!r})"


class _Then:
    """After ``if_``/``elif_``: the case's ``then``."""

    def __init__(self, conditional: Conditional, expression: Expression) -> None:
        self._conditional = conditional
        self._expression = expression

    def then(self, result: T) -> _Cases[T]:
        """What runs when the condition holds: one call of a task, workflow or map.

        Raises:
            DefinitionError: not exactly one call was made inside ``then(...)``, or its
                outputs differ from the first case's.
        """
        self._conditional._add_case(self._expression, result)
        return _Cases(self._conditional)


class _Cases(Generic[T]):
    """After a case: another case (``elif_``) or the end (``else_``)."""

    def __init__(self, conditional: Conditional) -> None:
        self._conditional = conditional

    def elif_(self, condition: object) -> _ElifThen[T]:
        """Another case, tried when the ones before do not hold.

        Raises:
            DefinitionError: the condition is not a comparison of promises.
        """
        then = self._conditional._elif(condition)
        return _ElifThen(then)

    def else_(self) -> _Else[T]:
        """What happens when no case holds: ``.then(call)`` or ``.fail(message)``."""
        self._conditional._else()
        return _Else(self._conditional)


class _ElifThen(Generic[T]):
    def __init__(self, then: _Then) -> None:
        self._then = then

    def then(self, result: T) -> _Cases[T]:
        """What runs when this case holds: one call of a task, workflow or map.

        Raises:
            DefinitionError: not exactly one call was made inside ``then(...)``, or its
                outputs differ from the first case's.
        """
        return self._then.then(result)


class _Else(Generic[T]):
    def __init__(self, conditional: Conditional) -> None:
        self._conditional = conditional
        conditional._builder.start_capture()
        conditional._expected = "then"

    def then(self, result: T) -> T:
        """Run this call when no case holds; the branch's outputs (as promises).

        Raises:
            DefinitionError: not exactly one call was made inside ``then(...)``, or its
                outputs differ from the cases'.
        """
        node = self._conditional._case_node(result)
        return self._conditional._finish(node, None)  # type: ignore[no-any-return]

    def fail(self, message: str) -> T:
        """Fail the execution with ``message`` when no case holds; the branch's outputs.

        Raises:
            DefinitionError: a call was made inside ``fail(...)``, or no message.
        """
        made = self._conditional._builder.end_capture()
        if made:
            raise DefinitionError(
                f"{self._conditional._where()}: fail() takes a message, not a call "
                f"({', '.join(n.describe() for n in made)})"
            )
        if not isinstance(message, str) or not message:
            raise DefinitionError(
                f"{self._conditional._where()}: fail() takes a message for the failure"
            )
        return self._conditional._finish(None, message)  # type: ignore[no-any-return]


def conditional(name: str) -> Conditional:
    """Start a branch node in the workflow being defined (see the module's docstring).

    Raises:
        DefinitionError: outside a ``@workflow``'s function; and, later, for a case
            that is not one call, outputs that differ between cases, or a conditional
            left without ``else_()``.
    """
    return Conditional(name)
