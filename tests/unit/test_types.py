"""The type engine and the blob types, without I/O (but for a file in tmp_path)."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import typing
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, NewType, Optional, Union

import pytest
from pydantic import BaseModel, Field, RootModel, TypeAdapter

from contrail.files import Directory, File
from contrail.types import (
    TypeEngineError,
    from_literal,
    literal_type_of,
    python_type_of,
    to_literal,
)
from shared.literals import (
    BOOL,
    DATETIME,
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
    optional,
    value_errors,
)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.StrEnum):
    S = "s"
    L = "l"


class Priority(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int
    label: str = "p"


class Reading(BaseModel):
    sensor: str = Field(alias="sensorId")
    value: float = Field(ge=0)
    at: datetime


@dataclasses.dataclass
class Survey:
    """A record that nests the other kinds, blobs included."""

    points: list[Point]
    readings: list[Reading]
    color: Color
    raw: File
    scratch: Directory | None = None


class Plain:
    pass


@dataclasses.dataclass
class Holder:
    thing: Plain


class Pair(NamedTuple):
    left: int
    right: int


UserId = NewType("UserId", str)
NOON = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)

ROUND_TRIPS: list[tuple[Any, Any]] = [
    (None, None),
    (None, type(None)),
    (True, bool),
    (-7, int),
    (2**70, int),
    (1.5, float),
    ("héllo", str),
    (b"\x00\xffbytes", bytes),
    (NOON, datetime),
    (datetime(2024, 5, 17, 14, 0, tzinfo=timezone(timedelta(hours=2))), datetime),
    (timedelta(days=1, seconds=3, microseconds=1), timedelta),
    (Color.GREEN, Color),
    (Size.L, Size),
    ([1, 2, 3], list[int]),
    ([], list[str]),
    ({"a": 1.5, "b": 2.0}, dict[str, float]),
    (None, Optional[int]),  # noqa: UP045 - the typing spelling is supported too
    (3, int | None),
    (4, int | str),
    ("4", int | str),
    (None, None | str),
    (Point(1, "a"), Point),
    (Reading(sensorId="t1", value=0.5, at=NOON), Reading),
    (
        Survey(
            points=[Point(1), Point(2, "b")],
            readings=[Reading(sensorId="t1", value=2, at=NOON)],
            color=Color.RED,
            raw=File("s3://bucket/raw.csv"),
            scratch=Directory("/tmp/scratch"),
        ),
        Survey,
    ),
    (File("s3://bucket/key.csv"), File),
    (File("/data/in.csv"), File),
    (Directory("s3://bucket/prefix"), Directory),
    (7, Annotated[int, {"unhashable": "metadata"}]),
    (UserId("u-1"), UserId),
    ([{"a": Point(1), "b": None}, {}], list[dict[str, Point | None]]),
    ({"x": [Color.RED, None]}, dict[str, list[Color | None]]),
    ([File("s3://b/1"), File("s3://b/2")], list[File] | None),
    ([[1], [2, 3]], list[list[int]]),
]

ALL_KINDS = {
    "none",
    "bool",
    "int",
    "float",
    "str",
    "bytes",
    "datetime",
    "duration",
    "enum",
    "list",
    "dict",
    "union",
    "record",
    "file",
    "directory",
}


def _kinds(t: LiteralType) -> set[str]:
    match t:
        case ListType():
            return {"list"} | _kinds(t.item)
        case DictType():
            return {"dict"} | _kinds(t.value)
        case UnionType():
            return {"union"}.union(*(_kinds(v) for v in t.variants))
        case _:
            return {t.kind}


@pytest.mark.parametrize(("value", "annotation"), ROUND_TRIPS)
def test_a_value_round_trips_through_its_json_literal(value: Any, annotation: Any) -> None:
    literal = to_literal(value, annotation)
    through_json = json.loads(json.dumps(literal))

    assert through_json == literal
    assert value_errors(literal_type_of(annotation), through_json) == []
    assert from_literal(through_json, annotation) == value


def test_the_round_trips_cover_every_kind_of_literal_type() -> None:
    covered = set().union(*(_kinds(literal_type_of(a)) for _, a in ROUND_TRIPS))
    assert covered == ALL_KINDS


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, INT),
        (None, NONE),
        (Optional[bool], optional(BOOL)),  # noqa: UP045
        (None | datetime, optional(DATETIME)),
        (Union[int, str, None], UnionType(variants=(INT, STR, NONE))),  # noqa: UP007
        (int | Annotated[int, "again"], INT),
        (list[dict[str, float]], ListType(item=DictType(value=FLOAT))),
        (typing.List[int], ListType(item=INT)),  # noqa: UP006
        (Annotated[list[str], "meta"], ListType(item=STR)),
        (UserId, STR),
        (Color, EnumType(name="Color", values=("red", "green"))),
        (File, BlobType(kind="file")),
        (Directory, BlobType(kind="directory")),
    ],
)
def test_annotations_map_to_literal_types(annotation: Any, expected: LiteralType) -> None:
    assert literal_type_of(annotation) == expected


def test_records_carry_their_qualified_name_and_pydantic_json_schema() -> None:
    point = literal_type_of(Point)
    reading = literal_type_of(Reading)

    assert point == RecordType(
        name=f"{__name__}.Point", json_schema=TypeAdapter(Point).json_schema()
    )
    assert isinstance(reading, RecordType)
    assert reading.name == f"{__name__}.Reading"
    assert reading.json_schema == TypeAdapter(Reading).json_schema()


def test_model_literals_use_field_aliases_as_the_schema_does() -> None:
    literal = to_literal(Reading(sensorId="t1", value=1, at=NOON), Reading)
    assert literal == {"sensorId": "t1", "value": 1.0, "at": "2024-05-17T12:00:00Z"}


def test_literals_are_plain_json_values() -> None:
    assert to_literal(b"hi", bytes) == "aGk="
    assert to_literal(timedelta(minutes=2), timedelta) == 120.0
    assert to_literal(Color.RED, Color) == "red"
    assert type(to_literal(Size.S, str)) is str
    assert type(to_literal(Priority.LOW, int)) is int
    assert to_literal(File("s3://b/k"), File) == {"uri": "s3://b/k"}
    assert to_literal(File("/data/a b.csv"), File) == {"uri": "file:///data/a%20b.csv"}


def test_datetimes_are_written_in_utc() -> None:
    paris = datetime(2024, 5, 17, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_literal(paris, datetime) == "2024-05-17T12:00:00+00:00"


def test_an_int_is_accepted_for_a_float_and_read_back_as_a_float() -> None:
    assert to_literal(3, float) == 3.0
    value = from_literal(3, float)
    assert value == 3.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (list, "list: name the item type: use list[int], not list"),
        (dict, "dict: name the value type: use dict[str, int], not dict"),
        (typing.List, "use list[int], not list"),  # noqa: UP006
        (Any, "Any: Any has no literal type; name the type"),
        (object, "object: object has no literal type"),
        (tuple[int, str], "tuples have no literal type; use list[T] or a dataclass"),
        (set[int], "sets have no literal type; use list[T]"),
        (Sequence[int], "Sequence[int]: use list[T]"),
        (Callable[[int], int], "a callable has no literal type"),
        (Literal["a", "b"], "use an enum.Enum"),
        (dict[int, str], "dict[int, str]: keys must be str; use dict[str, str]"),
        (Priority, "Priority: enum values must be str"),
        (Pair, "Pair: a NamedTuple is not a literal type; as a return annotation each field"),
        (RootModel[list[int]], "RootModel has no literal type; use its root type"),
        (date, "date: use datetime.datetime"),
        (type("Plain", (), {}), "Plain: not a dataclass or a pydantic model"),
        ("Point", "'Point': an unresolved forward reference"),
        (typing.TypeVar("T"), "T: a type variable; name a concrete type"),
    ],
)
def test_annotations_without_a_literal_type_are_refused_with_a_hint(
    annotation: Any, message: str
) -> None:
    with pytest.raises(TypeEngineError, match=_re(message)):
        literal_type_of(annotation)


def test_a_nested_annotation_at_fault_is_named_within_the_whole() -> None:
    with pytest.raises(TypeEngineError) as caught:
        literal_type_of(list[dict[str, set[int]]])
    assert str(caught.value) == (
        "set[int]: sets have no literal type; use list[T] (in list[dict[str, set[int]]])"
    )


def test_a_record_with_a_field_pydantic_cannot_describe_is_refused() -> None:
    with pytest.raises(TypeEngineError) as caught:
        literal_type_of(Holder)
    assert str(caught.value) == (
        "Holder: pydantic cannot describe it: "
        f"Unable to generate pydantic-core schema for {Plain!r}"
    )


def test_a_record_whose_field_types_cannot_be_resolved_is_refused() -> None:
    class Local:
        pass

    @dataclasses.dataclass
    class Inner:
        thing: Local

    with pytest.raises(TypeEngineError, match="Inner: pydantic cannot describe it: a field's"):
        literal_type_of(Inner)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (str | datetime, "datetime literals would be read back as str; put datetime before str"),
        (float | int, "int literals would be read back as float; put int before float"),
        (str | Color, "Color literals would be read back as str"),
        (list[float] | list[int], "list[int] literals would be read back as list[float]"),
        (dict[str, str] | File, "file literals would be read back as dict[str, str]"),
    ],
)
def test_a_union_that_could_not_read_a_variant_back_is_refused(
    annotation: Any, message: str
) -> None:
    with pytest.raises(TypeEngineError, match=_re(message)):
        literal_type_of(annotation)


def test_a_union_in_the_right_order_is_accepted() -> None:
    assert literal_type_of(datetime | str) == UnionType(variants=(DATETIME, STR))
    assert from_literal(3, int | float) == 3
    assert from_literal(3.5, int | float) == 3.5


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        ("a", int, "expected int, got str 'a'"),
        (True, int, "expected int, got bool True"),
        (1, bool, "expected bool, got int 1"),
        (True, float, "expected float, got bool True"),
        (float("nan"), float, "expected a finite float (JSON has no nan or inf), got float nan"),
        (b"x", str, "expected str, got bytes b'x'"),
        ("x", bytes, "expected bytes, got str 'x'"),
        (date(2024, 1, 1), datetime, "expected datetime, got date"),
        (60, timedelta, "expected duration (a timedelta), got int 60"),
        ("red", Color, "expected Color, got str 'red'"),
        ((1, 2), list[int], "expected list[int], got tuple (1, 2)"),
        ([1, "2"], list[int], "[1]: expected int, got str '2'"),
        ({"a": [1, None]}, dict[str, list[int]], "a[1]: expected int, got None"),
        (1, None, "expected none, got int 1"),
        (1.5, int | str, "expected int | str, got float 1.5"),
        ({"x": 1}, Point, "expected tests.unit.test_types.Point, got dict {'x': 1}"),
        ("in.csv", File, "expected file, got str 'in.csv'; wrap it: File(path)"),
        (Directory("/d"), File, "expected file, got Directory Directory('/d')"),
    ],
)
def test_a_value_that_does_not_match_is_refused(value: Any, annotation: Any, message: str) -> None:
    with pytest.raises(TypeEngineError, match=_re(message)):
        to_literal(value, annotation)


def test_a_naive_datetime_is_refused_with_a_fix() -> None:
    with pytest.raises(TypeEngineError) as caught:
        to_literal(datetime(2024, 1, 1), datetime)
    message = str(caught.value)
    assert message.startswith("expected a timezone-aware datetime, got naive datetime")
    assert message.endswith("; pass tzinfo=timezone.utc")


def test_dict_keys_must_be_strings() -> None:
    with pytest.raises(
        TypeEngineError, match=_re("expected str keys in dict[str, int], got int 1")
    ):
        to_literal({1: 2}, dict[str, int])


def test_errors_inside_records_give_the_path_into_nested_values() -> None:
    value = [{"a": Point(1)}, {"b": Point("one")}]  # type: ignore[arg-type]
    with pytest.raises(TypeEngineError, match=_re("[1].b.x: expected integer, got str 'one'")):
        to_literal(value, list[dict[str, Point | None]])


def test_a_model_that_breaks_its_constraints_is_refused() -> None:
    reading = Reading.model_construct(sensor="t1", value=-1.0, at=NOON)
    with pytest.raises(TypeEngineError, match=_re("[0].value: input should be greater than")):
        to_literal([reading], list[Reading])


def test_an_unmappable_annotation_is_refused_before_the_value_is_looked_at() -> None:
    with pytest.raises(TypeEngineError, match="use list\\[int\\], not list"):
        to_literal([1], list)
    with pytest.raises(TypeEngineError, match="use list\\[int\\], not list"):
        from_literal([1], list)


@pytest.mark.parametrize(
    ("literal", "annotation", "message"),
    [
        ("1", int, "expected int, got str '1'"),
        (3.0, int, "expected int, got float 3.0"),
        ("not base64!", bytes, "expected base64-encoded bytes"),
        ("2024-01-01T00:00:00", datetime, "expected a datetime with a UTC offset"),
        ("yesterday", datetime, "expected an ISO 8601 datetime"),
        ("blue", Color, "expected one of red, green, got str 'blue'"),
        ([1, "x"], list[int], "[1]: expected int, got str 'x'"),
        ({"a": {"b": "x"}}, dict[str, dict[str, int]], "a.b: expected int, got str 'x'"),
        ({"label": "p"}, Point, "x: is required"),
        ([{"x": "1"}], list[Point], "[0].x: expected integer, got str '1'"),
        ({"sensorId": "t", "value": -1, "at": "2024-01-01T00:00:00Z"}, Reading, "value: input"),
        ({"path": "/x"}, File, "expected a file"),
        (True, int | str, "expected int | str, got bool True"),
    ],
)
def test_a_literal_that_does_not_match_is_refused(
    literal: Any, annotation: Any, message: str
) -> None:
    with pytest.raises(TypeEngineError, match=_re(message)):
        from_literal(literal, annotation)


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, int),
        (None, type(None)),
        (timedelta, timedelta),
        (list[dict[str, bytes]], list[dict[str, bytes]]),
        (int | None, Optional[int]),  # noqa: UP045
        (Color, str),
        (Point, dict[str, Any]),
        (list[File], list[File]),
        (Directory, Directory),
    ],
)
def test_literal_types_map_back_to_annotations(annotation: Any, expected: Any) -> None:
    assert python_type_of(literal_type_of(annotation)) == expected


# --- File and Directory ---------------------------------------------------------


def test_a_local_file_has_an_absolute_file_uri(tmp_path: Path) -> None:
    path = tmp_path / "in put.csv"
    f = File(path)

    assert f.path == str(path)
    assert f.uri == path.as_uri()
    assert not f.is_remote
    assert os.fspath(f) == str(path)
    assert repr(f) == f"File({str(path)!r})"


def test_a_relative_path_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert File("data.csv").uri == (tmp_path / "data.csv").as_uri()
    assert File("data.csv").path == "data.csv"


def test_an_s3_file_keeps_its_uri_and_has_no_local_path() -> None:
    f = File("s3://bucket/key.csv")

    assert f.uri == "s3://bucket/key.csv"
    assert f.is_remote
    with pytest.raises(ValueError, match="is in S3"):
        os.fspath(f)
    with pytest.raises(NotImplementedError, match="is in S3"):
        f.open()


def test_a_local_file_opens(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    with File(tmp_path / "a.txt").open("r") as text:
        assert text.read() == "hello"
    with File.from_uri((tmp_path / "a.txt").as_uri()).open() as raw:
        assert raw.read() == b"hello"


def test_blobs_are_equal_when_their_uris_are() -> None:
    assert File("/data/x") == File("file:///data/x") == File.from_uri("file:///data/x")
    assert File.from_uri("file:///data/x").path == "/data/x"
    assert len({File("/data/x"), File("file:///data/x")}) == 1
    assert File("/data/x") != Directory("/data/x")
    assert File("/data/x") != "/data/x"
    assert Directory("s3://b/p") == Directory("s3://b/p")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "needs a path or a URI"),
        ("gs://bucket/key", "unsupported scheme 'gs'"),
        ("s3:///key", "an S3 URI names a bucket"),
        ("file://host/x", "a file:// URI names a path on this machine"),
    ],
)
def test_a_blob_needs_a_path_or_a_supported_uri(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        File(path)


def test_a_blob_refuses_what_is_not_a_path() -> None:
    with pytest.raises(TypeError, match="Directory takes a path or a URI, got int"):
        Directory(3)  # type: ignore[arg-type]


def _re(text: str) -> str:
    """``text`` as a regular expression that matches it literally."""
    import re

    return re.escape(text)
