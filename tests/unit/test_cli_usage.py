"""The usage CLI's writers: CSV with one column per key (labels as JSON), Parquet via pyarrow."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from contrail.cli.usage import UsageOutput, write_rows

ROWS = [
    {"task": "t.a", "attempts": 3, "cost": 0.25, "labels": {"team": "ml"}},
    {"task": "t.b", "attempts": 1, "cost": None, "labels": {}},
]


def test_csv_has_a_column_per_key_and_labels_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(ROWS, UsageOutput.CSV, None)
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["task"] for r in rows] == ["t.a", "t.b"]
    assert json.loads(rows[0]["labels"]) == {"team": "ml"}
    assert rows[1]["cost"] == ""


def test_parquet_reads_back_as_written(tmp_path: Path) -> None:
    target = tmp_path / "usage.parquet"
    write_rows(ROWS, UsageOutput.PARQUET, target)
    table = pq.read_table(target).to_pylist()
    assert [(r["task"], r["attempts"], r["cost"]) for r in table] == [
        ("t.a", 3, 0.25),
        ("t.b", 1, None),
    ]


def test_json_keeps_nested_values(tmp_path: Path) -> None:
    target = tmp_path / "usage.json"
    write_rows(ROWS, UsageOutput.JSON, target)
    assert json.loads(target.read_text()) == ROWS


def test_table_cells_are_plain_decimals_never_scientific() -> None:
    from contrail.cli.usage import _cell

    assert _cell(4.803e-05, "hours") == "0.000048"
    assert _cell(0, "hours") == "0"
    assert _cell(2.5, "hours") == "2.500"
    assert _cell(12345.678, "hours") == "12,345.7"
    assert _cell(5.017e-06, "money") == "0.000005"
    assert _cell(3.14159, "money") == "3.14"
    assert _cell(1234.5, "money") == "1,234.50"
    assert _cell(None, "money") == "-"
