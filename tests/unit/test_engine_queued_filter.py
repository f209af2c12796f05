"""The engine's filter on ``contrail.executions``: which events start an execution.

It reads parsed fields (type, ``data.seq``, ``data.phase``), so any JSON
serialization of an execution's first event is recognised, not only the
compact one the launcher writes today.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.launcher.entrypoints.engine import queued_execution
from shared.events.catalogue import (
    ExecutionPhaseChanged,
    NodePhaseChanged,
)
from shared.events.envelope import CloudEvent, EventData
from shared.events.topics import EXECUTIONS
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.phases import ExecutionPhase, NodePhase

EXECUTION = ExecutionIdentifier(project="flytesnacks", domain="development", name="f3kabc")
WORKFLOW = Identifier(
    resource_type=ResourceType.WORKFLOW,
    project="flytesnacks",
    domain="development",
    name="workflows.example.wf",
    version="v1",
)


def record(value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=EXECUTIONS,
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=EXECUTION.key.encode(),
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


def envelope(data: EventData) -> bytes:
    return CloudEvent.wrap(data, source="/contrail/launcher", subject=EXECUTION.urn).to_json()


def phase_changed(seq: int, phase: ExecutionPhase) -> bytes:
    return envelope(
        ExecutionPhaseChanged(execution=EXECUTION, workflow=WORKFLOW, seq=seq, phase=phase)
    )


def test_the_first_event_of_an_execution_names_it() -> None:
    assert queued_execution(record(phase_changed(0, ExecutionPhase.QUEUED))) == EXECUTION.key


@pytest.mark.parametrize(
    "reserialize",
    [
        lambda body: json.dumps(body, indent=2).encode(),  # spaces after ':' and ','
        lambda body: json.dumps(body, sort_keys=True).encode(),  # seq last in data
        lambda body: json.dumps({**body, "data": {"seq": 0, **body["data"]}}).encode(),
    ],
    ids=["indented", "sorted", "seq-first"],
)
def test_any_serialization_of_the_first_event_names_it(
    reserialize: Callable[[dict[str, Any]], bytes],
) -> None:
    body = json.loads(phase_changed(0, ExecutionPhase.QUEUED))
    value = reserialize(body)
    # A filter on the compact bytes would have dropped it.
    assert b'"seq":0,' not in value
    assert b'"seq":0}' not in value
    assert queued_execution(record(value)) == EXECUTION.key


@pytest.mark.parametrize(
    "value",
    [
        phase_changed(1, ExecutionPhase.RUNNING),
        phase_changed(10, ExecutionPhase.QUEUED),  # not its first event
        phase_changed(0, ExecutionPhase.RUNNING),
        envelope(
            NodePhaseChanged(execution=EXECUTION, seq=0, node_id="n0", phase=NodePhase.QUEUED)
        ),
    ],
    ids=["running", "seq-10", "seq-0-running", "node-event"],
)
def test_other_events_are_skipped(value: bytes) -> None:
    assert queued_execution(record(value)) is None


@pytest.mark.parametrize(
    "value",
    [b"", b"not json", b"[]", b'{"type": "contrail.execution.phase_changed", "data": {}}'],
    ids=["empty", "not-json", "array", "no-seq"],
)
def test_a_record_that_is_no_execution_event_is_refused(value: bytes) -> None:
    # Refused records go to contrail.executions.dlq (shared.kafka.BatchConsumer).
    with pytest.raises(ValidationError):
        queued_execution(record(value))
