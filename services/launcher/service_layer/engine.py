"""Applying signals to executions: one PostgreSQL transaction per decision.

The transaction locks the execution's row, asks the domain for a decision,
answers the cache look-ups it asks for (deciding again with each answer),
stores the new state (only the nodes that changed) and writes the commands'
records to the outbox: public events, dispatches, terminations. Either all of
it commits or none of it does, so a crash anywhere replays cleanly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from services.launcher.adapters import outbox_rows
from services.launcher.adapters.executions import Change
from services.launcher.domain import (
    Abort,
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
from services.launcher.service_layer import audit
from services.launcher.service_layer.unit_of_work import (
    LauncherUnitOfWork,
    LauncherUoWFactory,
    RunningAttempt,
)
from shared.dispatch import AttemptReport, ReportKind
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.s3 import ObjectStore
from shared.telemetry import context_from_traceparent, current_traceparent

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("contrail.engine")


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
    """Carries out the domain's decisions in units of work: state, cache and outbox."""

    def __init__(
        self,
        uow_factory: LauncherUoWFactory,
        machine: MachineSettings,
        *,
        store: ObjectStore | None = None,
        inline_inputs_bytes: int = 256 * 1024,
    ) -> None:
        self.uow_factory = uow_factory
        self.machine = machine
        self._store = store
        self.inline_inputs_bytes = inline_inputs_bytes

    # --- one decision ---------------------------------------------------------------

    async def decide_and_store(
        self,
        uow: LauncherUnitOfWork,
        state: ExecutionState,
        version: int,
        signal: Signal,
        at: datetime,
    ) -> tuple[Outcome, int]:
        """Decide ``signal`` on ``state`` (row locked), store it, write its records."""
        outcome = await self._decide(uow, state, signal, at)
        if not outcome.changed_anything:
            return outcome, version
        version = await uow.executions.save(outcome.before, outcome.state, outcome.changed, version)
        await self.carry_out(uow, outcome.state, outcome.commands, at)
        return outcome, version

    async def _decide(
        self, uow: LauncherUnitOfWork, state: ExecutionState, signal: Signal, at: datetime
    ) -> Outcome:
        decision = decide(state, signal, at, self.machine)
        outcome = Outcome(
            state, decision.state, list(decision.commands), set(decision.changed_nodes)
        )
        lookups = [c for c in decision.commands if isinstance(c, LookupCache)]
        # Cache look-ups are answered in the same transaction: the answer is one
        # more decision, which may ask for more look-ups (a map's next items).
        while lookups:
            found = await uow.executions.cached_many([c.cache_key for c in lookups])
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
        self,
        uow: LauncherUnitOfWork,
        state: ExecutionState,
        commands: list[Command],
        at: datetime,
    ) -> None:
        """Write the records of ``commands`` (decided on ``state``'s execution)."""
        await uow.outbox.add(await self.records(uow, state, commands, at))

    async def records(
        self,
        uow: LauncherUnitOfWork,
        state: ExecutionState,
        commands: list[Command],
        at: datetime,
    ) -> list[outbox_rows.Row]:
        """The outbox records of ``commands``; cache entries they store are written now."""
        execution = state.execution
        traceparent = current_traceparent()
        rows: list[outbox_rows.Row] = []
        for command in commands:
            match command:
                case Emit():
                    rows.append(outbox_rows.event_row(command, traceparent))
                case Dispatch():
                    rows.append(await self._dispatch_row(command, at, traceparent))
                case Terminate():
                    rows.append(outbox_rows.control_row(execution, command, traceparent))
                case StoreCache():
                    await uow.executions.store_cache(
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
        return rows

    async def _dispatch_row(
        self, command: Dispatch, at: datetime, traceparent: str | None
    ) -> outbox_rows.Row:
        """The dispatch; inputs too large for a Kafka record go to S3 first (``inputs_uri``).

        The key is the attempt's, so a decision made again after a crash writes
        the same object.
        """
        row = outbox_rows.dispatch_row(command, at, traceparent)
        if len(row.value) <= self.inline_inputs_bytes or self._store is None:
            return row
        key = outbox_rows.inputs_key(command)
        data = json.dumps(command.inputs, separators=(",", ":")).encode()
        await asyncio.to_thread(self._store.put, key, data, "application/json")
        uri = f"s3://{self._store.bucket}/{key}"
        return outbox_rows.dispatch_row(command, at, traceparent, inputs_uri=uri)

    # --- signals from outside ---------------------------------------------------------

    async def apply(self, key: str, signal: Signal) -> ExecutionState | None:
        """Apply ``signal`` to execution ``key``; its state after, or None if there is none."""
        at = now()
        async with self.uow_factory() as uow:
            locked = await uow.executions.lock(key)
            if locked is None:
                return None
            outcome, _ = await self.decide_and_store(uow, locked.state, locked.version, signal, at)
            if isinstance(signal, Abort) and outcome.changed_anything:
                # A request's abort is audited; one of a finished execution changed nothing.
                await uow.outbox.add([audit.aborted(outcome.state, signal.cause)])
            await uow.commit()
        return outcome.state

    async def report(
        self,
        report: AttemptReport,
        load_outputs: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        """Apply one worker's report (see ``report_batch``)."""
        await self.report_batch([report], load_outputs)

    async def report_batch(
        self,
        reports: Sequence[AttemptReport],
        load_outputs: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        """Apply workers' reports, in their order, in one transaction.

        A heartbeat only refreshes its attempt's liveness. Every other report is
        claimed by its id, so one applied before is skipped; the reports of one
        execution are decided one after another on its locked state, and the new
        states and records of all the executions are written together. Outputs
        too large for a report are read from ``outputs_uri`` with
        ``load_outputs`` before the transaction.
        """
        loaded = [await _with_outputs(report, load_outputs) for report in reports]
        beats = [
            (r.execution.key, r.node_path, r.attempt, r.at)
            for r in loaded
            if r.kind is ReportKind.HEARTBEAT
        ]
        signals = [(r, signal) for r in loaded if (signal := signal_of(r)) is not None]
        if not signals:
            if beats:
                # One statement: no transaction needed.
                async with self.uow_factory(atomic=False) as uow:
                    await uow.executions.heartbeats(beats)
            return
        at = now()
        async with self.uow_factory() as uow:
            executions = uow.executions
            fresh = await executions.claim_reports([r.report_id for r, _ in signals])
            by_key: dict[str, list[tuple[AttemptReport, Signal]]] = {}
            for report, signal in signals:
                if report.report_id in fresh:
                    fresh.discard(report.report_id)  # a report sent twice applies once
                    by_key.setdefault(report.execution.key, []).append((report, signal))
            locked = await executions.lock_many(by_key)
            changes: list[Change] = []
            rows: list[outbox_rows.Row] = []
            for key, items in by_key.items():
                if key not in locked:
                    continue
                before = state = locked[key].state
                changed: set[str] = set()
                for report, signal in items:
                    parent = context_from_traceparent(report.traceparent)
                    with _tracer.start_as_current_span("engine apply report", context=parent):
                        when = _report_time(report.at, state, at)
                        outcome = await self._decide(uow, state, signal, when)
                        if outcome.changed_anything:
                            state = outcome.state
                            changed |= outcome.changed
                            rows += await self.records(uow, state, outcome.commands, when)
                if state is not before:
                    changes.append(Change(before, state, frozenset(changed), locked[key].version))
            await executions.save_many(changes, heard_at=at)
            await uow.outbox.add(rows)
            # After the starts: a batch may hold an attempt's start and its heartbeats.
            await executions.heartbeats(beats)
            await uow.commit()

    async def start_if_queued(self, key: str) -> None:
        """Start an execution that is still QUEUED (the API usually starts it itself)."""
        async with self.uow_factory(atomic=False) as uow:
            recovered = await uow.executions.queued_recovery(key)
        if recovered is not None:
            await self.apply(key, Start(recovered=recovered))

    async def forget_reports(self, applied_before: datetime) -> int:
        """Forget the ids of reports applied before ``applied_before``; count them.

        Kept until then so that a report delivered again is applied once.
        """
        async with self.uow_factory(atomic=False) as uow:
            return await uow.executions.forget_reports(applied_before)

    async def check_heartbeats(
        self,
        timeout_seconds: float,
        reports_read: Callable[[], Awaitable[Callable[[str], datetime | None]]],
    ) -> int:
        """Declare lost the workers of attempts silent for ``timeout_seconds``; count them.

        An attempt last heard of at ``H`` has lost its worker once the engine
        has applied every report of the attempt's partition sent before
        ``H + timeout`` (``reports_read()`` says, per execution key, up to when
        it has: see ``adapters/report_backlog.py``). Heartbeats still unread
        (after a restart, under a backlog) are never taken for silence, and a
        backlog on other partitions never hides a dead worker.
        """
        timeout = timedelta(seconds=timeout_seconds)
        async with self.uow_factory(atomic=False) as uow:
            if not await uow.executions.silent_attempts(now() - timeout, limit=1):
                return 0
        # Taken before the heartbeats are read: all it counts as read is stored.
        read_through = await reports_read()
        lost: list[RunningAttempt] = []
        async with self.uow_factory(atomic=False) as uow:
            by_read_time: dict[datetime, list[RunningAttempt]] = {}
            for candidate in await uow.executions.silent_attempts(now() - timeout):
                read = read_through(candidate[0])
                if read is not None:
                    by_read_time.setdefault(read, []).append(candidate)
            for read, attempts in by_read_time.items():
                # Silent since before ``read - timeout``: no unread report of theirs exists.
                past = set(await uow.executions.silent_attempts(read - timeout))
                lost += [candidate for candidate in attempts if candidate in past]
        for key, node_path, attempt, worker_id in lost:
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
            async with self.uow_factory(atomic=False) as uow:
                await uow.executions.forget_running(key, node_path, attempt)
        return len(lost)


async def _with_outputs(
    report: AttemptReport, load_outputs: Callable[[str], Awaitable[dict[str, Any]]] | None
) -> AttemptReport:
    if (
        report.kind is ReportKind.SUCCEEDED
        and report.outputs is None
        and report.outputs_uri is not None
        and load_outputs is not None
    ):
        outputs = await load_outputs(report.outputs_uri)
        return report.model_copy(update={"outputs": outputs})
    return report


def _report_time(reported: datetime, state: ExecutionState, applied: datetime) -> datetime:
    """When a report's change happened: the worker's time, kept between the
    execution's last change and the moment it is applied.

    Reports read in one batch keep their own durations, and a skewed worker
    clock cannot reorder an execution's history.
    """
    return max(min(reported, applied), state.updated_at)
