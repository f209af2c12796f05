"""What the usage benchmarks share: a fresh metrics schema and synthetic attempts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg

from services.metrics.domain.records import AttemptRecord, ExecutionRecord
from services.metrics.entrypoints.http import MIGRATIONS
from shared.db import apply_migrations
from shared.db.migrations import service_migrations
from shared.settings import StackSettings

MIB = 2**20


async def fresh_schema(stack: StackSettings, schema: str) -> None:
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await apply_migrations(conn, schema, service_migrations(MIGRATIONS, "metrics"))
    finally:
        await conn.close()


def synthetic(
    attempts: int,
    *,
    days: int = 30,
    workflows: int = 50,
    tasks_per_workflow: int = 10,
    workers: int = 4,
    seed: int = 1,
    end: datetime | None = None,
) -> Iterator[tuple[ExecutionRecord, list[AttemptRecord]]]:
    """Executions of ``tasks_per_workflow`` attempts each, spread over ``days`` up to ``end``."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    span = days * 86400
    n = 0
    while n < attempts:
        w = rng.randrange(workflows)
        project, domain = f"proj{w % 5}", "production" if w % 2 else "development"
        workflow = f"wf{w:02d}"
        ended = end - timedelta(seconds=rng.uniform(0, span))
        name = f"x{n}"
        key = f"{project}/{domain}/{name}"
        records = []
        for t in range(min(tasks_per_workflow, attempts - n)):
            wall = rng.lognormvariate(3, 1)
            failed = rng.random() < 0.03
            requested = [256, 512, 1024, 4096][t % 4] * MIB
            records.append(
                AttemptRecord(
                    event_id=f"{key}/{t}",
                    execution_key=key,
                    project=project,
                    domain=domain,
                    execution_name=name,
                    workflow=workflow,
                    launch_plan=workflow,
                    task=f"{workflow}.t{t}",
                    node_id=f"n{t}",
                    attempt=1,
                    phase="FAILED" if failed else "SUCCEEDED",
                    worker=f"worker-{rng.randrange(workers)}",
                    queued_at=None,
                    started_at=ended - timedelta(seconds=wall),
                    ended_at=ended,
                    wall_seconds=wall,
                    cpu_seconds=wall * rng.uniform(0.1, 0.9),
                    peak_memory_bytes=int(requested * rng.uniform(0.05, 0.9)),
                    requested_cpu=1.0,
                    requested_memory_bytes=requested,
                    limit_cpu=2.0,
                    limit_memory_bytes=requested * 2,
                    error_kind="USER" if failed else None,
                    error_code="UserError" if failed else None,
                    labels={"team": f"team{w % 3}"},
                )
            )
        n += len(records)
        execution = ExecutionRecord(
            event_id=f"{key}/end",
            execution_key=key,
            project=project,
            domain=domain,
            name=name,
            workflow=workflow,
            launch_plan=workflow,
            phase="FAILED" if any(r.phase == "FAILED" for r in records) else "SUCCEEDED",
            queued_at=None,
            started_at=ended - timedelta(seconds=sum(r.wall_seconds for r in records)),
            ended_at=ended,
            duration_seconds=sum(r.wall_seconds for r in records),
            labels={"team": f"team{w % 3}"},
            trigger={"kind": "user"},
            at=ended,
        )
        yield execution, records
