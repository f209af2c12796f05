"""The engine applies a batch of workers' reports in one transaction, on the real stack.

The test plays the engine's consumer: it hands its own ``Engine`` (on the
launcher's schema) a batch of reports about attempts that the stack's worker
is running, as Kafka would hand them over, and reads back the events that
batch published. The stack's own reports about the same attempts arrive later
and change nothing: the attempts have ended.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.launcher.adapters.executions import ExecutionCaches, ExecutionRepository
from services.launcher.adapters.unit_of_work import postgres_uow_factory
from services.launcher.domain import MachineSettings
from services.launcher.service_layer.engine import Engine
from shared.db import create_pool, transaction
from shared.dispatch import AttemptReport, ReportKind
from shared.events.topics import EXECUTIONS
from shared.identifiers import ExecutionIdentifier, ResourceType
from shared.literals import STR
from shared.settings import StackSettings
from shared.specs import (
    InputBinding,
    OutputBinding,
    Parameter,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.eventually import eventually_async
from tests.integration.launcher_support import (
    TERMINAL,
    Launcher,
    code_task,
    describe,
    execution_ended,
    execution_events,
    open_launcher,
    tail,
)
from tests.integration.registry_support import launch_plan, new_project, open_registry, task_node

pytestmark = pytest.mark.integration


def two_naps() -> WorkflowSpec:
    """``wf.two_naps(a: str, b: str) -> (o0, o1)``: two parallel ``nap`` nodes."""
    return WorkflowSpec(
        name="wf.two_naps",
        interface=TypedInterface(
            inputs={"a": Parameter(type=STR), "b": Parameter(type=STR)},
            outputs={"o0": Variable(type=STR), "o1": Variable(type=STR)},
        ),
        nodes=[
            task_node("n0", "wf.nap", {"name": InputBinding(input="a")}),
            task_node("n1", "wf.nap", {"name": InputBinding(input="b")}),
        ],
        outputs={
            "o0": OutputBinding(node="n0", output="o0"),
            "o1": OutputBinding(node="n1", output="o0"),
        },
    )


@pytest.fixture
async def pool(stack: StackSettings) -> AsyncIterator[asyncpg.Pool]:
    pool: asyncpg.Pool = await create_pool(stack, "launcher")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def engine(pool: asyncpg.Pool) -> Engine:
    return Engine(postgres_uow_factory(pool, ExecutionCaches()), MachineSettings())


async def running(launcher: Launcher, project: str) -> dict[str, Any]:
    """A new ``wf.two_naps`` execution once the worker runs both of its (long) naps."""
    execution = await launcher.launch(
        project, launch_plan={"name": "wf.two_naps"}, inputs={"a": "a-100", "b": "b-100"}
    )

    async def phases() -> list[str | None]:
        nodes = await launcher.nodes(execution)
        return [n["attempts"][-1]["phase"] if n["attempts"] else None for n in nodes]

    await eventually_async(
        phases, lambda now: now == ["RUNNING", "RUNNING"], timeout=20, what="both naps RUNNING"
    )
    return execution


def succeeded(execution: dict[str, Any], node: str, output: str, at: datetime) -> AttemptReport:
    project, domain, name = execution["execution_id"].split("/")
    return AttemptReport(
        report_id=str(uuid.uuid4()),
        kind=ReportKind.SUCCEEDED,
        execution=ExecutionIdentifier(project=project, domain=domain, name=name),
        node_path=node,
        attempt=1,
        worker_id="played-by-the-test",
        at=at,
        outputs={"o0": output},
    )


async def test_one_batch_ends_two_executions_each_event_once_at_the_reported_times(
    stack: StackSettings, engine: Engine
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await registry.ok(ResourceType.TASK, project, "v1", code_task("nap", "wf.nap"))
        await registry.ok(ResourceType.WORKFLOW, project, "v1", two_naps())
        await registry.ok(
            ResourceType.LAUNCH_PLAN, project, "v1", launch_plan("wf.two_naps", "wf.two_naps")
        )
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        first = await running(launcher, project)
        second = await running(launcher, project)
        await asyncio.sleep(0.05)
        # Worker times between the naps' start and now (later ones would be kept to now).
        start = datetime.now(UTC) - timedelta(milliseconds=20)
        one = succeeded(first, "n0", "one", start + timedelta(milliseconds=1))
        two = succeeded(first, "n1", "two", start + timedelta(milliseconds=2))
        three = succeeded(second, "n1", "three", start + timedelta(milliseconds=3))
        # Both nodes of the first execution, a node of the second, a report
        # delivered twice, interleaved as partitions would interleave them.
        await engine.report_batch([one, three, two, one])
        await engine.report_batch([two])  # redelivered after a crash: nothing changes

        done = await launcher.wait(first, TERMINAL)
        assert done["phase"] == "SUCCEEDED", done
        assert done["outputs"] == {"o0": "one", "o1": "two"}
        other = await launcher.get(second)
        assert other["phase"] == "RUNNING"
        second_nodes = {n["node_path"]: n for n in await launcher.nodes(second)}
        assert second_nodes["n1"]["phase"] == "SUCCEEDED"
        assert second_nodes["n0"]["phase"] == "RUNNING"
        await launcher.client.post(
            f"/api/v1/executions/{second['execution_id']}/abort", json={"cause": "test over"}
        )
        first_ended, second_ended = (execution_ended(e["execution_id"]) for e in (first, second))
        records = await events.drain(until=lambda rs: first_ended(rs) and second_ended(rs))

    mine = execution_events(records, first["execution_id"])
    assert [e["data"]["seq"] for e in mine] == list(range(len(mine)))
    assert len({e["id"] for e in mine}) == len(mine)
    tail_events = [describe(e) for e in mine[-5:]]
    assert tail_events == [
        "attempt n0#1 SUCCEEDED",
        "node n0 SUCCEEDED",
        "attempt n1#1 SUCCEEDED",
        "node n1 SUCCEEDED",
        "execution SUCCEEDED",
    ]
    # The attempts ended when their reports say, not when the batch was applied.
    assert datetime.fromisoformat(mine[-5]["time"]) == one.at
    assert datetime.fromisoformat(mine[-3]["time"]) == two.at
    theirs = execution_events(records, second["execution_id"])
    assert [e["data"]["seq"] for e in theirs] == list(range(len(theirs)))
    ended = [e for e in theirs if describe(e) == "attempt n1#1 SUCCEEDED"]
    assert len(ended) == 1
    assert datetime.fromisoformat(ended[0]["time"]) == three.at


async def test_applied_report_ids_are_claimed_once_and_forgotten_after_retention(
    pool: asyncpg.Pool,
) -> None:
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    caches = ExecutionCaches()
    async with transaction(pool) as conn:
        executions = ExecutionRepository(conn, caches)
        assert await executions.claim_reports([old, recent, old]) == {old, recent}
        assert await executions.claim_reports([old, recent]) == set()
    await pool.execute(
        "UPDATE applied_reports SET applied_at = now() - interval '2 days' WHERE report_id = $1",
        old,
    )

    async with pool.acquire() as conn:
        forgotten = await ExecutionRepository(conn, caches).forget_reports(
            datetime.now(UTC) - timedelta(days=1)
        )

    assert forgotten >= 1
    async with transaction(pool) as conn:
        assert await ExecutionRepository(conn, caches).claim_reports([old, recent]) == {old}
