"""The lost-worker rule of ``Engine.check_heartbeats``, on the in-memory unit of work.

A silent attempt's worker is lost only once the engine has read the attempt's
partition past its last heartbeat plus the timeout; the read position comes
from ``reports_read`` (``adapters/report_backlog.ReportProgress`` in the service).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.launcher.bootstrap import LauncherServices, bootstrap
from shared.dispatch import AttemptReport, ReportKind
from shared.events.topics import DISPATCH
from shared.identifiers import ExecutionIdentifier
from shared.literals import INT
from shared.outbox import OutboxRecord
from shared.settings import LauncherSettings
from tests.unit.engine_support import T0, call, closure, inp, out
from tests.unit.fakes_launcher import FakeLauncherUoWFactory

TIMEOUT = 10.0
KEY = "demo/development/x1"
ATTEMPT = (KEY, "n0", 1)
ONE_TASK = closure(
    [call("n0", "inc", x=inp("x"))], inputs={"x": INT}, outputs={"y": (INT, out("n0"))}
)


@pytest.fixture
def db() -> FakeLauncherUoWFactory:
    return FakeLauncherUoWFactory(now=T0)


@pytest.fixture
def svc(db: FakeLauncherUoWFactory) -> LauncherServices:
    return bootstrap(LauncherSettings(), uow_factory=db)


async def silent_since(svc: LauncherServices, db: FakeLauncherUoWFactory) -> datetime:
    """Execution x1 whose attempt n0#1 runs on w1, last heard of a minute ago."""
    await svc.launcher.create("demo", "development", "x1", ONE_TASK, {"x": 1}, None, {})
    started = AttemptReport(
        kind=ReportKind.STARTED,
        execution=ExecutionIdentifier(project="demo", domain="development", name="x1"),
        node_path="n0",
        attempt=1,
        worker_id="w1",
    )
    await svc.engine.report_batch([started])
    heard = datetime.now(UTC) - timedelta(minutes=1)
    db.state.running[ATTEMPT].last_heartbeat = heard
    return heard


ReportsRead = Callable[[], Awaitable[Callable[[str], datetime | None]]]


def read_through(at: datetime | None, key: str = KEY) -> ReportsRead:
    """Reports of ``key``'s partition all applied up to ``at``; nothing known of others."""

    async def reports_read() -> Callable[[str], datetime | None]:
        return lambda asked: at if asked == key else None

    return reports_read


def dispatched_attempts(db: FakeLauncherUoWFactory) -> list[int]:
    return [
        int(json.loads(r.value)["attempt"])
        for r in db.state.events
        if isinstance(r, OutboxRecord) and r.topic == DISPATCH
    ]


async def test_a_partition_not_read_yet_declares_no_one_lost(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    await silent_since(svc, db)

    assert await svc.engine.check_heartbeats(TIMEOUT, read_through(None)) == 0

    assert ATTEMPT in db.state.running
    assert dispatched_attempts(db) == [1]


async def test_a_partition_read_only_up_to_the_deadline_declares_no_one_lost(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    heard = await silent_since(svc, db)
    deadline = heard + timedelta(seconds=TIMEOUT)

    assert await svc.engine.check_heartbeats(TIMEOUT, read_through(deadline)) == 0
    # Another execution's partition read far ahead says nothing about this one.
    ahead = read_through(datetime.now(UTC), key="demo/development/other")
    assert await svc.engine.check_heartbeats(TIMEOUT, ahead) == 0

    assert ATTEMPT in db.state.running


async def test_a_partition_read_past_the_deadline_declares_the_worker_lost_and_retries(
    svc: LauncherServices, db: FakeLauncherUoWFactory
) -> None:
    heard = await silent_since(svc, db)
    past = heard + timedelta(seconds=TIMEOUT + 1)

    assert await svc.engine.check_heartbeats(TIMEOUT, read_through(past)) == 1

    assert dispatched_attempts(db) == [1, 2]
    assert ATTEMPT not in db.state.running
