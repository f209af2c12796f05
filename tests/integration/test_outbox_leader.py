"""Two outbox relays for one schema, on the real PostgreSQL and Kafka: never two publishers.

The leader's lock session is killed (``pg_terminate_backend``) while records
keep being written and a standby waits. The standby must take over, the old
leader must hand nothing more to Kafka once the standby has started, and a
consumer must see every key's records in the order they were written (after
dropping the duplicates an at-least-once relay may send).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.db import transaction
from shared.db.leader import lock_key
from shared.outbox import OutboxRecord, OutboxRelay, enqueue
from shared.settings import StackSettings
from tests.eventually import eventually_async
from tests.integration.conftest import Consume, Record

pytestmark = pytest.mark.integration

KEYS = [f"exec-{n}" for n in range(4)]


@dataclass
class Sends:
    """Every record a relay handed to its producer: (relay, loop time, record id)."""

    log: list[tuple[str, float, str]] = field(default_factory=list)

    def by(self, name: str) -> list[float]:
        return [at for relay, at, _ in self.log if relay == name]


class WitnessedRelay(OutboxRelay):
    """The production relay, noting each record it hands to Kafka."""

    def __init__(self, name: str, sends: Sends, *args: Any) -> None:
        super().__init__(*args)
        self.name = name
        self._sends = sends

    async def _send(self, producer: AIOKafkaProducer, row: Any) -> asyncio.Future[Any]:
        self._sends.log.append(
            (self.name, asyncio.get_running_loop().time(), json.loads(row.value)["id"])
        )
        return await super()._send(producer, row)


async def _lock_holder(pool: asyncpg.Pool, schema: str) -> int | None:
    """The backend pid holding the schema's outbox lock (session-level advisory lock)."""
    pid: int | None = await pool.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND ((classid::bigint << 32) | objid::bigint) = $1",
        lock_key(f"outbox:{schema}"),
    )
    return pid


@dataclass
class Writer:
    """Writes a few records per transaction, round-robin over ``KEYS``, each key's seq in turn."""

    pool: asyncpg.Pool
    topic: str
    per_transaction: int = 5
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            bodies: list[dict[str, Any]] = []
            for _ in range(self.per_transaction):
                key = KEYS[n % len(KEYS)]
                bodies.append({"id": uuid.uuid4().hex, "key": key, "seq": n // len(KEYS)})
                n += 1
            async with transaction(self.pool) as conn:
                await enqueue(
                    conn,
                    [
                        OutboxRecord(self.topic, b["key"], b["id"], json.dumps(b).encode())
                        for b in bodies
                    ],
                )
            await asyncio.sleep(0.01)


@pytest.fixture
async def writer(
    pool: asyncpg.Pool, topic: str
) -> AsyncIterator[tuple[Writer, asyncio.Task[None]]]:
    writer = Writer(pool, topic)
    task = asyncio.get_running_loop().create_task(writer.run())
    yield writer, task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_relay_whose_lock_session_dies_stops_before_the_standby_publishes(
    stack: StackSettings,
    pool: asyncpg.Pool,
    test_schema: str,
    topic: str,
    consume: Consume,
    writer: tuple[Writer, asyncio.Task[None]],
) -> None:
    writes, writing = writer
    # The standby looks for the lock twice a second instead of every 5 s.
    settings = stack.model_copy(update={"outbox_idle_poll_seconds": 0.5})
    sends = Sends()
    leader = WitnessedRelay("leader", sends, settings, pool, test_schema)
    standby = WitnessedRelay("standby", sends, settings, pool, test_schema)
    kills = 0

    async def standby_leads() -> bool:
        """Kill the leader's lock session whenever it holds the lock, until the standby does."""
        nonlocal kills
        holder = await _lock_holder(pool, test_schema)
        if holder is not None and holder == leader.session_pid:
            assert await pool.fetchval("SELECT pg_terminate_backend($1)", holder)
            kills += 1
        return holder is not None and holder == standby.session_pid

    leader.start()
    try:
        await eventually_async(lambda: len(sends.by("leader")) >= 20, what="the leader publishing")
        standby.start()
        await eventually_async(lambda: standby.standing_by, what="the standby waiting")
        await eventually_async(standby_leads, timeout=30, interval=0.2, what="the standby leading")
        assert kills >= 1
        await eventually_async(
            lambda: len(sends.by("standby")) >= 2000, timeout=60, what="the standby publishing"
        )
        writes.stopping.set()
        await writing
        await eventually_async(
            lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
            lambda unsent: unsent == 0,
            timeout=60,
            what="every record published",
        )
        # Never two publishers: nothing from the old leader once the standby has begun.
        took_over = min(sends.by("standby"))
        late = [at - took_over for at in sends.by("leader") if at >= took_over]
        assert late == [], f"the old leader published {len(late)} records after the standby began"
        # And the old leader noticed: it connected again and waits as a standby.
        await eventually_async(lambda: leader.standing_by, what="the old leader standing by")
    finally:
        await standby.stop()
        await leader.stop()

    # Every key's records arrive in the order written (first copy of each id).
    written = [
        json.loads(row["value"]) for row in await pool.fetch("SELECT value FROM outbox ORDER BY id")
    ]
    ids = {body["id"] for body in written}
    records = await consume(
        topic, until=lambda rs: ids <= {json.loads(r.value)["id"] for r in rs}, timeout=60
    )
    arrived, expected = _first_copies_by_key(records), _by_key(written)
    assert arrived == expected, _first_difference(arrived, expected)


def _first_copies_by_key(records: list[Record]) -> dict[str, list[int]]:
    seen: set[str] = set()
    bodies = []
    for record in records:
        body = json.loads(record.value)
        if body["id"] not in seen:
            seen.add(body["id"])
            bodies.append(body)
    return _by_key(bodies)


def _first_difference(arrived: dict[str, list[int]], expected: dict[str, list[int]]) -> str:
    for key in sorted(expected):
        got, want = arrived.get(key, []), expected[key]
        at = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(len(got), len(want)),
        )
        if got != want:
            return (
                f"{key}: from index {at}, arrived {got[at : at + 8]}, written {want[at : at + 8]}"
            )
    return "same"


def _by_key(bodies: list[dict[str, Any]]) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for body in bodies:
        order.setdefault(body["key"], []).append(body["seq"])
    return order
