"""The usage views over PostgreSQL: the local BI login (a member of contrail_usage_reader)
reads the views, whose sums are those of the events applied, and can neither read the
tables under them nor write anything."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.entrypoints.http import MIGRATIONS
from services.metrics.service_layer.ingest import apply_events
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


@pytest.fixture
async def schema(stack: StackSettings) -> AsyncIterator[str]:
    name = f"test_usage_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, name, service_migrations(MIGRATIONS, "metrics"))
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


READER = ("contrail_bi", "contrail_bi")
"""The local stack's BI login, a member of contrail_usage_reader (contrail demo up makes it)."""


def attempt(n: int, wall: float) -> CloudEvent[TaskAttemptPhaseChanged]:
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
            resources_requested=Resources(requests=ResourceSpec(cpu=2.0, memory_bytes=GIB)),
            resources_used=ResourceUsage(
                cpu_seconds=wall / 2, peak_memory_bytes=GIB // 4, wall_seconds=wall
            ),
            ended_at=datetime.now(UTC) - timedelta(minutes=5),
        ),
        source="/contrail/launcher",
    )


async def test_a_reader_sees_the_views_and_nothing_else(stack: StackSettings, schema: str) -> None:
    pool = await create_pool(stack, schema)
    try:
        await apply_events(postgres_uow_factory(pool), [attempt(1, 3600.0), attempt(2, 1800.0)])
    finally:
        await pool.close()
    login, password = READER
    conn = await asyncpg.connect(
        host=stack.pg_host,
        port=stack.pg_port,
        user=login,
        password=password,
        database=stack.pg_database,
        server_settings={"search_path": schema},
    )
    try:
        daily = await conn.fetchrow(
            "SELECT sum(attempts) AS attempts, sum(cpu_hours) AS cpu, "
            "sum(cpu_hours_reserved) AS reserved, sum(memory_gb_hours_reserved) AS memory "
            "FROM usage_daily WHERE project = 'p'"
        )
        assert daily is not None
        assert daily["attempts"] == 2
        assert daily["cpu"] == pytest.approx(0.75)
        assert daily["reserved"] == pytest.approx(3.0)
        assert daily["memory"] == pytest.approx(1.5)
        rows = await conn.fetch("SELECT task, cpu_hours_reserved FROM usage_attempts")
        assert sorted(r["cpu_hours_reserved"] for r in rows) == [1.0, 2.0]
        assert await conn.fetchval("SELECT sum(attempts) FROM usage_hourly") == 2
        assert await conn.fetchval("SELECT count(*) FROM usage_executions") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM rollups")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM attempts")
        with pytest.raises(
            (
                asyncpg.InsufficientPrivilegeError,
                asyncpg.ObjectNotInPrerequisiteStateError,
                asyncpg.FeatureNotSupportedError,
            )
        ):
            await conn.execute("DELETE FROM usage_attempts")
    finally:
        await conn.close()
