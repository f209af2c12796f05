"""How ``contrail run`` reads command-line inputs by their type."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contrail import File, task
from contrail.cli.inputs import literal_of_text
from contrail.cli.run import RunError, parse_options, read_inputs
from shared.literals import (
    BOOL,
    DATETIME,
    FLOAT,
    INT,
    STR,
    BlobType,
    EnumType,
    ListType,
    LiteralType,
    optional,
)


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


@task
def job(
    path: File,
    mode: Mode = Mode.SAFE,
    verbose: bool = False,
    when: datetime | None = None,
    sizes: list[int] | None = None,
) -> str:
    return f"{path.path}:{mode.value}:{verbose}:{when}:{sizes}"


@pytest.mark.parametrize(
    ("text", "t", "literal"),
    [
        ("3", INT, 3),
        ("2.5", FLOAT, 2.5),
        ("hello", STR, "hello"),
        ("yes", BOOL, True),
        ("0", BOOL, False),
        ("2024-06-01T09:00:00Z", DATETIME, "2024-06-01T09:00:00+00:00"),
        ("2024-06-01T09:00", DATETIME, "2024-06-01T09:00:00+00:00"),
        ("[1, 2]", ListType(item=INT), [1, 2]),
        ("none", optional(INT), None),
        ("4", optional(INT), 4),
        ("fast", EnumType(values=("fast", "safe")), "fast"),
        ("s3://bucket/key", BlobType(kind="file"), {"uri": "s3://bucket/key"}),
    ],
)
def test_literal_of_text(text: str, t: LiteralType, literal: object) -> None:
    assert literal_of_text(text, t) == literal


@pytest.mark.parametrize(
    ("text", "t", "message"),
    [
        ("x", INT, "expected an int"),
        ("maybe", BOOL, "expected true or false"),
        ("yesterday", DATETIME, "ISO 8601"),
        ("slow", EnumType(values=("fast", "safe")), "one of fast, safe"),
        ("/no/such/file", BlobType(kind="file"), "no such file"),
    ],
)
def test_literal_of_text_errors(text: str, t: LiteralType, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        literal_of_text(text, t)


def test_options_flags_and_values(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("x")
    inputs = job.interface.inputs
    given = parse_options(
        ["--path", str(data), "--verbose", "--mode=fast", "--when", "2024-01-01T00:00:00Z"],
        inputs,
    )
    assert given == {
        "path": str(data),
        "verbose": True,
        "mode": "fast",
        "when": "2024-01-01T00:00:00Z",
    }
    values = read_inputs(job.name, job.interface, given)
    assert values["path"] == File(data)
    assert values["mode"] is Mode.FAST
    assert values["when"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert job(**values) == f"{data}:fast:True:2024-01-01 00:00:00+00:00:None"
    assert parse_options(["--no-verbose"], inputs) == {"verbose": False}
    assert parse_options(["--sizes", "[1,2]"], inputs) == {"sizes": "[1,2]"}


def test_bad_values_name_the_option() -> None:
    with pytest.raises(RunError, match=r"--sizes \(optional\[list\[int\]\]\)"):
        read_inputs(job.name, job.interface, {"sizes": '["a"]'})
    with pytest.raises(RunError, match="only a bool input can be negated"):
        parse_options(["--no-mode"], job.interface.inputs)
