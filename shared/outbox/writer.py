"""Writing events into the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.db.pool import Connection
from shared.events.envelope import CONTENT_TYPE, CloudEvent
from shared.telemetry import current_traceparent


@dataclass(frozen=True)
class OutboxMessage:
    """One Kafka record to publish once the transaction that wrote it commits."""

    topic: str
    key: str | None
    event: CloudEvent[Any]
    headers: dict[str, str] = field(default_factory=dict)

    def record_headers(self) -> dict[str, str]:
        headers = {"content-type": CONTENT_TYPE, **self.headers}
        if self.event.traceparent:
            headers.setdefault("traceparent", self.event.traceparent)
        return headers


@dataclass(frozen=True)
class OutboxRecord:
    """A plain JSON record (not a CloudEvent), e.g. an attempt dispatched to the workers."""

    topic: str
    key: str | None
    record_id: str
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def record_headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.headers}
        if "traceparent" not in headers and (traceparent := current_traceparent()):
            headers["traceparent"] = traceparent
        return headers


async def enqueue(conn: Connection, messages: Sequence[OutboxMessage | OutboxRecord]) -> None:
    """Add ``messages`` to the outbox of the schema on ``conn``'s search path.

    Must run inside the transaction that writes the state the events describe:
    they are published if, and only if, it commits, in the order given.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("outbox writes belong inside the state's transaction")
    rows = []
    for message in messages:
        if isinstance(message, OutboxRecord):
            key = message.key.encode() if message.key is not None else None
            headers = json.dumps(message.record_headers())
            rows.append((message.record_id, message.topic, key, message.value, headers))
            continue
        event = message.event
        if event.traceparent is None and (traceparent := current_traceparent()):
            event = event.model_copy(update={"traceparent": traceparent})
            message = OutboxMessage(message.topic, message.key, event, message.headers)
        rows.append(
            (
                event.id,
                message.topic,
                message.key.encode() if message.key is not None else None,
                event.to_json(),
                json.dumps(message.record_headers()),
            )
        )
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, value, headers) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        rows,
    )
