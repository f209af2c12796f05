"""The pure parts of the execution commands: inputs by type, the node tree, rows, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from contrail.cli.events import EventFilter, event_fields, event_line
from contrail.cli.executions import (
    error_lines,
    execution_row,
    format_duration,
    launch_inputs,
    node_tree,
    parent_path,
    split_pairs,
)
from contrail.cli.output import CLIError
from contrail.cli.run import RunError, split_run_options
from contrail.remote import Execution, NodeExecution
from contrail.task import InputSlot
from shared.literals import BOOL, FLOAT, INT, STR, ListType, RecordType
from shared.specs import Parameter, TypedInterface

T0 = datetime(2026, 11, 22, 18, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- launch inputs --------------------------------------------------------------------------

INTERFACE = TypedInterface(
    inputs={
        "n": Parameter(type=INT),
        "ratio": Parameter(type=FLOAT, default=0.5, required=False),
        "loud": Parameter(type=BOOL, default=False, required=False),
        "xs": Parameter(type=ListType(item=INT), default=[], required=False),
        "who": Parameter(type=STR, default="you", required=False),
        "cfg": Parameter(
            type=RecordType(name="Cfg", json_schema={"type": "object"}), required=False
        ),
    }
)


def test_split_pairs() -> None:
    assert split_pairs(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(CLIError, match="expected NAME=VALUE"):
        split_pairs(["a"])
    with pytest.raises(CLIError, match="a is given twice"):
        split_pairs(["a=1", "a=2"])


def test_launch_inputs_are_read_by_their_type() -> None:
    given = split_pairs(["n=3", "ratio=0.25", "loud=yes", "xs=[1, 2]", "who=42", 'cfg={"k": [1]}'])
    assert launch_inputs(given, INTERFACE) == {
        "n": 3,
        "ratio": 0.25,
        "loud": True,
        "xs": [1, 2],
        "who": "42",
        "cfg": {"k": [1]},
    }


def test_launch_inputs_leave_what_they_cannot_read_to_the_launcher() -> None:
    # The launcher checks every input and lists every problem in one answer;
    # the CLI reads what it can and sends the rest as the text given.
    given = {"n": "three", "xs": "[1,", "zz": "1", "who": "me", "ratio": "0.5"}

    assert launch_inputs(given, INTERFACE) == {
        "n": "three",
        "xs": "[1,",
        "zz": "1",
        "who": "me",
        "ratio": 0.5,
    }


# --- the node tree ----------------------------------------------------------------------------


def _execution(phase: str = "RUNNING", **extra: Any) -> Execution:
    return Execution.model_validate(
        {
            "project": "p",
            "domain": "development",
            "name": "x1",
            "phase": phase,
            "started_at": T0.isoformat(),
            **extra,
        }
    )


def _node(
    path: str, phase: str | None, start: float | None, end: float | None = None, **extra: Any
) -> NodeExecution:
    return NodeExecution.model_validate(
        {
            "node_path": path,
            "phase": phase,
            "started_at": _at(start).isoformat() if start is not None else None,
            "ended_at": _at(end).isoformat() if end is not None else None,
            **extra,
        }
    )


def _text(renderable: Any) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_parent_paths() -> None:
    assert parent_path("n0") is None
    assert parent_path("n2/n0") == "n2"
    assert parent_path("n3[1]") == "n3"
    assert parent_path("b/m[4]") == "b/m"
    assert parent_path("n1/n1a/n0") == "n1/n1a"


def test_node_tree_nests_sub_workflows_branches_and_map_items() -> None:
    attempt = {"attempt": 1, "phase": "SUCCEEDED"}
    nodes = [
        _node("n0", "SUCCEEDED", 0, 0.2, attempts=[attempt]),
        _node("n1", "RUNNING", 0.2),
        _node("n1/n0", "SUCCEEDED", 0.2, 1.4, attempts=[attempt, {"attempt": 2, "phase": "X"}]),
        _node("n2", "SUCCEEDED", 0.2, 0.3, cache_hit=True),
        _node("n3", "RUNNING", 0.3),
        _node("n3[0]", "SUCCEEDED", 0.3, 0.9, attempts=[attempt]),
        _node(
            "n3[1]",
            "FAILED",
            0.3,
            1.0,
            error={"kind": "USER", "code": "ValueError", "message": "bad\nitem"},
        ),
        _node("n4", None, None),
    ]
    text = _text(node_tree(_execution(), nodes, now=_at(2)))
    assert text.splitlines() == [
        "execution x1  RUNNING  2.0s",
        "├── n0  SUCCEEDED  1 attempt  200ms",
        "├── n1  RUNNING  1.8s",
        "│   └── n0  SUCCEEDED  2 attempts  1.2s",
        "├── n2  SUCCEEDED  cached  100ms",
        "├── n3  RUNNING  1.7s",
        "│   ├── [0]  SUCCEEDED  1 attempt  600ms",
        "│   └── [1]  FAILED  700ms  ValueError: bad item",
        "└── n4  -",
    ]


def test_node_tree_makes_a_placeholder_for_a_parent_not_listed() -> None:
    nodes = [_node("b/m[0]", "QUEUED", 1.0)]
    text = _text(node_tree(_execution("SUCCEEDED", duration=3.0), nodes, now=_at(2)))
    assert text.splitlines() == [
        "execution x1  SUCCEEDED  3.0s",
        "└── b",
        "    └── m",
        "        └── [0]  QUEUED  1.0s",
    ]


def test_rows_durations_and_errors() -> None:
    failed = _execution(
        "FAILED",
        ended_at=_at(65).isoformat(),
        launch_plan={"name": "workflows.branching.only_positive"},
        error={
            "kind": "USER",
            "code": "BranchFailed",
            "message": "[n0] n must be positive",
            "traceback_tail": "line 1\nline 2\n",
        },
    )
    assert execution_row(failed) == [
        "x1",
        "workflows.branching.only_positive",
        "FAILED",
        "2026-11-22 18:00:00Z",
        "1m05s",
        "BranchFailed: [n0] n must be positive",
    ]
    assert error_lines(failed.error) == [
        "USER BranchFailed: [n0] n must be positive",
        "  line 1",
        "  line 2",
    ]
    assert [format_duration(s) for s in (None, 0.0123, 4.25, 187, 3725)] == [
        "-",
        "12ms",
        "4.2s",
        "3m07s",
        "1h02m",
    ]


# --- run --remote options -------------------------------------------------------------------


def _slots(*names: str) -> dict[str, InputSlot]:
    return {n: InputSlot(name=n, annotation=str, type=STR) for n in names}


def test_run_options_after_the_entity_unless_they_are_inputs() -> None:
    options, rest = split_run_options(
        ["--name", "x", "--wait", "--project", "p1", "-d", "staging", "--n=3"], _slots("name", "n")
    )
    assert options == {"wait": True, "project": "p1", "domain": "staging"}
    assert rest == ["--name", "x", "--n=3"]

    options, rest = split_run_options(
        ["--name", "run-1", "--who", "-p", "--wait", "--endpoint=http://h"], _slots("who")
    )
    assert options == {"name": "run-1", "wait": True, "endpoint": "http://h"}
    assert rest == ["--who", "-p"]  # "-p" here is who's value
    with pytest.raises(RunError, match="--project: missing value"):
        split_run_options(["--project"], _slots())


# --- events ---------------------------------------------------------------------------------


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "e1",
        "source": "/contrail/launcher",
        "type": f"contrail.{kind}.phase_changed",
        "time": "2026-11-22T18:08:35.245947Z",
        "data": {
            "execution": {"project": "p", "domain": "development", "name": "x1"},
            "workflow": {"name": "workflows.example.wf", "version": "v1"},
            "seq": 3,
            **data,
        },
    }


def test_event_filters() -> None:
    event = _event("task_attempt", node_id="n0", attempt=1, phase="QUEUED")
    assert EventFilter().matches(event)
    assert EventFilter(project="p", domain="development", execution="x1").matches(event)
    assert EventFilter(execution="p/development/x1").matches(event)
    assert not EventFilter(project="q").matches(event)
    assert EventFilter(workflow="workflows.example.wf").matches(event)
    assert EventFilter(workflow="wf").matches(event)
    assert not EventFilter(workflow="other").matches(event)
    for kind in (
        "task_attempt",
        "contrail.task_attempt.phase_changed",
        "task_attempt.phase_changed",
    ):
        assert EventFilter(event_type=kind).matches(event), kind
    assert not EventFilter(event_type="node").matches(event)
    assert not EventFilter(project="p").matches({"type": "contrail.task.registered", "data": {}})


def test_event_lines() -> None:
    attempt = _event(
        "task_attempt",
        node_id="n0",
        attempt=2,
        phase="FAILED",
        error={"kind": "USER", "code": "ValueError", "message": "boom\n  here"},
    )
    assert event_fields(attempt) == [
        "18:08:35.245",
        "task_attempt.phase_changed",
        "p/development/x1",
        "seq 3",
        "n0#2",
        "FAILED",
        "ValueError: boom here",
    ]
    line = event_line(_event("execution", phase="SUCCEEDED"))
    assert line.split() == [
        "18:08:35.245",
        "execution.phase_changed",
        "p/development/x1",
        "seq",
        "3",
        "-",
        "SUCCEEDED",
    ]
    cached = event_fields(_event("node", node_id="n1", phase="SUCCEEDED", cache_hit=True))
    assert cached[4:6] == ["n1", "SUCCEEDED (cache hit)"]
