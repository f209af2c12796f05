"""The CloudEvents envelope and the event catalogue, without I/O."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.events import EVENT_TYPES, CloudEvent, decode_event, source_of
from shared.events.catalogue import (
    ExecutionPhaseChanged,
    ResourceUsage,
    TaskAttemptPhaseChanged,
    TaskRegistered,
    UnknownEventType,
)
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.phases import ExecutionPhase, TaskAttemptPhase

TASK = Identifier(
    resource_type=ResourceType.TASK,
    project="flytesnacks",
    domain="development",
    name="say_hello",
    version="v1",
)
EXECUTION = ExecutionIdentifier(project="flytesnacks", domain="development", name="f1a2b3")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_an_envelope_round_trips_through_json_with_its_typed_data() -> None:
    event = CloudEvent.wrap(
        TaskRegistered(identifier=TASK, digest="ab" * 32),
        source=source_of("registry"),
        subject=TASK.urn,
        traceparent=TRACEPARENT,
    )

    decoded = decode_event(event.to_json())

    assert decoded == event
    assert isinstance(decoded.data, TaskRegistered)
    raw = json.loads(event.to_json())
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "contrail.task.registered"
    assert raw["source"] == "/contrail/registry"
    assert raw["subject"] == "urn:contrail:task:flytesnacks:development:say_hello:v1"
    assert raw["traceparent"] == TRACEPARENT


def test_each_event_gets_a_unique_id() -> None:
    data = TaskRegistered(identifier=TASK, digest="0")
    ids = {CloudEvent.wrap(data, source="/contrail/registry").id for _ in range(100)}
    assert len(ids) == 100


def test_task_attempt_events_carry_error_and_measured_use() -> None:
    data = TaskAttemptPhaseChanged(
        execution=EXECUTION,
        seq=7,
        node_id="n0",
        task=TASK,
        attempt=1,
        phase=TaskAttemptPhase.SUCCEEDED,
        worker_id="w-1",
        resources_used=ResourceUsage(cpu_seconds=1.5, peak_memory_bytes=10_000, wall_seconds=2),
    )
    event = CloudEvent.wrap(data, source=source_of("launcher"), subject=EXECUTION.urn)

    decoded = decode_event(json.loads(event.to_json()))

    assert decoded.data.resources_used.cpu_seconds == 1.5
    assert decoded.subject == "urn:contrail:execution:flytesnacks:development:f1a2b3"


def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(UnknownEventType, match=r"contrail\.nope"):
        decode_event({"type": "contrail.nope", "data": {}})


def test_a_malformed_traceparent_is_refused() -> None:
    with pytest.raises(ValidationError, match="traceparent"):
        CloudEvent.wrap(
            TaskRegistered(identifier=TASK, digest="0"),
            source="/contrail/registry",
            traceparent="not-a-traceparent",
        )


def test_seq_cannot_be_negative() -> None:
    with pytest.raises(ValidationError, match="seq"):
        ExecutionPhaseChanged(execution=EXECUTION, seq=-1, phase=ExecutionPhase.RUNNING)


def test_the_catalogue_names_every_type_once_and_in_contrails_namespace() -> None:
    assert all(name.startswith("contrail.") for name in EVENT_TYPES)
    assert len({cls.event_type for cls in EVENT_TYPES.values()}) == len(EVENT_TYPES)


def test_execution_key_orders_one_executions_events_on_one_partition() -> None:
    assert EXECUTION.key == "flytesnacks/development/f1a2b3"
