"""``python -m services.metrics rebuild``: replay contrail.executions from its earliest offset.

The events are applied, by the same use case as live ingest, into fresh
tables: a schema of their own (``metrics_rebuild`` by default), dropped and
migrated first. The replay reads up to the end offsets it found when it
started, then prints the totals, which equal live ingest's. A new
deployment or a schema change catches up this way; the service is then
pointed at the rebuilt schema (docs/usage.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.bootstrap import bootstrap
from services.metrics.domain.query import SummaryQuery
from services.metrics.entrypoints.consumer import decode
from services.metrics.entrypoints.http import MIGRATIONS
from services.metrics.service_layer.ingest import apply_events
from services.metrics.service_layer.summaries import summarize
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.events.envelope import CloudEvent
from shared.events.topics import EXECUTIONS
from shared.settings import MetricsSettings

log = logging.getLogger(__name__)

ALL_TIME = SummaryQuery(
    since=datetime(1970, 1, 1, tzinfo=UTC), until=datetime(9999, 1, 1, tzinfo=UTC)
)


async def fresh_schema(settings: MetricsSettings, schema: str) -> None:
    conn = await asyncpg.connect(settings.pg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await apply_migrations(conn, schema, service_migrations(MIGRATIONS, "metrics"))
    finally:
        await conn.close()


async def topic_partitions(settings: MetricsSettings) -> list[int]:
    """contrail.executions' partitions (a consumer without a group learns none by itself)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="contrail-metrics-rebuild"
    )
    await admin.start()
    try:
        described = await admin.describe_topics([EXECUTIONS])
    finally:
        await admin.close()
    return sorted(
        partition["partition"]
        for topic in described
        if topic.get("topic") == EXECUTIONS and not topic.get("error_code")
        for partition in topic.get("partitions", ())
    )


async def replay(
    settings: MetricsSettings, pool: asyncpg.Pool, batch: int = 2000
) -> dict[str, int]:
    """Apply every event of the topic up to its end offsets now; return counts."""
    uow_factory = postgres_uow_factory(pool)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="contrail-metrics-rebuild",
    )
    await consumer.start()
    counts = {"read": 0, "applied": 0, "skipped": 0}
    try:
        partitions = [TopicPartition(EXECUTIONS, p) for p in await topic_partitions(settings)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=batch)
            events: list[CloudEvent[Any]] = []
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    counts["read"] += 1
                    try:
                        events.append(decode(record))
                    except Exception as exc:  # dead-lettered by live ingest already
                        counts["skipped"] += 1
                        log.warning("skipping an undecodable record", extra={"error": str(exc)})
            counts["applied"] += await apply_events(uow_factory, events)
    finally:
        await consumer.stop()
    return counts


async def rebuild(settings: MetricsSettings, schema: str) -> dict[str, Any]:
    await fresh_schema(settings, schema)
    pool = await create_pool(settings, schema)
    try:
        counts = await replay(settings, pool)
        svc = bootstrap(uow_factory=postgres_uow_factory(pool), settings=settings)
        summary = await summarize(svc.uow_factory, svc.prices, ALL_TIME)
    finally:
        await pool.close()
    totals = summary.rows[0] if summary.rows else {}
    return {"schema": schema, **counts, "totals": totals}


def main(schema: str) -> None:
    result = asyncio.run(rebuild(MetricsSettings(), schema))
    print(json.dumps(result, indent=2, default=str))
