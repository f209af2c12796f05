"""Executions in PostgreSQL: one row per execution, one per node path.

A decision rewrites the execution row (a handful of scalars) and upserts only
the nodes it changed, so a signal about one leaf of a 1,000-leaf fan-out writes
one node row. The engine's ``ExecutionState`` is rebuilt from these rows, or
taken from the process's memory when the row's ``version`` says it is current.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.launcher.domain import ExecutionState, Literals, NodeState, StopReason
from shared.db.pool import Connection
from shared.events.catalogue import ExecutionError, Trigger, TriggerKind
from shared.identifiers import ExecutionIdentifier, Identifier
from shared.phases import ExecutionPhase, TaskAttemptPhase
from shared.specs import WorkflowClosure, digest

Executor = Connection | asyncpg.Pool
"""Where a single statement can run: a connection, or the pool (its own transaction)."""


class ExecutionExists(Exception):
    """An execution of that name exists in the project and domain."""


@dataclass(frozen=True)
class Change:
    """An execution's state before and after some decisions, and what they touched."""

    before: ExecutionState
    after: ExecutionState
    changed_nodes: frozenset[str]
    version: int


@dataclass(frozen=True)
class Locked:
    """An execution's state, its row locked until the transaction ends."""

    state: ExecutionState
    version: int


class StateCache:
    """Recent executions' states by key, with the row version they were stored at."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._states: OrderedDict[str, tuple[int, ExecutionState]] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str, version: int) -> ExecutionState | None:
        found = self._states.get(key)
        if found is None or found[0] != version:
            return None
        self._states.move_to_end(key)
        return found[1]

    def put(self, key: str, version: int, state: ExecutionState) -> None:
        if state.phase.is_terminal:
            self._states.pop(key, None)
            return
        self._states[key] = (version, state)
        self._states.move_to_end(key)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)


class ClosureCache:
    """Closures by digest, one object each, so the engine's plan of it is built once."""

    def __init__(self) -> None:
        self._closures: dict[str, WorkflowClosure] = {}
        self._digests: dict[int, str] = {}

    def digest_of(self, closure: WorkflowClosure) -> str:
        found = self._digests.get(id(closure))
        if found is not None and self._closures.get(found) is closure:
            return found
        value = digest(closure)
        self._closures.setdefault(value, closure)
        self._digests[id(closure)] = value
        return value

    def get(self, value: str) -> WorkflowClosure | None:
        return self._closures.get(value)

    def put(self, value: str, closure: WorkflowClosure) -> WorkflowClosure:
        return self._closures.setdefault(value, closure)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _model_json(model: Any) -> str | None:
    return None if model is None else str(model.model_dump_json())


class ExecutionCaches:
    """What the process remembers across transactions: recent states, closures by digest."""

    def __init__(self) -> None:
        self.states = StateCache()
        self.closures = ClosureCache()


class ExecutionRepository:
    """Reads and writes executions, their nodes, heartbeats and the task cache, on one
    connection (the unit of work's).

    The states it stores are remembered in ``caches`` once ``committed()`` says
    the transaction committed, so a rolled-back state is never taken for current.
    """

    def __init__(self, conn: Connection, caches: ExecutionCaches) -> None:
        self._conn = conn
        self._caches = caches
        self._stored: list[tuple[str, int, ExecutionState]] = []

    def committed(self) -> None:
        """The transaction committed: remember the states it stored."""
        for key, version, state in self._stored:
            self._caches.states.put(key, version, state)
        self._stored.clear()

    # --- creating ---------------------------------------------------------------------

    async def insert(self, state: ExecutionState) -> None:
        """Store a new execution (its nodes come with its first decision)."""
        conn = self._conn
        closure_digest = self._caches.closures.digest_of(state.closure)
        await conn.execute(
            "INSERT INTO closures (digest, closure) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (digest) DO NOTHING",
            closure_digest,
            state.closure.model_dump_json(),
        )
        execution = state.execution
        try:
            await conn.execute(
                """INSERT INTO executions (key, project, domain, name, workflow, workflow_name,
                       launch_plan, launch_plan_name, closure_digest, phase, inputs, labels,
                       next_seq, version, relaunched_from, recovered_from, scheduled_at,
                       created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10, $11::jsonb,
                       $12::jsonb, $13, 0, $14, $15, $16, $17, $17)""",
                execution.key,
                execution.project,
                execution.domain,
                execution.name,
                state.workflow.model_dump_json(),
                state.workflow.name,
                _model_json(state.launch_plan),
                state.launch_plan.name if state.launch_plan else None,
                closure_digest,
                state.phase.value,
                json.dumps(state.inputs),
                json.dumps(state.labels),
                state.next_seq,
                *trigger_columns(state.trigger),
                state.created_at,
            )
        except asyncpg.UniqueViolationError as exc:
            raise ExecutionExists(execution.key) from exc
        self._stored.append((execution.key, 0, state))

    # --- the engine's state -------------------------------------------------------------

    async def lock(self, key: str) -> Locked | None:
        """The execution's state, its row locked FOR UPDATE; None if there is none."""
        return (await self.lock_many([key])).get(key)

    async def lock_many(self, keys: Iterable[str]) -> dict[str, Locked]:
        """The states of those of ``keys`` that exist, their rows locked FOR UPDATE.

        Rows are locked in key order, so two transactions locking overlapping
        sets cannot deadlock.
        """
        rows = await self._conn.fetch(
            """SELECT key, project, domain, name, workflow, launch_plan, closure_digest, phase,
                      inputs, outputs, error, next_seq, version, active, stop, recovered,
                      labels, relaunched_from, recovered_from, scheduled_at,
                      created_at, started_at, updated_at, ended_at
               FROM executions WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE""",
            sorted(set(keys)),
        )
        locked: dict[str, Locked] = {}
        for row in rows:
            key, version = row["key"], row["version"]
            cached = self._caches.states.get(key, version)
            state = cached if cached is not None else await self._load(row)
            locked[key] = Locked(state, version)
        return locked

    async def _load(self, row: asyncpg.Record) -> ExecutionState:
        """Rebuild an execution's state from its row, its closure and its node rows."""
        key = row["key"]
        closure = await self.closure(row["closure_digest"])
        node_rows = await self._conn.fetch(
            "SELECT path, state FROM nodes WHERE execution_key = $1 ORDER BY position", key
        )
        nodes = {r["path"]: NodeState.model_validate_json(r["state"]) for r in node_rows}
        return ExecutionState.model_construct(
            execution=ExecutionIdentifier(
                project=row["project"], domain=row["domain"], name=row["name"]
            ),
            workflow=Identifier.model_validate_json(row["workflow"]),
            launch_plan=(
                Identifier.model_validate_json(row["launch_plan"]) if row["launch_plan"] else None
            ),
            closure=closure,
            inputs=json.loads(row["inputs"]),
            labels=json.loads(row["labels"]),
            trigger=trigger_of(row["relaunched_from"], row["recovered_from"], row["scheduled_at"]),
            phase=ExecutionPhase(row["phase"]),
            next_seq=row["next_seq"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            updated_at=row["updated_at"],
            ended_at=row["ended_at"],
            error=(ExecutionError.model_validate_json(row["error"]) if row["error"] else None),
            outputs=json.loads(row["outputs"]) if row["outputs"] else None,
            nodes=nodes,
            active=row["active"],
            stop=StopReason(row["stop"]) if row["stop"] else None,
            recovered=json.loads(row["recovered"]),
        )

    async def save(
        self,
        before: ExecutionState,
        after: ExecutionState,
        changed_nodes: Iterable[str],
        version: int,
    ) -> int:
        """Store ``after`` (the nodes in ``changed_nodes``); return the row's new version."""
        await self.save_many([Change(before, after, frozenset(changed_nodes), version)])
        return version + 1

    async def save_many(self, changes: Sequence[Change], heard_at: datetime | None = None) -> None:
        """Store each change's ``after`` state: one statement per table for all of them.

        Each execution's row version becomes ``version + 1``. An attempt that
        started running was last heard of at ``heard_at`` (when the engine
        learned it; the execution's ``updated_at`` if not given).
        """
        if not changes:
            return
        conn = self._conn
        await conn.executemany(
            """UPDATE executions SET phase = $2, outputs = $3::jsonb, error = $4::jsonb,
                   next_seq = $5, version = $6, active = $7, stop = $8, recovered = $9::jsonb,
                   started_at = $10, updated_at = $11, ended_at = $12
               WHERE key = $1""",
            [
                (
                    c.after.execution.key,
                    c.after.phase.value,
                    _json(c.after.outputs),
                    _model_json(c.after.error),
                    c.after.next_seq,
                    c.version + 1,
                    c.after.active,
                    c.after.stop.value if c.after.stop else None,
                    json.dumps(c.after.recovered),
                    c.after.started_at,
                    c.after.updated_at,
                    c.after.ended_at,
                )
                for c in changes
            ],
        )
        node_rows: list[tuple[str, str, int, str]] = []
        gone: list[tuple[str, str, int]] = []
        started: list[tuple[str, str, int, str, datetime]] = []
        for c in changes:
            changed = [path for path in c.changed_nodes if path in c.after.nodes]
            if not changed:
                continue
            positions: dict[str, int] = {}
            if any(path not in c.before.nodes for path in changed):
                positions = {path: i for i, path in enumerate(c.after.nodes)}
            key = c.after.execution.key
            node_rows += [
                (key, path, positions.get(path, 0), c.after.nodes[path].model_dump_json())
                for path in changed
            ]
            heard = heard_at or c.after.updated_at
            running_changes(c.before, c.after, changed, heard, gone, started)
        if node_rows:
            await conn.executemany(
                """INSERT INTO nodes (execution_key, path, position, state)
                   VALUES ($1, $2, $3, $4::jsonb)
                   ON CONFLICT (execution_key, path) DO UPDATE SET state = EXCLUDED.state""",
                node_rows,
            )
        # ``running_attempts`` holds the attempts that workers run now.
        if gone:
            await conn.executemany(
                "DELETE FROM running_attempts "
                "WHERE execution_key = $1 AND node_path = $2 AND attempt = $3",
                gone,
            )
        if started:
            await conn.executemany(
                """INSERT INTO running_attempts
                       (execution_key, node_path, attempt, worker_id, last_heartbeat)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                started,
            )
        self._stored += [(c.after.execution.key, c.version + 1, c.after) for c in changes]

    async def queued_recovery(self, key: str) -> dict[str, Literals] | None:
        """The outputs execution ``key`` recovers if it is QUEUED (not started), else None."""
        row = await self._conn.fetchrow(
            "SELECT phase, recovered FROM executions WHERE key = $1", key
        )
        if row is None or row["phase"] != ExecutionPhase.QUEUED.value:
            return None
        return dict(json.loads(row["recovered"])) if row["recovered"] else {}

    async def closure(self, digest: str) -> WorkflowClosure:
        """A stored closure by digest (one object per digest in this process)."""
        closures = self._caches.closures
        found = closures.get(digest)
        if found is not None:
            return found
        text = await self._conn.fetchval("SELECT closure FROM closures WHERE digest = $1", digest)
        return closures.put(digest, WorkflowClosure.model_validate_json(text))

    # --- reports, heartbeats, the cache ----------------------------------------------------

    async def claim_reports(self, report_ids: Sequence[str]) -> set[str]:
        """Record ``report_ids`` as applied; return those that were not already."""
        rows = await self._conn.fetch(
            "INSERT INTO applied_reports (report_id) SELECT unnest($1::text[]) "
            "ON CONFLICT DO NOTHING RETURNING report_id",
            list(report_ids),
        )
        return {r["report_id"] for r in rows}

    async def forget_reports(self, applied_before: datetime) -> int:
        """Forget the ids of reports applied before ``applied_before``; count them."""
        status = await self._conn.execute(
            "DELETE FROM applied_reports WHERE applied_at < $1", applied_before
        )
        return int(status.split()[-1])

    async def heartbeats(self, beats: Sequence[tuple[str, str, int, datetime]]) -> None:
        """Refresh the liveness of attempts: (execution key, node path, attempt, time) each."""
        if not beats:
            return
        await self._conn.executemany(
            """UPDATE running_attempts SET last_heartbeat = $4
               WHERE execution_key = $1 AND node_path = $2 AND attempt = $3
                 AND last_heartbeat < $4""",
            list(beats),
        )

    async def silent_attempts(
        self, older_than: datetime, limit: int = 200
    ) -> list[tuple[str, str, int, str]]:
        """Running attempts whose worker has not been heard of since ``older_than``."""
        rows = await self._conn.fetch(
            """SELECT execution_key, node_path, attempt, worker_id FROM running_attempts
               WHERE last_heartbeat < $1 ORDER BY last_heartbeat LIMIT $2""",
            older_than,
            limit,
        )
        return [(r["execution_key"], r["node_path"], r["attempt"], r["worker_id"]) for r in rows]

    async def forget_running(self, key: str, node_path: str, attempt: int) -> None:
        await self._conn.execute(
            "DELETE FROM running_attempts "
            "WHERE execution_key = $1 AND node_path = $2 AND attempt = $3",
            key,
            node_path,
            attempt,
        )

    async def cached_many(self, cache_keys: list[str]) -> dict[str, Any]:
        """The cached outputs of those of ``cache_keys`` that are in the cache."""
        rows = await self._conn.fetch(
            "SELECT cache_key, outputs FROM task_cache WHERE cache_key = ANY($1::text[])",
            cache_keys,
        )
        return {r["cache_key"]: json.loads(r["outputs"]) for r in rows}

    async def store_cache(
        self,
        cache_key: str,
        outputs: Mapping[str, Any],
        task: Identifier,
        execution_key: str,
        node_path: str,
        attempt: int,
    ) -> None:
        await self._conn.execute(
            """INSERT INTO task_cache (cache_key, outputs, task, execution_key, node_path, attempt)
               VALUES ($1, $2::jsonb, $3::jsonb, $4, $5, $6) ON CONFLICT DO NOTHING""",
            cache_key,
            json.dumps(dict(outputs)),
            task.model_dump_json(),
            execution_key,
            node_path,
            attempt,
        )


def trigger_columns(trigger: Trigger) -> tuple[str | None, str | None, datetime | None]:
    """How ``trigger`` is stored: the row's relaunched_from, recovered_from and scheduled_at."""
    source = trigger.source.key if trigger.source is not None else None
    return (
        source if trigger.kind is TriggerKind.RELAUNCH else None,
        source if trigger.kind is TriggerKind.RECOVER else None,
        trigger.scheduled_at if trigger.kind is TriggerKind.SCHEDULE else None,
    )


def trigger_of(
    relaunched_from: str | None, recovered_from: str | None, scheduled_at: datetime | None
) -> Trigger:
    """The trigger that a row's relaunched_from, recovered_from and scheduled_at record."""
    if relaunched_from or recovered_from:
        project, domain, name = (relaunched_from or recovered_from or "").split("/")
        return Trigger(
            kind=TriggerKind.RELAUNCH if relaunched_from else TriggerKind.RECOVER,
            source=ExecutionIdentifier(project=project, domain=domain, name=name),
        )
    if scheduled_at is not None:
        return Trigger(kind=TriggerKind.SCHEDULE, scheduled_at=scheduled_at)
    return Trigger()


def running_changes(
    before: ExecutionState,
    after: ExecutionState,
    paths: list[str],
    heard_at: datetime,
    gone: list[tuple[str, str, int]],
    started: list[tuple[str, str, int, str, datetime]],
) -> None:
    """Add the running attempts that ``paths`` stopped (``gone``) and started."""
    key = after.execution.key
    for path in paths:
        old = before.nodes.get(path)
        old_attempt = old.current if old is not None else None
        new_attempt = after.nodes[path].current
        was = _running(old_attempt)
        now = _running(new_attempt)
        if was and (not now or old_attempt.attempt != new_attempt.attempt):  # type: ignore[union-attr]
            gone.append((key, path, old_attempt.attempt))  # type: ignore[union-attr]
        if now and (not was or old_attempt.attempt != new_attempt.attempt):  # type: ignore[union-attr]
            assert new_attempt is not None
            started.append((key, path, new_attempt.attempt, new_attempt.worker_id or "", heard_at))


def _running(attempt: Any) -> bool:
    return attempt is not None and attempt.phase is TaskAttemptPhase.RUNNING
