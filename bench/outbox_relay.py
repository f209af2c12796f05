"""Benchmark: the transactional outbox, from commit to a plain Kafka consumer.

Writes ``--events`` events in transactions of ``--per-txn`` events each, with a
relay running in-process, and measures how long each event takes from its
transaction's commit to its arrival at an aiokafka consumer, and the sustained
rate. Needs the local stack (``make demo``).

    .venv/bin/python bench/outbox_relay.py --events 5000 --per-txn 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer

from shared.db import apply_migrations, create_pool, transaction
from shared.db.migrations import service_migrations
from shared.events import CloudEvent, source_of
from shared.events.catalogue import ExecutionPhaseChanged
from shared.identifiers import ExecutionIdentifier
from shared.kafka import ensure_topics
from shared.outbox import OutboxMessage, OutboxRelay, enqueue
from shared.phases import ExecutionPhase
from shared.settings import StackSettings
from shared.telemetry import configure_telemetry


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(events: int, per_txn: int, writers: int) -> None:
    settings = StackSettings()
    configure_telemetry("bench-outbox")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    topic = f"bench.{schema}"
    conn = await asyncpg.connect(settings.pg_dsn)
    await apply_migrations(conn, schema, service_migrations(None, "bench"))
    await ensure_topics(settings, [topic])
    pool = await create_pool(settings, schema)
    relay = OutboxRelay(settings, pool, schema)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    relay.start()
    committed_at: dict[str, float] = {}
    received_at: dict[str, float] = {}

    async def consume() -> None:
        while len(received_at) < events:
            batch = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    received_at[json.loads(record.value)["id"]] = now

    async def write(worker: int, count: int) -> None:
        for start in range(0, count, per_txn):
            batch = []
            for i in range(start, min(start + per_txn, count)):
                execution = ExecutionIdentifier(
                    project="bench", domain="development", name=f"w{worker}-{i}"
                )
                event = CloudEvent.wrap(
                    ExecutionPhaseChanged(execution=execution, seq=0, phase=ExecutionPhase.QUEUED),
                    source=source_of("launcher"),
                    subject=execution.urn,
                )
                batch.append(OutboxMessage(topic, execution.key, event))
            async with transaction(pool) as tx:
                await enqueue(tx, batch)
            stamp = time.perf_counter()
            for message in batch:
                committed_at[message.event.id] = stamp

    consuming = asyncio.create_task(consume())
    started = time.perf_counter()
    share = events // writers
    await asyncio.gather(*(write(w, share) for w in range(writers)))
    written = time.perf_counter()
    await asyncio.wait_for(consuming, timeout=120)
    finished = time.perf_counter()

    await relay.stop()
    await consumer.stop()
    await pool.close()
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()

    ms = [(received_at[i] - committed_at[i]) * 1000 for i in committed_at]
    print(f"outbox relay: {events} events, {per_txn} per transaction, {writers} writers")
    print(f"  write (commit) rate     : {events / (written - started):8.0f} events/s")
    print(f"  end-to-end rate         : {events / (finished - started):8.0f} events/s")
    print(
        f"  commit -> consumer (ms) : p50 {statistics.median(ms):.1f}  "
        f"p95 {_percentile(ms, 0.95):.1f}  p99 {_percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--per-txn", type=int, default=1)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.per_txn, args.writers))


if __name__ == "__main__":
    main()
