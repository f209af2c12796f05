"""Benchmark: freshness, an attempt's event → its use visible in the summaries, under load.

Publishes the events of ``--rate`` executions per second (8 events each, as
``bench/usage_ingest.py``) for ``--seconds`` to a topic of its own, while the
metrics service's consumer (``ingest_consumer``, in this process) applies
them to a fresh schema and a poller asks the summary use case for the total
attempts every 20 ms. The k-th attempt counted is matched to the k-th attempt
event acknowledged by Kafka (partitions may apply a few out of order, so
single latencies are approximate; the distribution is not).

    .venv/bin/python bench/usage_freshness.py --rate 60 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from usage_common import fresh_schema
from usage_ingest import execution_events

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.bootstrap import bootstrap
from services.metrics.domain.query import SummaryQuery
from services.metrics.entrypoints.consumer import ingest_consumer
from services.metrics.service_layer.summaries import summarize
from shared.db import create_pool
from shared.events.catalogue import TaskAttemptPhaseChanged
from shared.events.envelope import CloudEvent
from shared.kafka import ensure_topics, producer_options
from shared.phases import TaskAttemptPhase
from shared.settings import MetricsSettings, StackSettings


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(rate: int, seconds: int) -> None:
    stack = StackSettings()
    topic = f"bench.fresh.{uuid.uuid4().hex[:8]}"
    schema = "bench_usage_fresh"
    await ensure_topics(stack, [topic, f"{topic}.dlq"])
    await fresh_schema(stack, schema)
    pool = await create_pool(stack, schema)
    settings = MetricsSettings()
    svc = bootstrap(uow_factory=postgres_uow_factory(pool), settings=settings)
    consumer = ingest_consumer(settings, svc, group_id=f"bench-{uuid.uuid4().hex[:8]}", topic=topic)
    consuming = asyncio.create_task(consumer.run())
    producer = AIOKafkaProducer(**producer_options(stack, "bench-fresh"))
    await producer.start()
    published: list[float] = []
    visible: list[float] = []
    total = rate * seconds

    async def publish() -> None:
        start = time.perf_counter()
        for n in range(total):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            for data in execution_events(n):
                event = CloudEvent.wrap(data, source="/contrail/launcher")
                sent = await producer.send(
                    topic, event.to_json(), key=f"bench/development/x{n}".encode()
                )
                if (
                    isinstance(data, TaskAttemptPhaseChanged)
                    and data.phase is TaskAttemptPhase.SUCCEEDED
                ):
                    sent.add_done_callback(lambda _: published.append(time.perf_counter()))

    async def poll() -> None:
        query = SummaryQuery.parse(now=datetime.now(UTC), since="1h", until="2099-01-01")
        while len(visible) < total:
            summary = await summarize(svc.uow_factory, svc.prices, query)
            attempts = summary.rows[0]["attempts"] if summary.rows else 0
            now = time.perf_counter()
            visible.extend([now] * (attempts - len(visible)))
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(asyncio.gather(publish(), poll()), timeout=seconds * 4 + 60)
    finally:
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
        await producer.stop()
        await pool.close()
    latencies = [v - p for p, v in zip(sorted(published), visible, strict=False)]
    print(
        f"{total} executions at {rate}/s ({total * 8} events): attempt event acknowledged → "
        f"in the summary: p50 {1000 * _percentile(latencies, 0.5):.0f} ms, "
        f"p99 {1000 * _percentile(latencies, 0.99):.0f} ms, "
        f"max {1000 * max(latencies):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=60)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
