"""The same summary answered from the coarse roll-ups (per workflow, hourly and daily) and from
the fine hourly one is equal, on PostgreSQL: sums, maxima and duration sketches."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.metrics.adapters.tables import PostgresRollups
from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.domain.levels import FINE, LEVELS, WORKFLOW_DAILY, plan
from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import Rollup
from services.metrics.entrypoints.http import MIGRATIONS
from services.metrics.service_layer.ingest import apply_events
from services.metrics.service_layer.unit_of_work import RollupGroup
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.events.catalogue import (
    Resources,
    ResourceSpec,
    ResourceUsage,
    TaskAttemptPhaseChanged,
)
from shared.events.envelope import CloudEvent
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.phases import TaskAttemptPhase
from shared.settings import StackSettings

pytestmark = pytest.mark.integration

GIB = 2**30
NOW = datetime.now(UTC)


@pytest.fixture
async def schema(stack: StackSettings) -> AsyncIterator[str]:
    name = f"test_levels_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, name, service_migrations(MIGRATIONS, "metrics"))
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


def attempt(n: int) -> CloudEvent[TaskAttemptPhaseChanged]:
    """Attempts of 3 tasks on 2 workers, spread over 4 days, every 7th failed."""
    execution = ExecutionIdentifier(project="p", domain="d", name=f"x{n}")
    task = Identifier(
        resource_type=ResourceType.TASK, project="p", domain="d", name=f"t{n % 3}", version="v"
    )
    wall = float(1 + n % 11)
    return CloudEvent.wrap(
        TaskAttemptPhaseChanged(
            execution=execution,
            seq=2,
            node_id="n0",
            task=task,
            attempt=1 + n % 2,
            phase=TaskAttemptPhase.FAILED if n % 7 == 0 else TaskAttemptPhase.SUCCEEDED,
            worker_id=f"w{n % 2}",
            resources_requested=Resources(requests=ResourceSpec(cpu=2.0, memory_bytes=GIB)),
            resources_used=ResourceUsage(
                cpu_seconds=wall / 2, peak_memory_bytes=GIB // (1 + n % 4), wall_seconds=wall
            ),
            ended_at=NOW - timedelta(hours=n * 97 % (4 * 24), minutes=n % 60),
        ),
        source="/contrail/launcher",
    )


async def test_coarse_and_fine_rollups_answer_the_same_summary(
    stack: StackSettings, schema: str
) -> None:
    pool = await create_pool(stack, schema)
    try:
        uow_factory = postgres_uow_factory(pool)
        await apply_events(uow_factory, [attempt(n) for n in range(200)])
        query = SummaryQuery.parse(now=NOW, since="5d", group_by=["workflow"], time="day")
        assert WORKFLOW_DAILY in [part.level for part in plan(query)]
        async with pool.acquire() as conn, conn.transaction():
            coarse = await PostgresRollups(conn, LEVELS).read(query, extra=("project", "domain"))
            fine = await PostgresRollups(conn, (FINE,)).read(query, extra=("project", "domain"))
            coarse_sketches = await PostgresRollups(conn, LEVELS).sketches(
                query, None, ("task_durations",)
            )
            fine_sketches = await PostgresRollups(conn, (FINE,)).sketches(
                query, None, ("task_durations",)
            )
    finally:
        await pool.close()

    def by_key(groups: list[RollupGroup]) -> dict[tuple[str, datetime], Rollup]:
        return {(g.values["workflow"], g.values["time"]): g.rollup for g in groups}

    assert sum(rollup.attempts for rollup in by_key(fine).values()) == 200
    assert by_key(coarse) == by_key(fine)
    assert coarse_sketches == fine_sketches
