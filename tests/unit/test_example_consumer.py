"""The consumer example in docs/events.md dedupes by id and notices gaps in seq."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/consumers/follow_executions.py"


def _follower() -> Any:
    spec = importlib.util.spec_from_file_location("follow_executions", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ExecutionFollower()


def _event(event_id: str, seq: int, phase: str = "RUNNING") -> dict[str, Any]:
    return {
        "id": event_id,
        "time": "2026-11-22T18:00:00Z",
        "type": "contrail.execution.phase_changed",
        "data": {
            "execution": {"project": "p", "domain": "development", "name": "e1"},
            "seq": seq,
            "phase": phase,
        },
    }


def test_a_redelivered_event_is_skipped() -> None:
    follower = _follower()

    first = follower.accept(_event("a", 0, "QUEUED"))
    again = follower.accept(_event("a", 0, "QUEUED"))

    assert first is not None
    assert "p/development/e1" in first
    assert "QUEUED" in first
    assert again is None


def test_a_gap_in_seq_is_reported() -> None:
    follower = _follower()
    follower.accept(_event("a", 0))

    line = follower.accept(_event("c", 2))

    assert line is not None
    assert "expected seq 1" in line
