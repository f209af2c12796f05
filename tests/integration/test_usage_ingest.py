"""Metrics ingest on the real Kafka and PostgreSQL, on a topic and schema of its own: a
malformed record and an event of an unknown type go to the dead-letter topic and ingest goes
on; a redelivered event (the same id again) changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.bootstrap import bootstrap
from services.metrics.domain.query import SummaryQuery
from services.metrics.entrypoints.consumer import ingest_consumer
from services.metrics.entrypoints.http import MIGRATIONS
from services.metrics.service_layer.summaries import summarize
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.events.catalogue import (
    ResourceUsage,
    TaskAttemptPhaseChanged,
)
from shared.events.envelope import CloudEvent
from shared.events.topics import dead_letter
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.kafka import DLQ_REASON, ensure_topics
from shared.phases import TaskAttemptPhase
from shared.settings import MetricsSettings, StackSettings
from tests.eventually import eventually_async
from tests.integration.conftest import Consume

pytestmark = pytest.mark.integration


@pytest.fixture
async def metrics_pool(stack: StackSettings) -> AsyncIterator[asyncpg.Pool]:
    schema = f"test_metrics_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, schema, service_migrations(MIGRATIONS, "metrics"))
        pool = await create_pool(stack, schema)
        yield pool
        await pool.close()
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def attempt_event(n: int) -> CloudEvent[TaskAttemptPhaseChanged]:
    execution = ExecutionIdentifier(project="p", domain="d", name=f"x{n}")
    task = Identifier(
        resource_type=ResourceType.TASK, project="p", domain="d", name="t", version="v"
    )
    return CloudEvent.wrap(
        TaskAttemptPhaseChanged(
            execution=execution,
            seq=2,
            node_id="n0",
            task=task,
            attempt=1,
            phase=TaskAttemptPhase.SUCCEEDED,
            resources_used=ResourceUsage(cpu_seconds=1.0, peak_memory_bytes=1, wall_seconds=2.0),
            ended_at=datetime.now(UTC) - timedelta(minutes=1),
        ),
        source="/contrail/launcher",
    )


async def test_bad_records_are_dead_lettered_and_redeliveries_change_nothing(
    stack: StackSettings, metrics_pool: asyncpg.Pool, consume: Consume
) -> None:
    topic = f"test.executions.{uuid.uuid4().hex[:8]}"
    await ensure_topics(stack, [topic, dead_letter(topic)])
    settings = MetricsSettings()
    svc = bootstrap(uow_factory=postgres_uow_factory(metrics_pool), settings=settings)
    first, second = attempt_event(1), attempt_event(2)
    unknown = {**json.loads(first.to_json()), "id": "u1", "type": "contrail.nothing.happened"}
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for value in (
            first.to_json(),
            b"{not json",
            json.dumps(unknown).encode(),
            second.to_json(),
            first.to_json(),  # redelivered
        ):
            await producer.send_and_wait(topic, value, key=b"p/d")
    finally:
        await producer.stop()

    consumer = ingest_consumer(settings, svc, group_id=f"test-{uuid.uuid4().hex[:8]}", topic=topic)
    task = asyncio.create_task(consumer.run())
    try:
        query = SummaryQuery.parse(now=datetime.now(UTC), since="1d")

        async def totals() -> dict[str, object]:
            rows = (await summarize(svc.uow_factory, svc.prices, query)).rows
            return rows[0] if rows else {}

        row = await eventually_async(
            totals, lambda row: row.get("attempts") == 2, timeout=30, what="two attempts applied"
        )
        assert row["wall_hours"] == pytest.approx(4.0 / 3600)
        dead = await consume(dead_letter(topic), until=lambda records: len(records) >= 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(dead) == 2
    reasons = [record.headers[DLQ_REASON].decode() for record in dead]
    assert "undecodable" in reasons[0]
    assert "contrail.nothing.happened" in reasons[1]
    assert (await totals())["attempts"] == 2
