"""History is not alerted on: events from before the notifier's installation make no
delivery, however a new consumer group replays them, and every later event does."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from services.notifier.domain.rules import EventKind, Subject, before_installation
from tests.unit.test_notifier_service_layer import World, event

INSTALLED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(subject: Subject, time: datetime) -> Subject:
    return dataclasses.replace(subject, time=time)


def test_only_an_event_strictly_before_the_installation_is_history() -> None:
    s = Subject(
        event_id="e",
        kind=EventKind.EXECUTION,
        project="p",
        domain="development",
        execution="x",
        phase="FAILED",
    )
    assert before_installation(at(s, INSTALLED - timedelta(microseconds=1)), INSTALLED)
    assert not before_installation(at(s, INSTALLED), INSTALLED)
    assert not before_installation(at(s, INSTALLED + timedelta(days=1)), INSTALLED)
    assert not before_installation(s, INSTALLED)  # no time: never skipped


async def test_history_is_consumed_without_deliveries_and_later_events_alert() -> None:
    w = World()
    w.tables.installed_at = INSTALLED
    await w.subscribe()
    old = at(event("old"), INSTALLED - timedelta(days=30))
    assert await w.notifier.ingest([old]) == 0
    assert w.tables.deliveries == {}
    assert old.event_id in w.tables.consumed
    assert w.tables.alerted == set()
    # Read a day late (the notifier was down): still after the installation, so it alerts.
    late = at(event("late"), INSTALLED + timedelta(seconds=1))
    assert await w.notifier.ingest([late, old]) == 1
    [row] = w.tables.deliveries.values()
    assert row.execution == "p/development/late"


async def test_history_counts_in_failures_in_a_row_but_never_alerts() -> None:
    w = World()
    w.tables.installed_at = INSTALLED
    await w.subscribe(failures_in_a_row=2, recovered=True)
    before = INSTALLED - timedelta(hours=1)
    assert await w.notifier.ingest([at(event("h1"), before), at(event("h2"), before)]) == 0
    assert w.tables.streaks["lp:p/development/lp"][0] == 2
    # The first failure after the installation is the third in a row: it alerts.
    assert await w.notifier.ingest([at(event("e1"), INSTALLED)]) == 1
    assert await w.notifier.ingest([at(event("e2", "SUCCEEDED"), INSTALLED)]) == 1
    rows = sorted(w.tables.deliveries.values(), key=lambda r: r.id)
    assert [(r.execution, r.alert) for r in rows] == [
        ("p/development/e1", "match"),
        ("p/development/e2", "recovered"),
    ]
