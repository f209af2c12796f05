"""In-memory fakes of the metrics service's repositories (ingest unit tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import (
    AttemptRecord,
    CacheHit,
    ExecutionRecord,
    Rollup,
    RollupKey,
)
from services.metrics.domain.sketch import Sketch
from services.metrics.service_layer.unit_of_work import Freshness, MetricsUnitOfWork, RollupGroup
from tests.unit.fakes import FakeState, FakeUnitOfWork


class MetricsState(FakeState):
    def __init__(self) -> None:
        super().__init__()
        self.applied: set[str] = set()
        self.attempts: dict[tuple[str, str, int], AttemptRecord] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self.cache_hits: set[tuple[str, str]] = set()
        self.rollups: dict[RollupKey, Rollup] = {}
        self.newest: datetime | None = None
        self.events = []
        self.applied_events = 0


class FakeInbox:
    def __init__(self, state: MetricsState) -> None:
        self.state = state

    async def claim(self, ids: Sequence[str]) -> set[str]:
        new = {i for i in ids if i not in self.state.applied}
        self.state.applied |= new
        return new


class FakeAttempts:
    def __init__(self, state: MetricsState) -> None:
        self.state = state

    async def add(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        added = []
        for r in records:
            key = (r.execution_key, r.node_id, r.attempt)
            if key not in self.state.attempts:
                self.state.attempts[key] = r
                added.append(r)
        return added

    async def page(
        self, query: SummaryQuery, limit: int, before: int | None
    ) -> list[tuple[int, dict[str, Any]]]:
        raise NotImplementedError


class FakeExecutions:
    def __init__(self, state: MetricsState) -> None:
        self.state = state

    async def save(self, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        ended = []
        for r in records:
            old = self.state.executions.get(r.execution_key)
            if old is not None and old.terminal:
                continue
            self.state.executions[r.execution_key] = r
            if r.terminal:
                ended.append(r)
        return ended


class FakeCacheHits:
    def __init__(self, state: MetricsState) -> None:
        self.state = state

    async def add(self, hits: Sequence[CacheHit]) -> list[CacheHit]:
        added = []
        for h in hits:
            if (h.execution_key, h.node_id) not in self.state.cache_hits:
                self.state.cache_hits.add((h.execution_key, h.node_id))
                added.append(h)
        return added


class FakeRollups:
    def __init__(self, state: MetricsState) -> None:
        self.state = state

    async def add(self, rows: dict[RollupKey, Rollup]) -> None:
        for key, rollup in rows.items():
            self.state.rollups.setdefault(key, Rollup()).merge(rollup)

    async def read(
        self,
        query: SummaryQuery,
        extra: Sequence[str] = (),
        sketches: Sequence[str] = Rollup.SKETCHES,
    ) -> list[RollupGroup]:
        groups: dict[tuple[Any, ...], RollupGroup] = {}
        for key, rollup in self.state.rollups.items():
            values = {name: getattr(key, name) for name in query.group_by}
            project = key.project if "project" in (*query.group_by, *extra) else ""
            domain = key.domain if "domain" in (*query.group_by, *extra) else ""
            ident = (tuple(values.items()), project, domain)
            if ident not in groups:
                groups[ident] = RollupGroup(values, project, domain, Rollup())
            groups[ident].rollup.merge(rollup)
        return list(groups.values())

    async def sketches(
        self,
        query: SummaryQuery,
        groups: Sequence[dict[str, Any]] | None,
        names: Sequence[str],
    ) -> dict[tuple[Any, ...], dict[str, Sketch]]:
        keys = [*query.group_by, *(["time"] if query.grain else [])]
        everything = groups is None
        wanted = {tuple(g[k] for k in keys) for g in groups or []}
        found: dict[tuple[Any, ...], dict[str, Sketch]] = {}
        for key, rollup in self.state.rollups.items():
            ident = tuple(getattr(key, name) for name in query.group_by)
            if everything or ident in wanted:
                for name in names:
                    found.setdefault(ident, {}).setdefault(name, Sketch()).merge(
                        getattr(rollup, name)
                    )
        return found


class FakeProgress:
    def __init__(self, state: MetricsState) -> None:
        self.state = state

    async def advance(self, newest_event_at: datetime, events: int) -> None:
        if self.state.newest is None or newest_event_at > self.state.newest:
            self.state.newest = newest_event_at
        self.state.applied_events += events

    async def read(self) -> Freshness:
        return Freshness(self.state.newest, self.state.newest, self.state.applied_events)


class FakeMetricsUnitOfWork(FakeUnitOfWork[MetricsState], MetricsUnitOfWork):
    def _bind(self, state: MetricsState) -> None:
        self.inbox = FakeInbox(state)
        self.attempts = FakeAttempts(state)
        self.executions = FakeExecutions(state)
        self.cache_hits = FakeCacheHits(state)
        self.rollups = FakeRollups(state)
        self.progress = FakeProgress(state)


class FakeMetricsUoWFactory:
    def __init__(self) -> None:
        self.state = MetricsState()

    def __call__(self, *, atomic: bool = True) -> FakeMetricsUnitOfWork:
        return FakeMetricsUnitOfWork(self.state, atomic=atomic)
