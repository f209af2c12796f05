"""The launcher's repositories and unit of work over dictionaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.launcher.adapters.executions import (
    Change,
    ExecutionExists,
    Locked,
    running_changes,
    trigger_columns,
)
from services.launcher.adapters.schedules import ScheduleRow
from services.launcher.domain import ExecutionState, Literals
from services.launcher.service_layer.unit_of_work import (
    Heartbeat,
    LauncherUnitOfWork,
    RunningAttempt,
)
from shared.identifiers import Identifier
from shared.phases import ExecutionPhase
from shared.specs import Schedule, WorkflowClosure, digest
from tests.unit.fakes import FakeState, FakeUnitOfWork


@dataclass
class StoredExecution:
    state: ExecutionState
    version: int
    labels: dict[str, str]
    relaunched_from: str | None = None
    recovered_from: str | None = None
    scheduled_at: datetime | None = None


@dataclass
class RunningRow:
    worker_id: str
    last_heartbeat: datetime


@dataclass
class LauncherState(FakeState):
    executions: dict[str, StoredExecution] = field(default_factory=dict)
    closures: dict[str, WorkflowClosure] = field(default_factory=dict)
    applied_reports: dict[str, datetime] = field(default_factory=dict)
    running: dict[tuple[str, str, int], RunningRow] = field(default_factory=dict)
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[Identifier, ScheduleRow] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    """The repository methods called, in order (what a real one runs as statements)."""

    def __post_init__(self) -> None:
        super().__init__()

    def phase(self, key: str) -> ExecutionPhase:
        return self.executions[key].state.phase


class FakeExecutions:
    def __init__(self, state: LauncherState, now: datetime) -> None:
        self._state = state
        self._now = now

    def _call(self, name: str) -> None:
        self._state.calls.append(name)

    async def insert(self, state: ExecutionState) -> None:
        self._call("insert")
        key = state.execution.key
        if key in self._state.executions:
            raise ExecutionExists(key)
        self._state.closures.setdefault(digest(state.closure), state.closure)
        self._state.executions[key] = StoredExecution(
            state, 0, dict(state.labels), *trigger_columns(state.trigger)
        )

    async def lock(self, key: str) -> Locked | None:
        return (await self.lock_many([key])).get(key)

    async def lock_many(self, keys: Iterable[str]) -> dict[str, Locked]:
        self._call("lock_many")
        return {
            key: Locked(row.state, row.version)
            for key in sorted(set(keys))
            if (row := self._state.executions.get(key)) is not None
        }

    async def save(
        self,
        before: ExecutionState,
        after: ExecutionState,
        changed_nodes: Iterable[str],
        version: int,
    ) -> int:
        await self.save_many([Change(before, after, frozenset(changed_nodes), version)])
        return version + 1

    async def save_many(self, changes: Sequence[Change], heard_at: datetime | None = None) -> None:
        if not changes:
            return
        self._call("save_many")
        for c in changes:
            row = self._state.executions[c.after.execution.key]
            assert row.version == c.version, "saved over a version it did not lock"
            row.state, row.version = c.after, c.version + 1
            gone: list[tuple[str, str, int]] = []
            started: list[tuple[str, str, int, str, datetime]] = []
            changed = [path for path in c.changed_nodes if path in c.after.nodes]
            running_changes(
                c.before, c.after, changed, heard_at or c.after.updated_at, gone, started
            )
            for attempt in gone:
                self._state.running.pop(attempt, None)
            for key, path, number, worker, heard in started:
                self._state.running.setdefault((key, path, number), RunningRow(worker, heard))

    async def queued_recovery(self, key: str) -> dict[str, Literals] | None:
        row = self._state.executions.get(key)
        if row is None or row.state.phase is not ExecutionPhase.QUEUED:
            return None
        return dict(row.state.recovered)

    async def closure(self, value: str) -> WorkflowClosure:
        return self._state.closures[value]

    async def claim_reports(self, report_ids: Sequence[str]) -> set[str]:
        self._call("claim_reports")
        fresh = set(report_ids) - set(self._state.applied_reports)
        for report_id in fresh:
            self._state.applied_reports[report_id] = self._now
        return fresh

    async def forget_reports(self, applied_before: datetime) -> int:
        old = [r for r, at in self._state.applied_reports.items() if at < applied_before]
        for report_id in old:
            del self._state.applied_reports[report_id]
        return len(old)

    async def heartbeats(self, beats: Sequence[Heartbeat]) -> None:
        if not beats:
            return
        self._call("heartbeats")
        for key, path, attempt, at in beats:
            row = self._state.running.get((key, path, attempt))
            if row is not None and row.last_heartbeat < at:
                row.last_heartbeat = at

    async def silent_attempts(self, older_than: datetime, limit: int = 200) -> list[RunningAttempt]:
        silent = sorted(
            (row.last_heartbeat, (*attempt, row.worker_id))
            for attempt, row in self._state.running.items()
            if row.last_heartbeat < older_than
        )
        return [attempt for _, attempt in silent[:limit]]

    async def forget_running(self, key: str, node_path: str, attempt: int) -> None:
        self._state.running.pop((key, node_path, attempt), None)

    async def cached_many(self, cache_keys: list[str]) -> dict[str, Any]:
        self._call("cached_many")
        return {k: self._state.cache[k] for k in cache_keys if k in self._state.cache}

    async def store_cache(
        self,
        cache_key: str,
        outputs: Mapping[str, Any],
        task: Identifier,
        execution_key: str,
        node_path: str,
        attempt: int,
    ) -> None:
        self._state.cache.setdefault(cache_key, dict(outputs))


class FakeSchedules:
    def __init__(self, state: LauncherState) -> None:
        self._state = state

    async def upsert(
        self, launch_plan: Identifier, schedule: Schedule, active_since: datetime
    ) -> bool:
        found = self._state.schedules.get(launch_plan)
        if found is not None:
            self._state.schedules[launch_plan] = replace(
                found, cron=schedule.cron, kickoff_time_input=schedule.kickoff_time_input
            )
            return False
        self._state.schedules[launch_plan] = ScheduleRow(
            launch_plan, schedule.cron, schedule.kickoff_time_input, active_since, None
        )
        return True

    async def remove(self, launch_plan: Identifier) -> bool:
        return self._state.schedules.pop(launch_plan, None) is not None

    async def get(self, launch_plan: Identifier) -> ScheduleRow | None:
        return self._state.schedules.get(launch_plan)

    async def all(self, project: str | None = None) -> list[ScheduleRow]:
        rows = [r for i, r in self._state.schedules.items() if project in (None, i.project)]
        return sorted(rows, key=lambda r: (r.launch_plan.project, r.launch_plan.name))

    async def lock(self, launch_plan: Identifier) -> ScheduleRow | None:
        return self._state.schedules.get(launch_plan)

    async def advance(self, launch_plan: Identifier, tick: datetime, error: str | None) -> None:
        row = self._state.schedules[launch_plan]
        last = tick if row.last_tick is None else max(row.last_tick, tick)
        self._state.schedules[launch_plan] = replace(row, last_tick=last, last_error=error)


class FakeLauncherUnitOfWork(FakeUnitOfWork[LauncherState], LauncherUnitOfWork):
    def __init__(self, committed: LauncherState, now: datetime, *, atomic: bool = True) -> None:
        super().__init__(committed, atomic=atomic)
        self._now = now

    def _bind(self, state: LauncherState) -> None:
        self.executions = FakeExecutions(state, self._now)
        self.schedules = FakeSchedules(state)


class FakeLauncherUoWFactory:
    """A unit of work factory over one shared ``state``, as the service layer takes it."""

    def __init__(self, now: datetime) -> None:
        self.state = LauncherState()
        self.now = now

    def __call__(self, *, atomic: bool = True) -> FakeLauncherUnitOfWork:
        return FakeLauncherUnitOfWork(self.state, self.now, atomic=atomic)
