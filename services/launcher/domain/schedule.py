"""Which cron ticks of an active launch plan are due, and what each tick's execution is called.

Exactly once per tick: each tick's execution has a name derived from the
launch plan and the tick, unique per project and domain, so a tick fired twice
(two launchers, or one restarted between creating the execution and recording
the tick) creates one execution.

Ticks missed while no launcher ran: with ``CatchUp.LATEST`` (the default) only
the most recent missed tick fires, as Airflow's ``catchup=False`` does; with
``CatchUp.ALL`` every missed tick fires, oldest first, at most ``limit`` of them.
Ticks before the launch plan was activated never fire.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from shared.cron import CronSchedule
from shared.identifiers import Identifier


class CatchUp(StrEnum):
    LATEST = "latest"
    ALL = "all"


def due_ticks(
    schedule: CronSchedule,
    *,
    active_since: datetime,
    last_tick: datetime | None,
    now: datetime,
    catch_up: CatchUp = CatchUp.LATEST,
    limit: int = 100,
) -> list[datetime]:
    """The ticks to fire now, oldest first: those after ``last_tick`` (or the
    activation) and at or before ``now``."""
    start = max(active_since, last_tick) if last_tick is not None else active_since
    ticks: list[datetime] = []
    tick = schedule.next_after(start)
    while tick <= now:
        ticks.append(tick)
        if catch_up is CatchUp.ALL and len(ticks) >= limit:
            break
        tick = schedule.next_after(tick)
    if catch_up is CatchUp.LATEST:
        return ticks[-1:]
    return ticks


def tick_execution_name(launch_plan: Identifier, tick: datetime) -> str:
    """The name of the execution a tick creates: the same for the same tick, always.

    ``s`` + 19 hex characters of a digest of the launch plan's name and the
    tick (UTC, to the minute), within the execution name rules.
    """
    moment = tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    digest = hashlib.sha256(f"{launch_plan.name}@{moment}".encode()).hexdigest()
    return f"s{digest[:19]}"
