"""Evaluating the conditions of branch nodes on literal values.

Comparisons follow the compiler's rules (``services.registry.domain.compiler``):
numbers (int and float together), strings, booleans, enums (as their string
values), datetimes and durations (seconds) compare; anything compares with
null by ``==`` and ``!=``. ``and``, ``or`` and ``not`` combine comparisons, and
``and``/``or`` short-circuit as in Python.

A datetime is an ISO 8601 string; it is compared as a point in time when the
type of either operand says datetime, or when both operands parse as ISO 8601
datetimes with a UTC offset.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.literals import LiteralType, SimpleType, UnionType
from shared.specs import Binding, Comparison, ComparisonOp, Condition, Conjunction, Negation

Operand = tuple[Any, LiteralType | None]
"""A resolved operand: its value, and its declared type when it is known."""

_ORDER: dict[ComparisonOp, Callable[[Any, Any], bool]] = {
    ComparisonOp.LT: operator.lt,
    ComparisonOp.LE: operator.le,
    ComparisonOp.GT: operator.gt,
    ComparisonOp.GE: operator.ge,
}


class ConditionError(Exception):
    """A comparison can't be evaluated on the values it got (e.g. ``null < 3``)."""


def evaluate(condition: Condition, operand: Callable[[Binding], Operand]) -> bool:
    """Whether ``condition`` holds; ``operand`` resolves each side of a comparison."""
    match condition:
        case Comparison():
            return compare(operand(condition.left), condition.op, operand(condition.right))
        case Conjunction(kind="and"):
            return evaluate(condition.left, operand) and evaluate(condition.right, operand)
        case Conjunction():
            return evaluate(condition.left, operand) or evaluate(condition.right, operand)
        case Negation():
            return not evaluate(condition.operand, operand)


def compare(left: Operand, op: ComparisonOp, right: Operand) -> bool:
    """``left op right`` on literal values."""
    a, b = _comparable(left, right)
    if op is ComparisonOp.EQ:
        return _equal(a, b)
    if op is ComparisonOp.NE:
        return not _equal(a, b)
    if a is None or b is None:
        raise ConditionError(
            f"can't evaluate {_show(a)} {op.value} {_show(b)}: null only compares by == and !="
        )
    if isinstance(a, bool) or isinstance(b, bool):
        raise ConditionError(
            f"can't evaluate {_show(a)} {op.value} {_show(b)}: booleans only compare by == and !="
        )
    if _kind(a) != _kind(b) or _kind(a) == "other":
        raise ConditionError(f"can't evaluate {_show(a)} {op.value} {_show(b)}: they don't compare")
    return _ORDER[op](a, b)


def _comparable(left: Operand, right: Operand) -> tuple[Any, Any]:
    (a, a_type), (b, b_type) = left, right
    if _is_datetime(a_type) or _is_datetime(b_type):
        return _as_datetime(a, strict=True), _as_datetime(b, strict=True)
    if isinstance(a, str) and isinstance(b, str):
        da, db = _as_datetime(a, strict=False), _as_datetime(b, strict=False)
        if isinstance(da, datetime) and isinstance(db, datetime):
            return da, db
    return a, b


def _equal(a: Any, b: Any) -> bool:
    # True == 1 in Python; in a literal comparison a boolean equals only a boolean.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if _kind(a) != _kind(b):
        return False
    return bool(a == b)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime):
        return "datetime"
    return "other"


def _is_datetime(t: LiteralType | None) -> bool:
    if isinstance(t, UnionType):
        return any(_is_datetime(v) for v in t.variants)
    return isinstance(t, SimpleType) and t.kind == "datetime"


def _as_datetime(value: Any, *, strict: bool) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    if strict:
        raise ConditionError(f"{_show(value)} is not an ISO 8601 datetime with a UTC offset")
    return value


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
