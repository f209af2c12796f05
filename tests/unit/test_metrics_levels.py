"""Which roll-up level answers which part of a summary's range (services/metrics/domain/levels)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.metrics.domain.levels import (
    FINE,
    LEVELS,
    WORKFLOW_DAILY,
    WORKFLOW_HOURLY,
    Part,
    coarsen,
    plan,
)
from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import Rollup, RollupKey
from services.metrics.domain.sketch import Sketch

MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)


def q(since: datetime, until: datetime, **kwargs: object) -> SummaryQuery:
    return SummaryQuery(since=since, until=until, **kwargs)  # type: ignore[arg-type]


def test_by_workflow_and_day_over_whole_days_reads_the_daily_level_only() -> None:
    query = q(MIDNIGHT, MIDNIGHT + timedelta(days=30), group_by=("workflow",), grain="day")
    assert plan(query) == [Part(WORKFLOW_DAILY, MIDNIGHT, MIDNIGHT + timedelta(days=30))]


def test_a_range_off_midnight_reads_its_edges_hourly_and_rounds_to_hours() -> None:
    since = MIDNIGHT + timedelta(hours=5, minutes=20)
    until = MIDNIGHT + timedelta(days=3, hours=2, minutes=1)
    parts = plan(q(since, until, group_by=("workflow", "phase")))
    assert parts == [
        Part(WORKFLOW_HOURLY, MIDNIGHT + timedelta(hours=5), MIDNIGHT + timedelta(days=1)),
        Part(WORKFLOW_DAILY, MIDNIGHT + timedelta(days=1), MIDNIGHT + timedelta(days=3)),
        Part(WORKFLOW_HOURLY, MIDNIGHT + timedelta(days=3), MIDNIGHT + timedelta(days=3, hours=3)),
    ]


def test_less_than_a_day_reads_the_hourly_workflow_level() -> None:
    query = q(MIDNIGHT + timedelta(hours=1), MIDNIGHT + timedelta(hours=4), project="p")
    assert plan(query) == [
        Part(WORKFLOW_HOURLY, MIDNIGHT + timedelta(hours=1), MIDNIGHT + timedelta(hours=4))
    ]


def test_task_worker_labels_or_hourly_grain_need_the_levels_that_have_them() -> None:
    days = (MIDNIGHT, MIDNIGHT + timedelta(days=2))
    for query in (
        q(*days, group_by=("task",)),
        q(*days, group_by=("workflow", "worker")),
        q(*days, labels={"team": "a"}),
    ):
        assert [part.level for part in plan(query)] == [FINE]
    by_hour = q(*days, group_by=("workflow",), grain="hour")
    assert [part.level for part in plan(by_hour)] == [WORKFLOW_HOURLY]
    by_week = q(*days, group_by=("workflow",), grain="week")
    assert [part.level for part in plan(by_week)] == [WORKFLOW_DAILY]


def test_every_level_but_the_finest_drops_something_and_the_finest_answers_all() -> None:
    assert LEVELS[-1] is FINE
    assert FINE.answers(q(MIDNIGHT, MIDNIGHT + timedelta(hours=1), labels={"a": "b"}))


def test_coarsened_rows_sum_counts_and_merge_sketches() -> None:
    def key(hour: int, task: str, worker: str) -> RollupKey:
        at = MIDNIGHT + timedelta(hours=hour)
        return RollupKey(at, "p", "d", "wf", "lp", task, "SUCCEEDED", worker, "{}")

    rows = {
        key(1, "t1", "w1"): Rollup(attempts=2, cpu_seconds=1.5, task_durations=Sketch.of([1, 2])),
        key(5, "t2", "w2"): Rollup(attempts=3, cpu_seconds=2.0, task_durations=Sketch.of([3])),
    }
    daily = coarsen(rows, WORKFLOW_DAILY)
    assert list(daily) == [(MIDNIGHT, "p", "d", "wf", "lp", "SUCCEEDED")]
    (row,) = daily.values()
    assert (row.attempts, row.cpu_seconds) == (5, 3.5)
    assert row.task_durations.counts == Sketch.of([1, 2, 3]).counts
    assert len(coarsen(rows, WORKFLOW_HOURLY)) == 2
    assert len(coarsen(rows, FINE)) == 2
