"""Usage stays exact through faults, on the real stack: the metrics service SIGKILLed in the
middle of ingest and restarted, the Kafka broker restarted mid-ingest, and a rebuild from the
topic's earliest offset: each time the totals equal the sums over the attempts the launcher's
API reports, nothing counted twice. Every test restores the stack, even when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.bootstrap import bootstrap
from services.metrics.domain.query import SummaryQuery
from services.metrics.service_layer.summaries import summarize
from shared.db import create_pool
from shared.settings import MetricsSettings, StackSettings
from tests.eventually import eventually_async
from tests.integration.launcher_support import REPO, Launcher, open_launcher
from tests.integration.registry_support import new_project, open_registry
from tests.integration.resilience_support import kill, restore, wait_finished, wait_gone
from tests.integration.test_usage import check_totals
from tests.integration.usage_support import (
    Expected,
    Usage,
    expected_from_api,
    open_usage,
    register_mix,
)

pytestmark = pytest.mark.integration

BURST = 24


async def launch_burst(launcher: Launcher, project: str) -> list[dict[str, Any]]:
    """A burst of maps and retried tasks (distinct inputs: no cache hits)."""
    unique = uuid.uuid4().hex[:8]
    executions = []
    for i in range(BURST):
        if i % 2:
            body = {"launch_plan": {"name": "wf.map"}, "inputs": {"names": ["a", "b", f"{i}"]}}
        else:
            body = {"launch_plan": {"name": "wf.retry"}, "inputs": {"name": f"{unique}-{i}"}}
        executions.append(await launcher.launch(project, **body))
    return executions


async def ingest_under_way(usage: Usage, project: str) -> int:
    """Until the metrics service has applied some of the project's attempts; how many."""
    row = await eventually_async(
        lambda: usage.totals(project),
        lambda row: row is not None and row["attempts"] > 0,
        timeout=60,
        interval=0.05,
        what=f"some usage of {project} applied",
    )
    assert row is not None
    attempts: int = row["attempts"]
    return attempts


async def finish(launcher: Launcher, project: str, executions: list[dict[str, Any]]) -> Expected:
    ended = [await wait_finished(launcher, execution) for execution in executions]
    return await expected_from_api(launcher, project, ended)


@contextlib.asynccontextmanager
async def metrics_applying_one_event_per_transaction() -> AsyncIterator[None]:
    """The metrics service restarted with a batch of one event (CONTRAIL_METRICS_BATCH_SIZE,
    which the stack hands on to the processes it starts); back to its settings afterwards."""

    async def restart(batch_size: str | None) -> None:
        with pytest.MonkeyPatch.context() as patch:
            if batch_size is not None:
                patch.setenv("CONTRAIL_METRICS_BATCH_SIZE", batch_size)
            resume("metrics")
            with contextlib.suppress(AssertionError):  # not running: nothing to stop
                kill("metrics", signal.SIGTERM)
            await wait_gone("metrics")
            await restore()

    try:
        await restart("1")
        yield
    finally:
        await restart(None)


def resume(component: str) -> None:
    """SIGCONT to ``component`` if it runs (a stopped process would never exit on SIGTERM)."""
    with contextlib.suppress(AssertionError, ProcessLookupError):
        kill(component, signal.SIGCONT)


async def test_metrics_killed_mid_ingest_counts_everything_once(stack: StackSettings) -> None:
    """Killed when a known part of the burst is applied, not all of it, without a race: the
    service is stopped (SIGSTOP) while the burst runs, so its events wait in the topic; it
    resumes applying them one per transaction, is stopped again as soon as some are counted,
    and the count read while it is stopped is the count at the SIGKILL."""
    project = new_project()
    async with open_registry(stack) as registry:
        await register_mix(registry, project)
    async with metrics_applying_one_event_per_transaction():
        try:
            async with open_launcher(stack) as launcher, open_usage(stack) as client:
                usage = Usage(client)
                kill("metrics", signal.SIGSTOP)
                executions = await launch_burst(launcher, project)
                expected = await finish(launcher, project, executions)
                assert expected.executions == BURST
                kill("metrics", signal.SIGCONT)
                await ingest_under_way(usage, project)
                kill("metrics", signal.SIGSTOP)
                applied = await applied_attempts(stack, project)
                kill("metrics", signal.SIGKILL)
                assert 0 < applied < expected.attempts, "not killed in the middle of ingest"
                await wait_gone("metrics")
                await restore()
                row = await usage.wait_totals(project, expected, timeout=90)
                check_totals(row, expected)
        finally:
            resume("metrics")
            await restore()


async def applied_attempts(stack: StackSettings, project: str) -> int:
    """The project's attempts in the metrics service's roll-ups, read from PostgreSQL."""
    conn = await asyncpg.connect(stack.pg_dsn)
    schema = MetricsSettings().schema_name
    try:
        count = await conn.fetchval(
            f'SELECT coalesce(sum(attempts), 0) FROM "{schema}".rollups WHERE project = $1',
            project,
        )
    finally:
        await conn.close()
    return int(count)


async def test_a_restarted_kafka_broker_mid_ingest_loses_and_doubles_nothing(
    stack: StackSettings,
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_mix(registry, project)
    try:
        async with open_launcher(stack) as launcher, open_usage(stack) as client:
            usage = Usage(client)
            executions = await launch_burst(launcher, project)
            applied = await ingest_under_way(usage, project)
            kill("kafka", signal.SIGKILL)
            await wait_gone("kafka")
            await restore()
            expected = await finish(launcher, project, executions)
            assert applied < expected.attempts, "Kafka restarted after ingest had finished"
            row = await usage.wait_totals(project, expected, timeout=120)
            check_totals(row, expected)
    finally:
        await restore()


async def rebuilt_totals(stack: StackSettings, schema: str, project: str) -> dict[str, Any]:
    pool = await create_pool(stack, schema)
    try:
        svc = bootstrap(uow_factory=postgres_uow_factory(pool), settings=MetricsSettings())
        query = SummaryQuery.parse(now=datetime.now(UTC), since="1d", project=project)
        summary = await summarize(svc.uow_factory, svc.prices, query)
    finally:
        await pool.close()
    (row,) = summary.rows
    return row


async def test_rebuild_from_the_earliest_offset_gives_the_live_totals(
    stack: StackSettings,
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_mix(registry, project)
    async with open_launcher(stack) as launcher, open_usage(stack) as client:
        usage = Usage(client)
        executions = await launch_burst(launcher, project)
        expected = await finish(launcher, project, executions)
        live = await usage.wait_totals(project, expected)
    schema = f"metrics_rebuild_{uuid.uuid4().hex[:8]}"
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.metrics",
            "rebuild",
            "--schema",
            schema,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        report = json.loads(out)
        assert report["applied"] > 0
        rebuilt = await rebuilt_totals(stack, schema, project)
    finally:
        conn = await asyncpg.connect(stack.pg_dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
    check_totals(rebuilt, expected)
    assert {k: v for k, v in rebuilt.items() if k in Expected.COUNTS} == {
        k: v for k, v in live.items() if k in Expected.COUNTS
    }
    for measure in ("cost", "cpu_hours", "memory_gb_hours", "task_duration_p90"):
        assert rebuilt[measure] == pytest.approx(live[measure], rel=1e-9)
