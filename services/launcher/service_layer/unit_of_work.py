"""The launcher's unit of work: executions, schedules and the outbox in one transaction.

``PostgresLauncherUnitOfWork`` (``adapters/unit_of_work.py``) is the real one;
unit tests use dictionaries behind the same interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.launcher.adapters.executions import Change, Locked
from services.launcher.adapters.schedules import ScheduleRow
from services.launcher.domain import ExecutionState, Literals
from shared.db.unit_of_work import UnitOfWork, UnitOfWorkFactory
from shared.identifiers import Identifier
from shared.specs import Schedule, WorkflowClosure

Heartbeat = tuple[str, str, int, datetime]
"""(execution key, node path, attempt, time) of a worker's heartbeat."""

RunningAttempt = tuple[str, str, int, str]
"""(execution key, node path, attempt, worker id) of an attempt a worker runs."""


class Executions(Protocol):
    """Executions, their nodes, the attempts workers run, applied reports, the task cache.

    States written here are remembered for the next transaction only once
    this one commits.
    """

    async def insert(self, state: ExecutionState) -> None:
        """Store a new execution (with its labels and trigger); raises ``ExecutionExists``
        when its name is taken."""

    async def lock(self, key: str) -> Locked | None:
        """The execution's state, locked until the transaction ends; None if there is none."""

    async def lock_many(self, keys: Iterable[str]) -> dict[str, Locked]:
        """The states of those of ``keys`` that exist, locked until the transaction ends."""

    async def save(
        self,
        before: ExecutionState,
        after: ExecutionState,
        changed_nodes: Iterable[str],
        version: int,
    ) -> int:
        """Store ``after`` (the nodes in ``changed_nodes``); return the row's new version."""

    async def save_many(self, changes: Sequence[Change], heard_at: datetime | None = None) -> None:
        """Store each change's ``after`` state, all of them together."""

    async def queued_recovery(self, key: str) -> dict[str, Literals] | None:
        """The recovered outputs of execution ``key`` if it is QUEUED, else None."""

    async def closure(self, digest: str) -> WorkflowClosure:
        """A stored closure by its digest."""

    async def claim_reports(self, report_ids: Sequence[str]) -> set[str]:
        """Record ``report_ids`` as applied; return those that were not already."""

    async def forget_reports(self, applied_before: datetime) -> int:
        """Forget the ids of reports applied before ``applied_before``; count them."""

    async def heartbeats(self, beats: Sequence[Heartbeat]) -> None:
        """Refresh the liveness of running attempts."""

    async def silent_attempts(self, older_than: datetime, limit: int = 200) -> list[RunningAttempt]:
        """Running attempts whose worker has not been heard of since ``older_than``."""

    async def forget_running(self, key: str, node_path: str, attempt: int) -> None: ...

    async def cached_many(self, cache_keys: list[str]) -> dict[str, Any]:
        """The cached outputs of those of ``cache_keys`` that are in the cache."""

    async def store_cache(
        self,
        cache_key: str,
        outputs: Mapping[str, Any],
        task: Identifier,
        execution_key: str,
        node_path: str,
        attempt: int,
    ) -> None: ...


class Schedules(Protocol):
    """The launch plans the launcher schedules, and the ticks they fired."""

    async def upsert(
        self, launch_plan: Identifier, schedule: Schedule, active_since: datetime
    ) -> bool:
        """Schedule ``launch_plan``; True if it was not scheduled yet."""

    async def remove(self, launch_plan: Identifier) -> bool:
        """Stop scheduling ``launch_plan``; True if it was scheduled."""

    async def get(self, launch_plan: Identifier) -> ScheduleRow | None: ...

    async def all(self, project: str | None = None) -> list[ScheduleRow]:
        """Every schedule (of ``project`` when given), in a stable order."""

    async def lock(self, launch_plan: Identifier) -> ScheduleRow | None:
        """The schedule, locked until the transaction ends; None if it is gone or
        someone else is firing it right now."""

    async def advance(self, launch_plan: Identifier, tick: datetime, error: str | None) -> None:
        """Record ``tick`` as the last one handled (never moving backwards)."""


class LauncherUnitOfWork(UnitOfWork):
    """One transaction over the launcher's executions, schedules and outbox."""

    executions: Executions
    schedules: Schedules


LauncherUoWFactory = UnitOfWorkFactory[LauncherUnitOfWork]
