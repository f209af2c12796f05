"""The scheduler on the real stack: cron ticks fire one execution each, exactly once.

Most tests drive the scheduler's service layer with an explicit ``now`` a day
after the activation (so that the stack's own scheduler loop, which fires
real ticks, never reaches those ticks); one waits for a real tick.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.launcher.adapters.executions import ExecutionCaches
from services.launcher.adapters.registry import RegistryClient
from services.launcher.adapters.schedules import RegistryLaunchPlans, ScheduleRow
from services.launcher.adapters.unit_of_work import postgres_uow_factory
from services.launcher.domain import MachineSettings
from services.launcher.domain.schedule import CatchUp, tick_execution_name
from services.launcher.service_layer.engine import Engine
from services.launcher.service_layer.launch import Launcher
from services.launcher.service_layer.scheduler import SCHEDULE_LABEL, Scheduler, kickoff_value
from services.launcher.service_layer.unit_of_work import LauncherUoWFactory
from shared.db import create_pool
from shared.events.topics import EXECUTIONS
from shared.identifiers import Identifier, ResourceType
from shared.literals import DATETIME, STR
from shared.settings import StackSettings
from shared.specs import (
    InputBinding,
    OutputBinding,
    Parameter,
    Schedule,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.auth import auth_headers
from tests.eventually import eventually_async
from tests.integration.launcher_support import (
    TERMINAL,
    execution_ended,
    execution_events,
    hello_task,
    open_launcher,
    tail,
)
from tests.integration.registry_support import (
    Registry,
    launch_plan,
    new_project,
    open_registry,
    task_node,
)

pytestmark = pytest.mark.integration

LP_NAME = "wf.every_minute"
VERSION = "v1"


def lp_identifier(project: str) -> Identifier:
    return Identifier(
        resource_type=ResourceType.LAUNCH_PLAN,
        project=project,
        domain="development",
        name=LP_NAME,
        version=VERSION,
    )


def scheduled_workflow() -> WorkflowSpec:
    """``wf.scheduled(kickoff: datetime, name: str = "world") -> str``: say_hello(name)."""
    return WorkflowSpec(
        name="wf.scheduled",
        interface=TypedInterface(
            inputs={
                "kickoff": Parameter(type=DATETIME),
                "name": Parameter(type=STR, default="world", required=False),
            },
            outputs={"o0": Variable(type=STR)},
        ),
        nodes=[task_node("n0", "wf.say_hello", {"name": InputBinding(input="name")})],
        outputs={"o0": OutputBinding(node="n0", output="o0")},
    )


async def register_every_minute(registry: Registry, project: str) -> Identifier:
    """Register a workflow and its ``* * * * *`` launch plan, and activate it."""
    await registry.ok(ResourceType.TASK, project, VERSION, hello_task())
    await registry.ok(ResourceType.WORKFLOW, project, VERSION, scheduled_workflow())
    lp = launch_plan(
        LP_NAME,
        "wf.scheduled",
        default_inputs={"name": "cron"},
        schedule=Schedule(cron="* * * * *", kickoff_time_input="kickoff"),
    )
    await registry.ok(ResourceType.LAUNCH_PLAN, project, VERSION, lp)
    await set_state(registry, project, "activate")
    return lp_identifier(project)


async def set_state(registry: Registry, project: str, action: str) -> None:
    response = await registry.client.post(
        f"/api/v1/launch_plans/{project}/development/{LP_NAME}/{VERSION}/{action}"
    )
    assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Harness:
    """The scheduler's service layer, wired as the launcher wires it, on its schema."""

    pool: asyncpg.Pool
    uow_factory: LauncherUoWFactory
    launcher: Launcher
    registry: RegistryLaunchPlans

    def scheduler(self, catch_up: CatchUp = CatchUp.LATEST) -> Scheduler:
        return Scheduler(self.uow_factory, self.launcher, self.registry, catch_up=catch_up)

    async def schedule(self, lp: Identifier) -> ScheduleRow | None:
        """The launcher's schedule row of ``lp``, if any."""
        async with self.uow_factory(atomic=False) as uow:
            return await uow.schedules.get(lp)

    async def scheduled(self, lp: Identifier, present: bool = True, timeout: float = 60.0) -> Any:
        """The launcher's schedule row of ``lp`` once it is there (or gone)."""
        return await eventually_async(
            lambda: self.schedule(lp),
            lambda row: (row is not None) == present,
            timeout=timeout,
            what=f"{lp.urn} {'scheduled' if present else 'unscheduled'}",
        )

    async def executions(self, project: str, since: datetime | None = None) -> list[asyncpg.Record]:
        """The scheduled executions of ``project`` (ticks at or after ``since``), by tick."""
        return list(
            await self.pool.fetch(
                """SELECT name, inputs, labels, scheduled_at FROM executions
                   WHERE project = $1 AND scheduled_at IS NOT NULL
                     AND ($2::timestamptz IS NULL OR scheduled_at >= $2)
                   ORDER BY scheduled_at""",
                project,
                since,
            )
        )


@pytest.fixture
async def harness(stack: StackSettings) -> AsyncIterator[Harness]:
    pool = await create_pool(stack, "launcher")
    uow_factory = postgres_uow_factory(pool, ExecutionCaches())
    engine = Engine(uow_factory, MachineSettings())
    registry_client = RegistryClient(stack.gateway_url, headers=auth_headers())
    launch_plans = RegistryLaunchPlans(stack.gateway_url, headers=auth_headers())
    try:
        yield Harness(pool, uow_factory, Launcher(engine, registry_client), launch_plans)
    finally:
        await launch_plans.close()
        await registry_client.close()
        await pool.close()


@asynccontextmanager
async def every_minute(
    stack: StackSettings, harness: Harness
) -> AsyncIterator[tuple[Identifier, datetime]]:
    """An active ``* * * * *`` launch plan in a new project, and a minute a day after
    its activation; deactivated afterwards."""
    project = new_project()
    async with open_registry(stack) as registry:
        lp = await register_every_minute(registry, project)
        row = await harness.scheduled(lp)
        base = row.active_since.replace(second=0, microsecond=0) + timedelta(days=1)
        try:
            yield lp, base
        finally:
            await set_state(registry, project, "deactivate")


def at(base: datetime, minutes: int) -> datetime:
    return base + timedelta(minutes=minutes)


async def test_a_tick_fires_one_execution_with_its_name_and_kickoff_input(
    stack: StackSettings, harness: Harness
) -> None:
    scheduler = harness.scheduler()
    async with every_minute(stack, harness) as (lp, base):
        fired = await scheduler.fire_due(base, project=lp.project)
        assert [(f.tick, f.created) for f in fired] == [(base, True)]
        name = tick_execution_name(lp, base)
        assert fired[0].execution_name == name
        stored = await harness.executions(lp.project, base)
        assert [r["name"] for r in stored] == [name]
        assert stored[0]["scheduled_at"] == base
        async with open_launcher(stack) as launcher:
            execution = await launcher.get({"execution_id": f"{lp.project}/development/{name}"})
            done = await launcher.wait(execution, TERMINAL, timeout=60)
    assert execution["launch_plan"]["name"] == LP_NAME
    assert execution["inputs"] == {"kickoff": kickoff_value(base), "name": "cron"}
    assert kickoff_value(base).endswith(":00Z")
    assert execution["labels"] == {SCHEDULE_LABEL: "true"}
    assert done["phase"] == "SUCCEEDED", done
    assert done["outputs"] == {"o0": "hello cron"}
    row = await harness.schedule(lp)
    assert row is not None
    assert row.last_tick == base
    assert row.last_error is None


async def test_a_tick_fired_twice_or_after_a_restart_creates_one_execution(
    stack: StackSettings, harness: Harness
) -> None:
    async with every_minute(stack, harness) as (lp, base):
        # Two launchers at once: one fires, the other finds the schedule busy or done.
        both = await asyncio.gather(
            harness.scheduler().fire_due(base, project=lp.project),
            harness.scheduler().fire_due(base, project=lp.project),
        )
        assert sorted(len(fired) for fired in both) == [0, 1]
        # The same call again: the tick is recorded, nothing is due.
        assert await harness.scheduler().fire_due(base, project=lp.project) == []
        # A launcher that died after creating the execution, before recording the tick.
        await harness.pool.execute(
            "UPDATE schedules SET last_tick = $5 "
            "WHERE project = $1 AND domain = $2 AND name = $3 AND version = $4",
            lp.project,
            lp.domain,
            lp.name,
            lp.version,
            at(base, -1),
        )
        again = await harness.scheduler().fire_due(base, project=lp.project)
        assert [(f.tick, f.created) for f in again] == [(base, False)]
        stored = await harness.executions(lp.project, at(base, -1))
        assert [r["name"] for r in stored] == [tick_execution_name(lp, base)]
        row = await harness.schedule(lp)
        assert row is not None
        assert row.last_tick == base


async def test_missed_ticks_fire_only_the_latest_by_default(
    stack: StackSettings, harness: Harness
) -> None:
    scheduler = harness.scheduler()
    async with every_minute(stack, harness) as (lp, base):
        await scheduler.fire_due(base, project=lp.project)
        # Ten minutes of downtime: ticks base+1 .. base+10 were missed.
        fired = await scheduler.fire_due(at(base, 10) + timedelta(seconds=30), project=lp.project)
        assert [(f.tick, f.created) for f in fired] == [(at(base, 10), True)]
        stored = await harness.executions(lp.project, base)
        assert [r["scheduled_at"] for r in stored] == [base, at(base, 10)]
        assert [r["name"] for r in stored] == [
            tick_execution_name(lp, base),
            tick_execution_name(lp, at(base, 10)),
        ]


async def test_missed_ticks_all_fire_in_order_with_catch_up_all(
    stack: StackSettings, harness: Harness
) -> None:
    async with every_minute(stack, harness) as (lp, base):
        await harness.scheduler().fire_due(base, project=lp.project)
        fired = await harness.scheduler(CatchUp.ALL).fire_due(at(base, 4), project=lp.project)
        expected = [at(base, m) for m in range(1, 5)]
        assert [(f.tick, f.created) for f in fired] == [(t, True) for t in expected]
        stored = await harness.executions(lp.project, base)
        assert [r["scheduled_at"] for r in stored] == [base, *expected]
        for record in stored:
            tick = record["scheduled_at"]
            assert record["name"] == tick_execution_name(lp, tick)
            assert json.loads(record["inputs"])["kickoff"] == kickoff_value(tick)
            assert json.loads(record["labels"]) == {SCHEDULE_LABEL: "true"}


async def test_deactivation_stops_the_ticks(stack: StackSettings, harness: Harness) -> None:
    scheduler = harness.scheduler()
    async with every_minute(stack, harness) as (lp, base):
        await scheduler.fire_due(base, project=lp.project)
        async with open_registry(stack) as registry:
            await set_state(registry, lp.project, "deactivate")
        await harness.scheduled(lp, present=False)
        assert await scheduler.fire_due(at(base, 30), project=lp.project) == []
        # An activation replayed from Kafka does not bring an inactive plan back.
        assert not await scheduler.activated(lp, base)
        assert await harness.schedule(lp) is None
        assert [r["scheduled_at"] for r in await harness.executions(lp.project, base)] == [base]


async def test_reactivation_after_deactivation_fires_again(
    stack: StackSettings, harness: Harness
) -> None:
    scheduler = harness.scheduler()
    async with every_minute(stack, harness) as (lp, base), open_registry(stack) as registry:
        await set_state(registry, lp.project, "deactivate")
        await harness.scheduled(lp, present=False)
        await set_state(registry, lp.project, "activate")
        await harness.scheduled(lp)
        fired = await scheduler.fire_due(base, project=lp.project)
        assert [(f.tick, f.created) for f in fired] == [(base, True)]


async def test_the_launcher_fires_a_real_tick(stack: StackSettings, harness: Harness) -> None:
    """Waits for the next minute (at most ~60 s) and the stack's own scheduler loop."""
    async with every_minute(stack, harness) as (lp, _):
        row = await harness.schedule(lp)
        assert row is not None
        stored = await eventually_async(
            lambda: harness.executions(lp.project), timeout=75, interval=0.5, what="a tick fired"
        )
        tick = stored[0]["scheduled_at"]
        assert tick > row.active_since
        assert (tick.second, tick.microsecond) == (0, 0)
        assert tick - row.active_since <= timedelta(minutes=1)
        assert stored[0]["name"] == tick_execution_name(lp, tick)
        assert json.loads(stored[0]["inputs"])["kickoff"] == kickoff_value(tick)
        async with open_launcher(stack) as launcher:
            execution = {"execution_id": f"{lp.project}/development/{stored[0]['name']}"}
            done = await launcher.wait(execution, TERMINAL, timeout=60)
        assert done["phase"] == "SUCCEEDED", done
        assert datetime.fromisoformat(done["scheduled_at"]) == tick
        # The loop keeps the tick recorded: it does not fire it again (watched for 2 s,
        # more than a round of the stack's scheduler loop).
        await asyncio.sleep(2)
        assert len(await harness.executions(lp.project)) == 1


async def test_a_scheduled_executions_events_name_the_schedule_and_its_tick(
    stack: StackSettings, harness: Harness
) -> None:
    async with (
        every_minute(stack, harness) as (lp, base),
        tail(stack, EXECUTIONS, lp.project) as events,
    ):
        fired = await harness.scheduler().fire_due(base, project=lp.project)
        assert [(f.tick, f.created) for f in fired] == [(base, True)]
        execution_id = f"{lp.project}/development/{fired[0].execution_name}"
        records = await events.drain(until=execution_ended(execution_id), timeout=60)
    changes = [
        e["data"]
        for e in execution_events(records, execution_id)
        if e["type"] == "contrail.execution.phase_changed"
    ]
    assert [c["phase"] for c in changes] == ["QUEUED", "RUNNING", "SUCCEEDED"], changes
    for change in changes:
        assert change["trigger"]["kind"] == "schedule"
        assert datetime.fromisoformat(change["trigger"]["scheduled_at"]) == base
        assert change["labels"] == {SCHEDULE_LABEL: "true"}
        assert change["launch_plan"]["name"] == LP_NAME
