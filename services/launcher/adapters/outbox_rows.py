"""Outbox rows for the engine's records: public events and the worker messages.

Public events are CloudEvents on ``contrail.executions`` whose id is derived from
the execution and the event's ``seq``, so a decision re-made after a crash
writes the same ids and consumers dedupe them. Dispatch and control messages
are plain JSON (``shared.dispatch``); the outbox stores any bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.launcher.domain import Dispatch, Emit, Terminate
from shared.db.pool import Connection
from shared.dispatch import AttemptControl, AttemptDispatch, ControlKind
from shared.events.envelope import CONTENT_TYPE, CloudEvent, source_of
from shared.events.topics import CONTROL, DISPATCH, EXECUTIONS
from shared.identifiers import ExecutionIdentifier
from shared.outbox import OutboxRecord, enqueue

SOURCE = source_of("launcher")
_IDS = uuid.UUID("5b0f6a52-8e0e-4d0b-9a53-3c1d2f0e7a10")

Row = OutboxRecord
"""One outbox record, written with the shared ``enqueue``."""


def event_id(execution: ExecutionIdentifier, seq: int) -> str:
    """The CloudEvents id of the event ``seq`` of ``execution``: the same on every retry."""
    return str(uuid.uuid5(_IDS, f"{execution.key}#{seq}"))


def event_row(emit: Emit, traceparent: str | None) -> Row:
    data = emit.event
    event = CloudEvent.wrap(
        data, source=SOURCE, subject=data.execution.urn, traceparent=traceparent
    )
    event = event.model_copy(update={"id": event_id(data.execution, data.seq), "time": emit.time})
    headers = {"content-type": CONTENT_TYPE}
    if traceparent:
        headers["traceparent"] = traceparent
    return OutboxRecord(EXECUTIONS, data.execution.key, event.id, event.to_json(), headers)


def inputs_key(command: Dispatch) -> str:
    """Where an attempt's inputs go in S3 when they are too large for its dispatch."""
    execution = command.execution
    return (
        f"inputs/{execution.project}/{execution.domain}/{execution.name}/"
        f"{command.node_path}/{command.attempt}/inputs.json"
    )


def dispatch_row(
    command: Dispatch, now: datetime, traceparent: str | None, inputs_uri: str | None = None
) -> Row:
    """The dispatch of an attempt; with ``inputs_uri``, its inputs are read from there."""
    # The node's own timeout and the task's resources and environment travel in
    # the spec the worker runs.
    spec = command.spec.model_copy(
        update={
            "timeout_seconds": command.timeout_seconds,
            "resources": command.resources,
            "environment": command.environment,
        }
    )
    message = AttemptDispatch(
        execution=command.execution,
        node_path=command.node_path,
        attempt=command.attempt,
        task=command.task,
        spec=spec,
        inputs={} if inputs_uri else command.inputs,
        inputs_uri=inputs_uri,
        dispatched_at=now,
        traceparent=traceparent,
    )
    return _message_row(
        f"dispatch:{message.attempt_id}",
        DISPATCH,
        command.execution,
        message.to_json(),
        traceparent,
    )


def control_row(execution: ExecutionIdentifier, command: Terminate, traceparent: str | None) -> Row:
    message = AttemptControl(
        kind=ControlKind.TERMINATE,
        execution=execution,
        node_path=command.node_path,
        attempt=command.attempt,
        reason=command.reason,
    )
    attempt_id = f"{execution.key}/{command.node_path}/{command.attempt}"
    return _message_row(
        f"terminate:{attempt_id}", CONTROL, execution, message.to_json(), traceparent
    )


def _message_row(
    message_id: str,
    topic: str,
    execution: ExecutionIdentifier,
    value: bytes,
    traceparent: str | None,
) -> Row:
    headers = {"traceparent": traceparent} if traceparent else {}
    return OutboxRecord(topic, execution.key, message_id, value, headers)


async def write(conn: Connection, rows: Sequence[Row]) -> None:
    """Add ``rows`` to the outbox, in order, inside the caller's transaction."""
    if rows:
        await enqueue(conn, rows)
