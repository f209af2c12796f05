"""Which cron ticks are due: exactly once per tick, and what happens after downtime."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from services.launcher.domain.schedule import CatchUp, due_ticks, tick_execution_name
from shared.cron import parse
from shared.identifiers import NAME_PATTERN, Identifier, ResourceType

HOURLY = parse("0 * * * *")
PLAN = Identifier(
    resource_type=ResourceType.LAUNCH_PLAN,
    project="flytesnacks",
    domain="development",
    name="workflows.scheduled.hourly",
    version="v1",
)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 22, hour, minute, tzinfo=UTC)


def test_nothing_is_due_before_the_first_tick_after_activation() -> None:
    assert due_ticks(HOURLY, active_since=at(9, 30), last_tick=None, now=at(9, 59)) == []


def test_the_first_tick_after_activation_is_due_at_its_time() -> None:
    assert due_ticks(HOURLY, active_since=at(9, 30), last_tick=None, now=at(10)) == [at(10)]


def test_a_fired_tick_is_not_due_again() -> None:
    assert due_ticks(HOURLY, active_since=at(9, 30), last_tick=at(10), now=at(10, 59)) == []


def test_after_downtime_only_the_latest_missed_tick_fires_by_default() -> None:
    due = due_ticks(HOURLY, active_since=at(1), last_tick=at(2), now=at(6, 30))
    assert due == [at(6)]


def test_catch_up_all_fires_every_missed_tick_oldest_first_up_to_a_limit() -> None:
    due = due_ticks(
        HOURLY, active_since=at(1), last_tick=at(2), now=at(6, 30), catch_up=CatchUp.ALL
    )
    assert due == [at(3), at(4), at(5), at(6)]
    limited = due_ticks(
        HOURLY, active_since=at(1), last_tick=at(2), now=at(6, 30), catch_up=CatchUp.ALL, limit=2
    )
    assert limited == [at(3), at(4)]


def test_ticks_before_activation_never_fire() -> None:
    due = due_ticks(HOURLY, active_since=at(5, 30), last_tick=at(2), now=at(6, 30))
    assert due == [at(6)]


def test_a_tick_always_names_the_same_execution() -> None:
    name = tick_execution_name(PLAN, at(6))

    assert name == tick_execution_name(PLAN, at(6).astimezone())
    assert name != tick_execution_name(PLAN, at(7))
    other = PLAN.model_copy(update={"name": "workflows.scheduled.daily"})
    assert name != tick_execution_name(other, at(6))
    assert re.fullmatch(NAME_PATTERN, name)
    assert len(name) == 20
