"""The launcher's use cases on in-memory fakes: creating an execution, applying workers'
reports, starting a queued execution, relaunching. What they store, what they publish,
and in how many units of work. The same use cases run on PostgreSQL in tests/integration
(test_engine_batches, test_launcher_*, test_scheduler)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.launcher.bootstrap import LauncherServices, bootstrap
from services.launcher.service_layer.errors import NameTaken
from shared.dispatch import AttemptReport, ReportKind
from shared.events.topics import DISPATCH, EXECUTIONS
from shared.identifiers import ExecutionIdentifier
from shared.literals import INT
from shared.outbox import OutboxRecord
from shared.phases import ExecutionPhase
from shared.settings import LauncherSettings
from tests.unit.engine_support import T0, call, closure, inp, out
from tests.unit.fakes_launcher import FakeLauncherUoWFactory

ONE_TASK = closure(
    [call("n0", "inc", x=inp("x"))],
    inputs={"x": INT},
    outputs={"y": (INT, out("n0"))},
)
PROJECT, DOMAIN = "demo", "development"


@pytest.fixture
def db() -> FakeLauncherUoWFactory:
    return FakeLauncherUoWFactory(now=T0)


@pytest.fixture
def svc(db: FakeLauncherUoWFactory) -> LauncherServices:
    return bootstrap(LauncherSettings(), uow_factory=db)


def records(db: FakeLauncherUoWFactory, topic: str, name: str = "x1") -> list[dict[str, Any]]:
    """The committed outbox records of execution ``name`` on ``topic``, as JSON."""
    out: list[dict[str, Any]] = []
    for item in db.state.events:
        assert isinstance(item, OutboxRecord)
        if item.topic == topic and item.key == f"{PROJECT}/{DOMAIN}/{name}":
            out.append(json.loads(item.value))
    return out


def phases(db: FakeLauncherUoWFactory, name: str = "x1") -> list[tuple[int, str]]:
    """(seq, phase) of the execution's own phase changes."""
    return [
        (e["data"]["seq"], e["data"]["phase"])
        for e in records(db, EXECUTIONS, name)
        if e["type"] == "contrail.execution.phase_changed"
    ]


def report(kind: ReportKind, *, seconds: float, **fields: Any) -> AttemptReport:
    return AttemptReport(
        kind=kind,
        execution=ExecutionIdentifier(project=PROJECT, domain=DOMAIN, name="x1"),
        node_path="n0",
        attempt=1,
        worker_id="w1",
        at=datetime.now(UTC) + timedelta(seconds=seconds),
        **fields,
    )


async def create(svc: LauncherServices, name: str = "x1") -> None:
    await svc.launcher.create(PROJECT, DOMAIN, name, ONE_TASK, {"x": 1}, None, {"team": "a"})


def test_bootstrap_needs_a_runtime_or_the_adapters() -> None:
    with pytest.raises(ValueError, match="needs a runtime"):
        bootstrap(LauncherSettings())


async def test_create_stores_the_execution_queued_and_started_with_its_records_in_one_commit(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)

    assert db.state.commits == 1
    stored = db.state.executions["demo/development/x1"]
    assert stored.labels == {"team": "a"}
    assert stored.state.phase is ExecutionPhase.RUNNING
    # The QUEUED event (seq 0) first, then Start's; the first attempt dispatched.
    assert phases(db) == [(0, "QUEUED"), (1, "RUNNING")]
    seqs = [e["data"]["seq"] for e in records(db, EXECUTIONS)]
    assert seqs == list(range(len(seqs)))
    [dispatch] = records(db, DISPATCH)
    assert (dispatch["node_path"], dispatch["attempt"], dispatch["inputs"]) == ("n0", 1, {"x": 1})


async def test_a_taken_name_is_refused_and_nothing_more_is_written(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)
    written = len(db.state.events)

    with pytest.raises(NameTaken):
        await create(svc)

    assert db.state.commits == 1
    assert len(db.state.events) == written


async def test_a_batch_of_reports_is_applied_in_one_unit_of_work_once_each(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)
    started = report(ReportKind.STARTED, seconds=1)
    succeeded = report(ReportKind.SUCCEEDED, seconds=2, outputs={"o": 2})
    db.state.calls.clear()

    await svc.engine.report_batch([started, succeeded, started])

    assert db.state.commits == 2
    # One statement per table for the whole batch, as the PostgreSQL adapter runs them.
    assert db.state.calls == ["claim_reports", "lock_many", "save_many"]
    execution = db.state.executions["demo/development/x1"].state
    assert execution.phase is ExecutionPhase.SUCCEEDED
    assert execution.outputs == {"y": 2}
    assert [phase for _, phase in phases(db)] == ["QUEUED", "RUNNING", "SUCCEEDED"]
    seqs = [e["data"]["seq"] for e in records(db, EXECUTIONS)]
    assert seqs == list(range(len(seqs)))
    assert db.state.running == {}

    # Delivered again (a consumer restarted before committing its offsets): nothing changes.
    written = len(db.state.events)
    await svc.engine.report_batch([started, succeeded])
    assert len(db.state.events) == written
    assert db.state.executions["demo/development/x1"].version == 2


async def test_heartbeats_alone_refresh_liveness_without_a_transaction(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)
    await svc.engine.report_batch([report(ReportKind.STARTED, seconds=1)])
    commits = db.state.commits
    [(attempt, row)] = db.state.running.items()
    assert attempt == ("demo/development/x1", "n0", 1)
    heard = row.last_heartbeat

    await svc.engine.report_batch([report(ReportKind.HEARTBEAT, seconds=30)])

    assert db.state.commits == commits
    assert heard < db.state.running[attempt].last_heartbeat


async def test_a_queued_execution_is_started_once(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    from services.launcher.domain import create_execution

    created = create_execution(
        ExecutionIdentifier(project=PROJECT, domain=DOMAIN, name="x1"), ONE_TASK, {"x": 1}, T0
    )
    async with db() as uow:
        await uow.executions.insert(created.state)
        await uow.commit()

    await svc.engine.start_if_queued("demo/development/x1")
    await svc.engine.start_if_queued("demo/development/x1")

    assert db.state.phase("demo/development/x1") is ExecutionPhase.RUNNING
    assert len(records(db, DISPATCH)) == 1
    await svc.engine.start_if_queued("demo/development/nope")  # no such execution: nothing


async def test_relaunch_creates_a_new_execution_with_the_same_inputs_and_labels(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)

    again = await svc.launcher.relaunch(PROJECT, DOMAIN, "x1", "x2")

    stored = db.state.executions["demo/development/x2"]
    assert again.execution.name == "x2"
    assert stored.relaunched_from == "demo/development/x1"
    assert stored.labels == {"team": "a"}
    assert stored.state.inputs == {"x": 1}
    assert phases(db, "x2") == [(0, "QUEUED"), (1, "RUNNING")]


async def test_relaunch_and_recover_name_their_source_on_every_execution_event(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)

    await svc.launcher.relaunch(PROJECT, DOMAIN, "x1", "x2")
    await svc.launcher.recover(PROJECT, DOMAIN, "x1", "x3")

    source = {"project": PROJECT, "domain": DOMAIN, "name": "x1"}
    for name, kind in (("x1", "user"), ("x2", "relaunch"), ("x3", "recover")):
        events = [
            e["data"]
            for e in records(db, EXECUTIONS, name)
            if e["type"] == "contrail.execution.phase_changed"
        ]
        assert [e["phase"] for e in events] == ["QUEUED", "RUNNING"]
        for data in events:
            assert data["labels"] == {"team": "a"}
            assert data["trigger"]["kind"] == kind
            assert data["trigger"].get("source") == (None if kind == "user" else source)
    assert db.state.executions["demo/development/x3"].recovered_from == "demo/development/x1"


async def test_forgetting_applied_reports_lets_an_old_id_apply_again(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await create(svc)
    await svc.engine.report_batch([report(ReportKind.STARTED, seconds=1)])

    assert await svc.engine.forget_reports(T0 + timedelta(seconds=1)) == 1
    assert db.state.applied_reports == {}
