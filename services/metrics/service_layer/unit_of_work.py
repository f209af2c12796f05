"""The metrics service's unit of work: its repositories and its outbox in one transaction.

Each repository is a ``Protocol`` saying what the use cases need; the
PostgreSQL ones are in ``adapters/``, the unit tests' fakes in
``tests/unit/fakes_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import (
    AttemptRecord,
    CacheHit,
    ExecutionRecord,
    Rollup,
    RollupKey,
)
from services.metrics.domain.sketch import Sketch
from shared.db.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class Freshness:
    """The newest event applied (its time) and when it was applied."""

    newest_event_at: datetime | None
    applied_at: datetime | None
    events: int


@dataclass(frozen=True)
class RollupGroup:
    """The merged roll-ups of one group (its dimension values and time) in one project/domain."""

    values: dict[str, Any]
    project: str
    domain: str
    rollup: Rollup


class Inbox(Protocol):
    async def claim(self, ids: Sequence[str]) -> set[str]:
        """Record ``ids``; return those not recorded before (to apply now)."""


class Attempts(Protocol):
    async def add(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        """Insert the attempts not yet recorded; return those inserted."""

    async def page(
        self, query: SummaryQuery, limit: int, before: int | None
    ) -> list[tuple[int, dict[str, Any]]]:
        """Raw attempts that ended in the query's range, newest first, with their ids."""


class Executions(Protocol):
    async def save(self, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        """Keep each execution's latest state; return those that reached their end just now."""


class CacheHits(Protocol):
    async def add(self, hits: Sequence[CacheHit]) -> list[CacheHit]:
        """Insert the cache hits not yet recorded; return those inserted."""


class Rollups(Protocol):
    async def add(self, rows: dict[RollupKey, Rollup]) -> None:
        """Add each increment to its row."""

    async def read(
        self,
        query: SummaryQuery,
        extra: Sequence[str] = (),
        sketches: Sequence[str] = Rollup.SKETCHES,
    ) -> list[RollupGroup]:
        """The roll-ups in the query's range, merged by its groups (plus ``extra``
        dimensions), with only the ``sketches`` named (the others empty)."""

    async def sketches(
        self,
        query: SummaryQuery,
        groups: Sequence[dict[str, Any]] | None,
        names: Sequence[str],
    ) -> dict[tuple[Any, ...], dict[str, Sketch]]:
        """The named sketches of these groups only (each its dimensions' values and time;
        None: every group), keyed by those values in the order of ``group_by`` then time."""


class Progress(Protocol):
    async def advance(self, newest_event_at: datetime, events: int) -> None: ...

    async def read(self) -> Freshness: ...


class MetricsUnitOfWork(UnitOfWork):
    """One transaction over the metrics service's tables and outbox."""

    inbox: Inbox
    attempts: Attempts
    executions: Executions
    cache_hits: CacheHits
    rollups: Rollups
    progress: Progress


MetricsUoWFactory = UnitOfWorkFactory[MetricsUnitOfWork]
