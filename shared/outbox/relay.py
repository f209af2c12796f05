"""The outbox relay: publishes committed events to Kafka in order, then marks them sent.

One relay per schema publishes at a time (it holds an advisory lock; others
wait as standbys), so records leave in the order they were written. It wakes
on the outbox's NOTIFY and otherwise looks again every few seconds. A crash
after commit and before publish only delays an event; a crash after publish
and before marking re-sends it with the same id, which consumers dedupe. A
record Kafka can never take (larger than the broker accepts) is set aside
with its reason in ``failure`` and logged as an error, so that it does not
hold back every record after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from shared.db.leader import LeaderLoop
from shared.kafka import create_producer
from shared.settings import InfraSettings

log = logging.getLogger(__name__)


UNPUBLISHABLE = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)
"""Errors no retry can cure: the record is set aside (``failure``) so later ones go on."""


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


@dataclass(frozen=True)
class _Row:
    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]


class OutboxRelay(LeaderLoop):
    """Publishes one schema's outbox to Kafka."""

    def __init__(
        self,
        settings: InfraSettings,
        pool: asyncpg.Pool,
        schema: str,
        client_id: str | None = None,
    ) -> None:
        super().__init__(settings.pg_dsn, f"outbox:{schema}", settings.outbox_idle_poll_seconds)
        self._settings = settings
        self._pool = pool
        self._schema = schema
        self._client_id = client_id or f"contrail-relay-{schema}"
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self.published = 0

    @property
    def channel(self) -> str:
        return f"contrail_outbox_{self._schema}"

    def _on_stop(self) -> None:
        self._wake.set()

    async def lead(self, conn: asyncpg.Connection) -> None:
        """Drain on every NOTIFY (and every idle poll) while holding the schema's lock."""
        self._producer = create_producer(self._settings, self._client_id)
        await self._producer.start()
        try:
            await conn.add_listener(self.channel, self._on_notify)
            log.info("outbox relay leading", extra={"schema": self._schema})
            while not self.stopping:
                self._wake.clear()
                sent = await self.drain_once()
                if sent >= self._settings.outbox_batch_size:
                    continue
                if sent == 0:
                    await self._purge_sent()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=self._settings.outbox_idle_poll_seconds
                    )
        finally:
            producer, self._producer = self._producer, None
            await producer.stop()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unsent events in order; return how many were sent."""
        rows = [
            _Row(r["id"], r["topic"], r["key"], r["value"], json.loads(r["headers"]))
            for r in await self._pool.fetch(
                f'SELECT id, topic, key, value, headers FROM "{self._schema}".outbox '
                "WHERE sent_at IS NULL ORDER BY id LIMIT $1",
                self._settings.outbox_batch_size,
            )
        ]
        if not rows:
            return 0
        producer = self._producer
        if producer is None:
            raise RuntimeError("the relay publishes only while it leads")
        futures: list[asyncio.Future[Any]] = []
        for row in rows:
            # As stored: the record's traceparent names the span that wrote it,
            # so consumers continue that trace.
            headers = [(name, value.encode()) for name, value in row.headers.items()]
            try:
                futures.append(
                    await producer.send(row.topic, row.value, key=row.key, headers=headers)
                )
            except UNPUBLISHABLE as exc:
                futures.append(_failed(exc))
        results = await asyncio.gather(*futures, return_exceptions=True)
        # Mark the prefix that Kafka acknowledged (or can never take); the rest
        # is retried in order.
        sent_ids: list[int] = []
        failed: list[tuple[int, str]] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, UNPUBLISHABLE):
                log.error(
                    "outbox record can never be published; set aside",
                    extra={
                        "topic": row.topic,
                        "key": (row.key or b"").decode(errors="replace"),
                        "bytes": len(row.value),
                        "error": repr(result),
                    },
                )
                failed.append((row.id, f"{type(result).__name__}: {result}"[:2000]))
                continue
            if isinstance(result, BaseException):
                log.warning(
                    "outbox publish failed; will retry",
                    extra={"topic": row.topic, "error": repr(result)},
                )
                break
            sent_ids.append(row.id)
        if sent_ids:
            await self._pool.execute(
                f'UPDATE "{self._schema}".outbox SET sent_at = now() WHERE id = ANY($1::bigint[])',
                sent_ids,
            )
        if failed:
            await self._pool.executemany(
                f'UPDATE "{self._schema}".outbox SET sent_at = now(), failure = $2 WHERE id = $1',
                failed,
            )
        self.published += len(sent_ids)
        handled = len(sent_ids) + len(failed)
        if handled < len(rows):
            await self.sleep(1.0)
        return handled

    async def _purge_sent(self) -> None:
        await self._pool.execute(
            f'DELETE FROM "{self._schema}".outbox '
            "WHERE sent_at < now() - make_interval(secs => $1)",
            self._settings.outbox_retention_hours * 3600,
        )
