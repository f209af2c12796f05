"""Roll-up levels, coarsest first, and which of them answer which part of a summary's range.

Ingest adds every increment to each level in the same transaction (OLAP-style
aggregate tables): the fine hourly level keeps every dimension and the labels;
the coarser ones drop task, worker and labels, so a summary by workflow and
day reads thousands of rows instead of hundreds of thousands. A summary reads
the coarsest level that has every dimension it groups by and every filter it
applies; a range that does not start or end on that level's bucket is read
from the next finer level at its edges. Sums, maxima and sketches merge, so the
answer is the same whichever levels answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import Rollup, RollupKey
from services.metrics.domain.summary import DIMENSIONS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_GRAIN_SPANS = {"hour": HOUR, "day": DAY, "week": timedelta(weeks=1)}


@dataclass(frozen=True)
class Level:
    """One roll-up table: its time bucket, its dimensions, and whether it keeps labels."""

    table: str
    bucket: timedelta
    dimensions: tuple[str, ...]
    labels: bool
    compact: bool = True
    """Few rows per summary group: a page of groups' sketches are read as stored and merged
    by the reader, rather than bucket by bucket in SQL (which pays off over many rows)."""

    @property
    def key_columns(self) -> tuple[str, ...]:
        return ("hour", *self.dimensions, *(("labels",) if self.labels else ()))

    def answers(self, query: SummaryQuery) -> bool:
        """Whether this level has every dimension, filter and time grain ``query`` needs."""
        if not set(query.group_by) <= set(self.dimensions):
            return False
        if query.labels and not self.labels:
            return False
        if query.project is not None and "project" not in self.dimensions:
            return False
        if query.domain is not None and "domain" not in self.dimensions:
            return False
        return query.grain is None or _GRAIN_SPANS[query.grain] >= self.bucket

    def key_of(self, key: RollupKey) -> tuple[Any, ...]:
        """This level's row key of a fine (hourly, every dimension) row key."""
        values = [getattr(key, name) for name in self.dimensions]
        return (floor(key.hour, self.bucket), *values, *((key.labels,) if self.labels else ()))


FINE = Level("rollups", HOUR, DIMENSIONS, labels=True, compact=False)
WORKFLOW_HOURLY = Level(
    "rollups_workflow_hourly",
    HOUR,
    ("project", "domain", "workflow", "launch_plan", "phase"),
    labels=False,
)
WORKFLOW_DAILY = Level(
    "rollups_workflow_daily",
    DAY,
    ("project", "domain", "workflow", "launch_plan", "phase"),
    labels=False,
)
LEVELS = (WORKFLOW_DAILY, WORKFLOW_HOURLY, FINE)
"""Coarsest first; the last answers every query."""


@dataclass(frozen=True)
class Part:
    """Rows of ``level`` whose bucket starts in [since, until)."""

    level: Level
    since: datetime
    until: datetime


def floor(at: datetime, bucket: timedelta) -> datetime:
    """The start of the UTC bucket ``at`` falls in."""
    return _EPOCH + ((at - _EPOCH) // bucket) * bucket


def ceil(at: datetime, bucket: timedelta) -> datetime:
    start = floor(at, bucket)
    return start if start == at else start + bucket


def plan(query: SummaryQuery, levels: tuple[Level, ...] = LEVELS) -> list[Part]:
    """Which levels answer which part of ``query``'s range: the coarsest that can, the
    finer ones at the edges it cannot cover. The parts cover exactly the hour buckets the
    finest level would read (from the hour of ``since`` to the hour ``until`` falls in)."""
    usable = [level for level in levels if level.answers(query)]
    if not usable or usable[-1] is not levels[-1]:
        raise ValueError("the finest roll-up level must answer every query")
    return _split(floor(query.since, HOUR), ceil(query.until, HOUR), usable)


def _split(start: datetime, end: datetime, usable: list[Level]) -> list[Part]:
    if start >= end:
        return []
    level, finer = usable[0], usable[1:]
    if not finer:
        return [Part(level, start, end)]
    inner_start, inner_end = ceil(start, level.bucket), floor(end, level.bucket)
    if inner_start >= inner_end:
        return _split(start, end, finer)
    return [
        *_split(start, inner_start, finer),
        Part(level, inner_start, inner_end),
        *_split(inner_end, end, finer),
    ]


def coarsen(rows: dict[RollupKey, Rollup], level: Level) -> dict[tuple[Any, ...], Rollup]:
    """Fine increments summed into ``level``'s rows (sums, maxima and sketches merged)."""
    out: dict[tuple[Any, ...], Rollup] = {}
    for key, rollup in rows.items():
        out.setdefault(level.key_of(key), Rollup()).merge(rollup)
    return out
