"""Benchmark: metrics ingest, events per second and the CPU it takes.

Publishes ``--executions`` synthetic executions' events to a topic of its own
(each execution: QUEUED, RUNNING, SUCCEEDED; its node's RUNNING and
SUCCEEDED; its attempt's QUEUED, RUNNING, SUCCEEDED: 8 events), then consumes
them with the metrics service's own consumer (``ingest_consumer``: the typed
BatchConsumer, one transaction per batch, dedupe, roll-ups) into a fresh
schema, in this process, and reports events/s and this process's CPU seconds.
PostgreSQL's and Kafka's CPU are not counted. Needs the local stack.

    .venv/bin/python bench/usage_ingest.py --executions 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from usage_common import fresh_schema

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.bootstrap import bootstrap
from services.metrics.entrypoints.consumer import ingest_consumer
from shared.db import create_pool
from shared.events.catalogue import (
    ExecutionPhaseChanged,
    NodePhaseChanged,
    Resources,
    ResourceSpec,
    ResourceUsage,
    TaskAttemptPhaseChanged,
)
from shared.events.envelope import CloudEvent, EventData
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.kafka import ensure_topics, producer_options
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from shared.settings import MetricsSettings, StackSettings

MIB = 2**20


def execution_events(n: int) -> list[EventData]:
    execution = ExecutionIdentifier(project="bench", domain="development", name=f"x{n}")
    workflow = Identifier(
        resource_type=ResourceType.WORKFLOW,
        project="bench",
        domain="development",
        name=f"wf{n % 50}",
        version="v1",
    )
    task = workflow.model_copy(update={"resource_type": ResourceType.TASK, "name": f"t{n % 500}"})
    now = datetime.now(UTC)
    attempt = {
        "execution": execution,
        "workflow": workflow,
        "node_id": "n0",
        "task": task,
        "attempt": 1,
        "worker_id": f"w{n % 4}",
        "resources_requested": Resources(requests=ResourceSpec(cpu=1, memory_bytes=256 * MIB)),
    }
    return [
        ExecutionPhaseChanged(
            execution=execution, workflow=workflow, seq=0, phase=ExecutionPhase.QUEUED
        ),
        ExecutionPhaseChanged(
            execution=execution, workflow=workflow, seq=1, phase=ExecutionPhase.RUNNING
        ),
        TaskAttemptPhaseChanged(**attempt, seq=2, phase=TaskAttemptPhase.QUEUED),
        NodePhaseChanged(
            execution=execution, workflow=workflow, seq=3, node_id="n0", phase=NodePhase.RUNNING
        ),
        TaskAttemptPhaseChanged(**attempt, seq=4, phase=TaskAttemptPhase.RUNNING),
        TaskAttemptPhaseChanged(
            **attempt,
            seq=5,
            phase=TaskAttemptPhase.SUCCEEDED,
            resources_used=ResourceUsage(
                cpu_seconds=0.5 + n % 7,
                peak_memory_bytes=(20 + n % 90) * MIB,
                wall_seconds=1 + n % 13,
            ),
            ended_at=now,
        ),
        NodePhaseChanged(
            execution=execution, workflow=workflow, seq=6, node_id="n0", phase=NodePhase.SUCCEEDED
        ),
        ExecutionPhaseChanged(
            execution=execution,
            workflow=workflow,
            seq=7,
            phase=ExecutionPhase.SUCCEEDED,
            started_at=now - timedelta(seconds=2 + n % 13),
            ended_at=now,
            duration_seconds=2 + n % 13,
        ),
    ]


async def run(executions: int, batch: int) -> None:
    stack = StackSettings()
    topic = f"bench.usage.{uuid.uuid4().hex[:8]}"
    schema = "bench_usage_ingest"
    await ensure_topics(stack, [topic, f"{topic}.dlq"])
    await fresh_schema(stack, schema)
    producer = AIOKafkaProducer(**producer_options(stack, "bench-usage"), linger_ms=20)
    await producer.start()
    total = 0
    try:
        for n in range(executions):
            for data in execution_events(n):
                event = CloudEvent.wrap(data, source="/contrail/launcher")
                await producer.send(topic, event.to_json(), key=f"bench/development/x{n}".encode())
                total += 1
        await producer.flush()
    finally:
        await producer.stop()
    print(f"published {total} events to {topic}")

    pool = await create_pool(
        stack,
        schema,
    )
    settings = MetricsSettings(metrics_batch_size=batch)
    svc = bootstrap(uow_factory=postgres_uow_factory(pool), settings=settings)
    consumer = ingest_consumer(settings, svc, group_id=f"bench-{uuid.uuid4().hex[:8]}", topic=topic)
    wall, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(consumer.run())
    try:
        while True:
            applied = await pool.fetchval("SELECT events FROM ingest_progress WHERE id = 1")
            if applied >= total:
                break
            await asyncio.sleep(0.05)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        attempts = int(await pool.fetchval("SELECT sum(attempts) FROM rollups"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()
    print(
        f"applied {total} events ({attempts} attempts) in {wall:.1f}s: "
        f"{total / wall:,.0f} events/s; "
        f"the consumer's process used {cpu:.1f} CPU-s ({100 * cpu / wall:.0f}% of one core), "
        f"batches of up to {batch}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.executions, args.batch))


if __name__ == "__main__":
    main()
