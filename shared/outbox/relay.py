"""The outbox relay: publishes committed events to Kafka in order, then marks them sent.

One relay per schema publishes at a time (it holds an advisory lock; others
wait as standbys), so records leave in the order they were written. It wakes
on the outbox's NOTIFY and otherwise looks again every few seconds. A crash
after commit and before publish only delays an event; a crash after publish
and before marking re-sends it with the same id, which consumers dedupe. A
record Kafka can never take (larger than the broker accepts) is set aside
with its reason in ``failure`` and logged as an error, so that it does not
hold back every record after it; a record Kafka refuses for now is retried,
in order, with ``shared.retry``'s backoff.

Never two publishers. The lock is a session lock: if the leader's session
dies while its process lives (``pg_terminate_backend``, a dropped
connection), a standby takes the lock. So the leader reads, and marks, the
outbox on the lock's own connection; it starts every round by confirming
there (``pg_locks``) that it still holds the lock, and hands a record to
Kafka only while that confirmation is under ``LEASE_SECONDS`` old and the
connection has not been closed. A standby that takes the lock over waits
``TAKEOVER_GRACE_SECONDS`` before its first round, longer than the old
leader's last records can take to reach Kafka. Hence the records of the two
never interleave on Kafka, unless the old leader's process is frozen for
longer than the grace between its check and its send. What the new leader
publishes first is what the old one had not marked: at worst its last round
again, the same records with the same ids, in the same order.
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

from shared.db.leader import LeaderLoop, LeadershipLost
from shared.kafka import create_producer
from shared.retry import Backoff, is_transient
from shared.settings import InfraSettings

log = logging.getLogger(__name__)


UNPUBLISHABLE = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)
"""Errors no retry can cure: the record is set aside (``failure``) so later ones go on."""

PUBLISH_BACKOFF = Backoff(first=0.2, cap=5.0)
"""The wait after a round in which Kafka refused a record (a transient fault, usually)."""

LEASE_SECONDS = 2.0
"""How long after confirming its lock the relay may go on handing records to Kafka."""

TAKEOVER_GRACE_SECONDS = 20.0
"""How long a relay that took the lock over waits before publishing.

A record handed to the producer reaches Kafka, if ever, within the producer's
request timeout (15 s, ``shared.kafka``); the old leader hands none later than
``LEASE_SECONDS`` after the lock was last known held. 20 s covers both.
"""


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
        super().__init__(
            settings.pg_dsn,
            f"outbox:{schema}",
            settings.outbox_idle_poll_seconds,
            lease_seconds=LEASE_SECONDS,
            takeover_grace_seconds=TAKEOVER_GRACE_SECONDS,
        )
        self._settings = settings
        self._pool = pool
        self._schema = schema
        self._client_id = client_id or f"contrail-relay-{schema}"
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._failures = PUBLISH_BACKOFF.delays()
        self.published = 0

    @property
    def channel(self) -> str:
        return f"contrail_outbox_{self._schema}"

    def _on_stop(self) -> None:
        self._wake.set()

    async def lead(self, conn: asyncpg.Connection) -> None:
        """Drain on every NOTIFY (and every idle poll) while holding the schema's lock.

        Raises ``LeadershipLost`` as soon as a round finds the lock's session
        gone; the loop then stands by again.
        """
        self._producer = create_producer(self._settings, self._client_id)
        await self._producer.start()
        try:
            # A lost session wakes the loop, whose next round then stops.
            conn.add_termination_listener(lambda _: self._wake.set())
            await conn.add_listener(self.channel, self._on_notify)
            log.info("outbox relay leading", extra={"schema": self._schema})
            while not self.stopping:
                self._wake.clear()
                handled, more = await self._drain(conn)
                if more:
                    continue
                if handled == 0:
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
        """Publish one batch of unsent events in order; return how many were handled.

        Only while leading (inside ``lead``); raises ``LeadershipLost`` if the
        lock's session is gone.
        """
        conn = self._conn
        if conn is None:
            raise LeadershipLost("the relay publishes only while it leads")
        handled, _ = await self._drain(conn)
        return handled

    async def _drain(self, conn: asyncpg.Connection) -> tuple[int, bool]:
        """One round: (records handled, whether unsent records are known to remain).

        Everything happens on the lock's connection ``conn``: the round starts
        by confirming the lock there, hands records to Kafka only while that
        confirmation is fresh (``still_leading``), and marks them sent there,
        so that marks from a session that lost the lock fail instead of landing.
        """
        await self.confirm_lead()
        rows = [
            _Row(r["id"], r["topic"], r["key"], r["value"], json.loads(r["headers"]))
            for r in await conn.fetch(
                f'SELECT id, topic, key, value, headers FROM "{self._schema}".outbox '
                "WHERE sent_at IS NULL ORDER BY id LIMIT $1",
                self._settings.outbox_batch_size,
            )
        ]
        if not rows:
            return 0, False
        producer = self._producer
        if producer is None:
            raise LeadershipLost("the relay publishes only while it leads")
        futures: list[asyncio.Future[Any]] = []
        for row in rows:
            if not self.still_leading():
                break  # lost, or the confirmation is too old: confirm again first
            futures.append(await self._send(producer, row))
        results = await asyncio.gather(*futures, return_exceptions=True)
        # Mark the prefix that Kafka acknowledged (or can never take); the rest
        # is retried in order.
        sent_ids: list[int] = []
        failed: list[tuple[int, str]] = []
        error: BaseException | None = None
        for row, result in zip(rows, results, strict=False):
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
                error = result
                break
            sent_ids.append(row.id)
        if sent_ids:
            await conn.execute(
                f'UPDATE "{self._schema}".outbox SET sent_at = now() WHERE id = ANY($1::bigint[])',
                sent_ids,
            )
        if failed:
            await conn.executemany(
                f'UPDATE "{self._schema}".outbox SET sent_at = now(), failure = $2 WHERE id = $1',
                failed,
            )
        self.published += len(sent_ids)
        handled = len(sent_ids) + len(failed)
        if error is not None:
            delay = self._failures.next()
            log.log(
                logging.WARNING if is_transient(error) else logging.ERROR,
                "outbox publish failed; retrying in %.1fs",
                delay,
                extra={"schema": self._schema, "error": repr(error)},
            )
            await self.sleep(delay)
        else:
            self._failures.reset()
        return handled, handled < len(rows) or len(rows) >= self._settings.outbox_batch_size

    async def _send(self, producer: AIOKafkaProducer, row: _Row) -> asyncio.Future[Any]:
        """Hand one record to the producer; the future settles when Kafka acknowledges it."""
        # As stored: the record's traceparent names the span that wrote it,
        # so consumers continue that trace.
        headers = [(name, value.encode()) for name, value in row.headers.items()]
        try:
            future: asyncio.Future[Any] = await producer.send(
                row.topic, row.value, key=row.key, headers=headers
            )
        except UNPUBLISHABLE as exc:
            return _failed(exc)
        return future

    async def _purge_sent(self) -> None:
        await self._pool.execute(
            f'DELETE FROM "{self._schema}".outbox '
            "WHERE sent_at < now() - make_interval(secs => $1)",
            self._settings.outbox_retention_hours * 3600,
        )
