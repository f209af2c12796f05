"""Applying signals to executions: one PostgreSQL transaction per decision.

The transaction locks the execution's row, asks the domain for a decision,
answers the cache look-ups it asks for (deciding again with each answer),
stores the new state (only the nodes that changed) and writes the commands'
records to the outbox: public events, dispatches, terminations. Either all of
it commits or none of it does, so a crash anywhere replays cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.launcher.adapters import outbox_rows
from services.launcher.adapters.executions import ExecutionRepository
from services.launcher.domain import (
    AttemptAborted,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    CacheResult,
    Command,
    Dispatch,
    Emit,
    ExecutionState,
    LookupCache,
    MachineSettings,
    Signal,
    Start,
    StoreCache,
    Terminate,
    WorkerLost,
    decide,
)
from shared.db.pool import Connection, transaction
from shared.dispatch import AttemptReport, ReportKind
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.phases import ExecutionPhase
from shared.telemetry import current_traceparent

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What one signal (and the cache answers it led to) did to an execution."""

    before: ExecutionState
    state: ExecutionState
    commands: list[Command] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)

    @property
    def changed_anything(self) -> bool:
        return self.state is not self.before


def signal_of(report: AttemptReport) -> Signal | None:
    """The engine's signal for a worker's report; None for a heartbeat."""
    common = {"node_path": report.node_path, "attempt": report.attempt}
    match report.kind:
        case ReportKind.STARTED:
            return AttemptStarted(**common, worker_id=report.worker_id, log_uri=report.log_uri)
        case ReportKind.SUCCEEDED:
            return AttemptSucceeded(
                **common, outputs=report.outputs or {}, usage=report.usage, log_uri=report.log_uri
            )
        case ReportKind.FAILED:
            error = report.error or ExecutionError(
                kind=ErrorKind.SYSTEM, code="UnknownError", message="the worker gave no error"
            )
            return AttemptFailed(
                **common, error=error, usage=report.usage, oom=report.oom, log_uri=report.log_uri
            )
        case ReportKind.TIMED_OUT:
            return AttemptTimedOut(**common, usage=report.usage, log_uri=report.log_uri)
        case ReportKind.ABORTED:
            return AttemptAborted(**common, usage=report.usage)
        case ReportKind.HEARTBEAT:
            return None


class Engine:
    """Carries out the domain's decisions against PostgreSQL and the outbox."""

    def __init__(
        self,
        repository: ExecutionRepository,
        machine: MachineSettings,
        pool: asyncpg.Pool | None = None,
    ) -> None:
        self.repository = repository
        self.machine = machine
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the engine is not connected to PostgreSQL yet")
        return self._pool

    def bind(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- one decision ---------------------------------------------------------------

    async def decide_and_store(
        self, conn: Connection, state: ExecutionState, version: int, signal: Signal, at: datetime
    ) -> tuple[Outcome, int]:
        """Decide ``signal`` on ``state`` (row locked), store it, write its records."""
        outcome = await self._decide(conn, state, signal, at)
        if not outcome.changed_anything:
            return outcome, version
        version = await self.repository.save(
            conn, outcome.before, outcome.state, outcome.changed, version
        )
        await self.carry_out(conn, outcome.state, outcome.commands, at)
        return outcome, version

    async def _decide(
        self, conn: Connection, state: ExecutionState, signal: Signal, at: datetime
    ) -> Outcome:
        decision = decide(state, signal, at, self.machine)
        outcome = Outcome(
            state, decision.state, list(decision.commands), set(decision.changed_nodes)
        )
        lookups = [c for c in decision.commands if isinstance(c, LookupCache)]
        # Cache look-ups are answered in the same transaction: the answer is one
        # more decision, which may ask for more look-ups (a map's next items).
        while lookups:
            found = await self.repository.cached_many(conn, [c.cache_key for c in lookups])
            next_lookups: list[LookupCache] = []
            for lookup in lookups:
                answer = CacheResult(
                    node_path=lookup.node_path, outputs=found.get(lookup.cache_key)
                )
                decision = decide(outcome.state, answer, at, self.machine)
                outcome.state = decision.state
                outcome.commands.extend(decision.commands)
                outcome.changed |= decision.changed_nodes
                next_lookups += [c for c in decision.commands if isinstance(c, LookupCache)]
            lookups = next_lookups
        return outcome

    async def carry_out(
        self, conn: Connection, state: ExecutionState, commands: list[Command], at: datetime
    ) -> None:
        """Write the records of ``commands`` (decided on ``state``'s execution)."""
        execution = state.execution
        traceparent = current_traceparent()
        rows: list[outbox_rows.Row] = []
        for command in commands:
            match command:
                case Emit():
                    rows.append(outbox_rows.event_row(command, traceparent))
                case Dispatch():
                    rows.append(outbox_rows.dispatch_row(command, at, traceparent))
                case Terminate():
                    rows.append(outbox_rows.control_row(execution, command, traceparent))
                case StoreCache():
                    await self.repository.store_cache(
                        conn,
                        command.cache_key,
                        command.outputs,
                        command.task,
                        execution.key,
                        command.node_path,
                        command.attempt,
                    )
                case _:
                    # LookupCache was answered in _decide; Finished is in the stored state.
                    pass
        await outbox_rows.write(conn, rows)

    # --- signals from outside ---------------------------------------------------------

    async def apply(
        self, key: str, signal: Signal, *, report_id: str | None = None
    ) -> ExecutionState | None:
        """Apply ``signal`` to execution ``key``; its state after, or None if there is none."""
        at = now()
        async with transaction(self.pool) as conn:
            if report_id is not None and not await self.repository.claim_report(conn, report_id):
                return None
            locked = await self.repository.lock(conn, key)
            if locked is None:
                return None
            outcome, version = await self.decide_and_store(
                conn, locked.state, locked.version, signal, at
            )
        if outcome.changed_anything:
            self.repository.states.put(key, version, outcome.state)
        return outcome.state

    async def report(
        self,
        report: AttemptReport,
        load_outputs: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        """Apply a worker's report (a heartbeat only refreshes the attempt's liveness).

        Outputs too large for the report are read from ``outputs_uri`` with
        ``load_outputs`` before the transaction.
        """
        if (
            report.kind is ReportKind.SUCCEEDED
            and report.outputs is None
            and report.outputs_uri is not None
            and load_outputs is not None
        ):
            outputs = await load_outputs(report.outputs_uri)
            report = report.model_copy(update={"outputs": outputs})
        signal = signal_of(report)
        if signal is None:
            await self.repository.heartbeat(
                self.pool, report.execution.key, report.node_path, report.attempt, report.at
            )
            return
        await self.apply(report.execution.key, signal, report_id=report.report_id)

    async def start_if_queued(self, key: str) -> None:
        """Start an execution that is still QUEUED (the API usually starts it itself)."""
        phase = await self.pool.fetchval("SELECT phase FROM executions WHERE key = $1", key)
        if phase != ExecutionPhase.QUEUED.value:
            return
        recovered = await self.pool.fetchval("SELECT recovered FROM executions WHERE key = $1", key)
        signal = Start(recovered=_json_object(recovered))
        await self.apply(key, signal)

    async def check_heartbeats(
        self, timeout_seconds: float, all_reports_read: Callable[[], Awaitable[bool]]
    ) -> int:
        """Declare lost the workers of attempts silent for ``timeout_seconds``; count them.

        Silence counts only once every report Kafka holds has been read: unread
        heartbeats (after a restart, during a rebalance) are not silence.
        """
        silent = await self.repository.silent_attempts(
            self.pool, now() - timedelta(seconds=timeout_seconds)
        )
        if silent and not await all_reports_read():
            return 0
        for key, node_path, attempt, worker_id in silent:
            log.warning(
                "worker lost",
                extra={
                    "execution": key,
                    "node": node_path,
                    "attempt": attempt,
                    "worker": worker_id,
                },
            )
            signal = WorkerLost(node_path=node_path, attempt=attempt, worker_id=worker_id)
            await self.apply(key, signal)
            # A decision that ignored it (the attempt ended meanwhile) leaves the row.
            await self.repository.forget_running(self.pool, key, node_path, attempt)
        return len(silent)


def _json_object(text: str | None) -> dict[str, dict[str, object]]:
    import json

    return dict(json.loads(text)) if text else {}
