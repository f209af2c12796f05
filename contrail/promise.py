"""Promises: what a workflow's function handles while ``@workflow`` compiles it.

A workflow input, or an output of a node, is a ``Promise``: a typed reference
that becomes a binding in the spec. Comparing promises makes an ``Expression``
(a condition of ``conditional``); ``>>`` orders two nodes explicitly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from contrail.errors import ExecutionFailed
from contrail.task import DefinitionError, OutputSlot
from contrail.types import TypeEngineError, to_literal
from shared.literals import BOOL, NONE, LiteralType, SimpleType, UnionType, can_assign, render
from shared.specs import (
    Binding,
    Comparison,
    ComparisonOp,
    Condition,
    Conjunction,
    InputBinding,
    LiteralBinding,
    Negation,
    NodeKind,
    OutputBinding,
)

if TYPE_CHECKING:
    from contrail.task import Callee

T = TypeVar("T")


# --- nodes while a workflow compiles ----------------------------------------------


@dataclass
class BranchCaseDraft:
    """One ``if_``/``elif_`` case: a condition and the node that runs when it holds."""

    condition: Expression
    node: NodeDraft


@dataclass
class BranchDraft:
    """A ``conditional``: its cases, and what happens when none holds."""

    name: str
    cases: list[BranchCaseDraft] = field(default_factory=list)
    otherwise: NodeDraft | None = None
    fail_message: str | None = None


@dataclass
class MapDraft:
    """How a map node runs its task."""

    concurrency: int | None
    min_success_ratio: float


@dataclass(eq=False)
class NodeDraft:
    """A node as the workflow's function builds it; ``>>`` can still add upstream nodes."""

    id: str
    kind: NodeKind
    outputs: dict[str, OutputSlot]
    entity: Callee | None = None
    inputs: dict[str, Binding] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    branch: BranchDraft | None = None
    map: MapDraft | None = None
    in_branch: bool = False

    @property
    def index(self) -> int:
        """The node's place in call order (``n3`` is 3)."""
        return int(self.id[1:])

    def describe(self) -> str:
        """``n3 (workflows.example.say_hello)``: how errors name a node."""
        if self.entity is not None:
            return f"{self.id} ({self.entity.name})"
        if self.branch is not None:
            return f"{self.id} (conditional '{self.branch.name}')"
        return self.id


# --- promises -----------------------------------------------------------------


def _node_of(value: object, what: str) -> NodeDraft:
    if isinstance(value, Promise | NodeOutputs | NodeRef):
        node = value.ref.node
        if node is not None:
            return node
    raise DefinitionError(
        f"{what}: only the results of task and workflow calls belong to nodes (a workflow "
        f"input does not), got {value!r}"
    )


def _order(upstream: object, downstream: object) -> None:
    before = _node_of(upstream, "a >> b")
    after = _node_of(downstream, "a >> b")
    if before is after:
        raise DefinitionError(f"node {before.describe()} can't run after itself")
    if before.in_branch or after.in_branch:
        raise DefinitionError(
            f"'>>' can't order {after.describe()} after {before.describe()}: a node inside a "
            "conditional's case runs only when its case holds; order the conditional instead"
        )
    if before.id not in after.upstream:
        after.upstream.append(before.id)


class NodeRef:
    """A node of the workflow being compiled: ``a.ref >> b.ref`` orders two nodes.

    A call of a task that returns nothing gives a ``NodeRef``.
    """

    def __init__(self, node: NodeDraft | None) -> None:
        self.node = node

    @property
    def ref(self) -> NodeRef:
        """Itself."""
        return self

    @property
    def id(self) -> str:
        """The node's id (``n0``, ``n1``, ...)."""
        if self.node is None:
            raise DefinitionError("a workflow input belongs to no node")
        return self.node.id

    def __rshift__(self, other: T) -> T:
        """``a >> b``: ``b`` runs after ``a`` even without a data dependency; returns ``b``."""
        _order(self, other)
        return other

    def __bool__(self) -> bool:
        raise DefinitionError(
            "a node's result has no truth value while the workflow compiles; "
            "use conditional() to branch"
        )

    def __repr__(self) -> str:
        return f"NodeRef({self.node.describe() if self.node else 'input'})"


def node_of(value: object) -> NodeRef:
    """The node behind the result of a call, for ordering in typed code.

    ``node_of(a) >> node_of(b)`` is ``a >> b``: ``b``'s node runs after ``a``'s.
    Useful where a call's declared type (``None``, ``int``...) hides its promise.

    Raises:
        DefinitionError: ``value`` is not the result of a call in the workflow being defined.
    """
    return NodeRef(_node_of(value, "node_of()"))


class Promise:
    """A typed value that exists only when the workflow runs: an input or a node's output.

    Pass it to tasks, compare it (``p == 3``, ``p > x``) for ``conditional``, or
    return it from the workflow. It has no value at compile time: ``bool(p)``,
    ``if p:`` and arithmetic are refused.
    """

    def __init__(
        self,
        binding: InputBinding | OutputBinding,
        slot_type: LiteralType,
        annotation: Any,
        node: NodeDraft | None,
        owner: object,
    ) -> None:
        self.binding = binding
        self.type = slot_type
        self.annotation = annotation
        self.node = node
        self.owner = owner

    @property
    def ref(self) -> NodeRef:
        """The node that produces this value, for ``>>``."""
        return NodeRef(self.node)

    def describe(self) -> str:
        """``input 'name'`` or ``output 'o0' of n1 (module.task)``."""
        if isinstance(self.binding, InputBinding):
            return f"input '{self.binding.input}'"
        node = self.node.describe() if self.node else self.binding.node
        return f"output '{self.binding.output}' of {node}"

    def __rshift__(self, other: T) -> T:
        """``a >> b``: ``b``'s node runs after ``a``'s; returns ``b``."""
        _order(self, other)
        return other

    # Comparisons build conditions, as in flytekit.
    def __eq__(self, other: object) -> Expression:  # type: ignore[override]
        return ComparisonExpr.of(self, ComparisonOp.EQ, other)

    def __ne__(self, other: object) -> Expression:  # type: ignore[override]
        return ComparisonExpr.of(self, ComparisonOp.NE, other)

    def __lt__(self, other: object) -> Expression:
        return ComparisonExpr.of(self, ComparisonOp.LT, other)

    def __le__(self, other: object) -> Expression:
        return ComparisonExpr.of(self, ComparisonOp.LE, other)

    def __gt__(self, other: object) -> Expression:
        return ComparisonExpr.of(self, ComparisonOp.GT, other)

    def __ge__(self, other: object) -> Expression:
        return ComparisonExpr.of(self, ComparisonOp.GE, other)

    __hash__ = object.__hash__

    def is_true(self) -> Expression:
        """The condition ``p == True`` (for a bool)."""
        return ComparisonExpr.of(self, ComparisonOp.EQ, True)

    def is_false(self) -> Expression:
        """The condition ``p == False`` (for a bool)."""
        return ComparisonExpr.of(self, ComparisonOp.EQ, False)

    def is_none(self) -> Expression:
        """The condition ``p == None`` (for an optional value)."""
        return ComparisonExpr.of(self, ComparisonOp.EQ, None)

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{self.describe()} has no value while the workflow compiles, so it can't be used "
            "in 'if', 'and', 'or' or 'not'; branch with conditional('name').if_(...)"
        )

    def __iter__(self) -> Iterator[Any]:
        raise DefinitionError(
            f"{self.describe()} is one value with no items while the workflow compiles; "
            "to run a task per item use map_task"
        )

    def __repr__(self) -> str:
        return f"Promise({self.describe()}: {render(self.type)})"


class NodeOutputs(tuple[Promise, ...]):
    """The outputs of a node with several: unpack them, index them, or read them by name."""

    _names: tuple[str, ...]
    _node: NodeDraft | None

    def __new__(
        cls, promises: tuple[Promise, ...], names: tuple[str, ...], node: NodeDraft | None
    ) -> NodeOutputs:
        self = super().__new__(cls, promises)
        self._names = names
        self._node = node
        return self

    def __getattr__(self, name: str) -> Promise:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[self._names.index(name)]
        except ValueError:
            raise AttributeError(
                f"the node has no output '{name}' (outputs: {', '.join(self._names)})"
            ) from None

    @property
    def ref(self) -> NodeRef:
        """The node that produces these values, for ``>>``."""
        return NodeRef(self._node)

    def __rshift__(self, other: T) -> T:
        """``a >> b``: ``b``'s node runs after ``a``'s; returns ``b``."""
        _order(self, other)
        return other


# --- conditions ---------------------------------------------------------------

_ORDERED_KINDS = ("int", "float", "str", "datetime", "duration")


class Expression:
    """A condition over promises: comparisons, combined with ``&``, ``|`` and ``~``."""

    def __and__(self, other: object) -> Expression:
        return ConjunctionExpr("and", self, _expression(other, "&"))

    def __or__(self, other: object) -> Expression:
        return ConjunctionExpr("or", self, _expression(other, "|"))

    def __invert__(self) -> Expression:
        return NegationExpr(self)

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"the condition {self} has no value while the workflow compiles, so it can't be "
            "used in 'if', 'and', 'or' or 'not'; branch with conditional('name').if_(...) and "
            "combine conditions with &, | and ~"
        )

    def to_spec(self) -> Condition:
        """The condition as the spec writes it."""
        raise NotImplementedError

    def evaluate(self, resolve: Callable[[Binding], Any]) -> bool:
        """Whether the condition holds, given the literal of each binding."""
        raise NotImplementedError


def _expression(value: object, op: str) -> Expression:
    if isinstance(value, Expression):
        return value
    raise DefinitionError(
        f"'{op}' combines conditions such as (p > 1) {op} (p < 5); got {value!r} "
        "(mind the parentheses: & and | bind tighter than comparisons)"
    )


@dataclass(frozen=True)
class _Operand:
    binding: Binding
    type: LiteralType
    text: str


def _operand(value: object, other_type: LiteralType, other_annotation: Any) -> _Operand:
    if isinstance(value, Promise):
        return _Operand(value.binding, value.type, value.describe())
    if isinstance(value, NodeOutputs | NodeRef | Expression):
        raise DefinitionError(f"can't compare with {value!r}: compare one output")
    try:
        literal = to_literal(value, other_annotation)
    except TypeEngineError as error:
        raise DefinitionError(
            f"can't compare a {render(other_type)} with {value!r}: {error}"
        ) from None
    return _Operand(LiteralBinding(value=literal), other_type, repr(value))


def _base(t: LiteralType) -> LiteralType:
    if isinstance(t, UnionType):
        variants = [v for v in t.variants if v != NONE]
        if len(variants) == 1:
            return variants[0]
    return t


class ComparisonExpr(Expression):
    """``left op right``, where at least one side is a promise."""

    def __init__(self, left: _Operand, op: ComparisonOp, right: _Operand) -> None:
        self.left, self.op, self.right = left, op, right

    @classmethod
    def of(cls, promise: Promise, op: ComparisonOp, other: object) -> ComparisonExpr:
        """Compare ``promise`` with another promise or a constant of its type.

        Raises:
            DefinitionError: the constant is not of the promise's type, the two
                types can't be compared, or an order is asked of an unordered type.
        """
        left = _operand(promise, promise.type, promise.annotation)
        right = _operand(other, promise.type, promise.annotation)
        if not (can_assign(left.type, right.type) or can_assign(right.type, left.type)):
            raise DefinitionError(
                f"can't compare {left.text} ({render(left.type)}) with {right.text} "
                f"({render(right.type)})"
            )
        if op not in (ComparisonOp.EQ, ComparisonOp.NE):
            for side in (left, right):
                base = _base(side.type)
                if not (isinstance(base, SimpleType) and base.kind in _ORDERED_KINDS):
                    raise DefinitionError(
                        f"'{op.value}' needs an ordered type (int, float, str, datetime, "
                        f"duration); {side.text} is {render(side.type)}"
                    )
        return cls(left, op, right)

    def to_spec(self) -> Condition:
        return Comparison(left=self.left.binding, op=self.op, right=self.right.binding)

    def evaluate(self, resolve: Callable[[Binding], Any]) -> bool:
        left = _comparable(resolve(self.left.binding), self.left.type)
        right = _comparable(resolve(self.right.binding), self.right.type)
        compare = _OPERATORS[self.op]
        try:
            return bool(compare(left, right))
        except TypeError:
            raise ExecutionFailed(
                f"can't evaluate {self}: {left!r} {self.op.value} {right!r}"
            ) from None

    def __str__(self) -> str:
        return f"({self.left.text} {self.op.value} {self.right.text})"


_OPERATORS: dict[ComparisonOp, Callable[[Any, Any], Any]] = {
    ComparisonOp.EQ: operator.eq,
    ComparisonOp.NE: operator.ne,
    ComparisonOp.LT: operator.lt,
    ComparisonOp.LE: operator.le,
    ComparisonOp.GT: operator.gt,
    ComparisonOp.GE: operator.ge,
}


def _comparable(literal: Any, t: LiteralType) -> Any:
    """The literal as a value that compares as its type does (datetimes as instants)."""
    base = _base(t)
    if isinstance(base, SimpleType) and base.kind == "datetime" and isinstance(literal, str):
        return datetime.fromisoformat(literal.replace("Z", "+00:00"))
    return literal


class ConjunctionExpr(Expression):
    """``a & b`` or ``a | b``."""

    def __init__(self, kind: str, left: Expression, right: Expression) -> None:
        self.kind, self.left, self.right = kind, left, right

    def to_spec(self) -> Condition:
        return Conjunction(
            kind="and" if self.kind == "and" else "or",
            left=self.left.to_spec(),
            right=self.right.to_spec(),
        )

    def evaluate(self, resolve: Callable[[Binding], Any]) -> bool:
        if self.kind == "and":
            return self.left.evaluate(resolve) and self.right.evaluate(resolve)
        return self.left.evaluate(resolve) or self.right.evaluate(resolve)

    def __str__(self) -> str:
        return f"({self.left} {'&' if self.kind == 'and' else '|'} {self.right})"


class NegationExpr(Expression):
    """``~a``."""

    def __init__(self, operand: Expression) -> None:
        self.operand = operand

    def to_spec(self) -> Condition:
        return Negation(operand=self.operand.to_spec())

    def evaluate(self, resolve: Callable[[Binding], Any]) -> bool:
        return not self.operand.evaluate(resolve)

    def __str__(self) -> str:
        return f"~{self.operand}"


def as_condition(value: object, where: str) -> Expression:
    """A condition from ``if_``'s argument: an ``Expression``, or a bool promise (``== True``).

    Raises:
        DefinitionError: anything else, e.g. a plain ``bool`` computed at compile time.
    """
    if isinstance(value, Expression):
        return value
    if isinstance(value, Promise) and _base(value.type) == BOOL:
        return value.is_true()
    raise DefinitionError(
        f"{where}: a condition compares a promise or a workflow input, such as x > 3 or "
        f"(x > 1) & (x < 5); got {value!r}"
    )
