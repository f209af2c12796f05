"""The shared literal type system, without I/O."""

from __future__ import annotations

import pytest

from shared.literals import (
    BOOL,
    BYTES,
    DATETIME,
    DURATION,
    FLOAT,
    INT,
    NONE,
    STR,
    BlobType,
    DictType,
    EnumType,
    ListType,
    LiteralType,
    RecordType,
    UnionType,
    can_assign,
    is_optional,
    optional,
    render,
    value_errors,
)

POINT = RecordType(
    name="geo.Point",
    json_schema={
        "type": "object",
        "properties": {"x": {"type": "number"}, "label": {"type": "string"}},
        "required": ["x"],
    },
)


@pytest.mark.parametrize(
    ("literal_type", "value"),
    [
        (NONE, None),
        (BOOL, True),
        (INT, 3),
        (FLOAT, 2.5),
        (FLOAT, 2),
        (STR, "x"),
        (BYTES, "aGVsbG8="),
        (DATETIME, "2026-11-22T18:00:00+00:00"),
        (DATETIME, "2026-11-22T18:00:00Z"),
        (DURATION, 90.5),
        (EnumType(values=("red", "green")), "green"),
        (ListType(item=INT), [1, 2]),
        (DictType(value=ListType(item=STR)), {"a": ["b"]}),
        (optional(INT), None),
        (optional(INT), 4),
        (POINT, {"x": 1.5, "label": "a"}),
        (BlobType(kind="file"), {"uri": "s3://contrail/x.csv"}),
    ],
)
def test_valid_literals_have_no_errors(literal_type: LiteralType, value: object) -> None:
    assert value_errors(literal_type, value) == []


@pytest.mark.parametrize(
    ("literal_type", "value", "message"),
    [
        (INT, True, "expected int, got bool True"),
        (INT, "3", "expected int, got str '3'"),
        (BOOL, 1, "expected bool"),
        (BYTES, "not base64!", "base64"),
        (DATETIME, "2026-11-22T18:00:00", "UTC offset"),
        (EnumType(values=("red",)), "blue", "one of red"),
        (ListType(item=INT), [1, "a"], "[1]: expected int"),
        (DictType(value=INT), {"k": "v"}, "k: expected int"),
        (optional(INT), "x", "expected optional[int]"),
        (POINT, {"label": "a"}, "x: is required"),
        (POINT, {"x": "far"}, "x: expected number"),
        (BlobType(kind="directory"), "s3://x", "directory"),
    ],
)
def test_invalid_literals_name_what_is_wrong(
    literal_type: LiteralType, value: object, message: str
) -> None:
    errors = value_errors(literal_type, value)
    assert len(errors) == 1
    assert message in errors[0]


def test_every_error_of_a_list_is_reported_with_its_path() -> None:
    assert value_errors(ListType(item=INT), ["a", 2, None]) == [
        "[0]: expected int, got str 'a'",
        "[2]: expected int, got null",
    ]


@pytest.mark.parametrize(
    ("source", "target", "assignable"),
    [
        (INT, INT, True),
        (INT, FLOAT, True),
        (FLOAT, INT, False),
        (STR, optional(STR), True),
        (NONE, optional(STR), True),
        (optional(STR), STR, False),
        (ListType(item=INT), ListType(item=FLOAT), True),
        (DictType(value=STR), DictType(value=INT), False),
        (EnumType(values=("a",)), EnumType(values=("a", "b")), True),
        (EnumType(values=("a", "c")), EnumType(values=("a", "b")), False),
        (EnumType(values=("a",)), STR, True),
        (POINT, POINT.model_copy(update={"name": "other.Point"}), True),
        (BlobType(kind="file"), BlobType(kind="directory"), False),
        (UnionType(variants=(INT, STR)), UnionType(variants=(STR, INT, NONE)), True),
    ],
)
def test_assignability(source: LiteralType, target: LiteralType, assignable: bool) -> None:
    assert can_assign(source, target) is assignable


def test_types_render_like_python() -> None:
    assert render(optional(ListType(item=DictType(value=FLOAT)))) == (
        "optional[list[dict[str, float]]]"
    )
    assert render(UnionType(variants=(INT, STR))) == "int | str"
    assert is_optional(optional(INT))
    assert not is_optional(INT)


def test_types_round_trip_through_json() -> None:
    nested = DictType(value=optional(ListType(item=POINT)))
    assert DictType.model_validate_json(nested.model_dump_json()) == nested
