"""The worker's loop: take dispatched attempts from Kafka, run them, report them.

- ``contrail.dispatch`` is read as the workers' consumer group with
  ``shared.kafka.BatchConsumer`` decoding ``AttemptDispatch``, with its two
  features for long work: flow control (``max_records`` is the number of free
  slots, so a record is fetched only when one of ``concurrency`` slots is
  free; while none is, the partitions are paused and still polled, to stay in
  the group, and a freed slot wakes the consumer) and deferred commit (the
  handler returns, per dispatch, whether its ``started`` report is in Kafka).
  A record that is not an ``AttemptDispatch`` goes to ``contrail.dispatch.dlq``.
  Taking an attempt is reporting it ``started`` (with this worker's id) and
  heartbeating it from then on, while its code and inputs load, while it runs
  and until its final report; its process starts, and the dispatch's offset is
  committed, only once Kafka has the ``started`` report (the code and inputs
  load meanwhile; commits run in the background, in order, so the loop goes on
  fetching). A worker that dies before that leaves the dispatch to the next
  owner of its partition (the same attempt number, started once); one that
  dies after it stops heartbeating, and the engine declares it lost and
  dispatches a new attempt.
- ``contrail.control`` is read by every worker in full (no consumer group,
  from the end) with a FastStream subscriber typed ``AttemptControl``, the
  default way to consume (``shared.kafka``): a ``terminate`` for an attempt
  this worker runs aborts it. A terminate that arrives before its dispatch is
  remembered, and that attempt is reported aborted without running.
- ``stop()`` (SIGTERM) stops taking attempts and leaves the group; running
  attempts get ``worker_shutdown_grace_seconds`` to end, then are aborted;
  every attempt taken is reported before the runner closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import trace
from pydantic import ValidationError

from services.launcher.worker.bundle_cache import BundleCache, BundleUnavailable, bundle_digest
from services.launcher.worker.ran import RanAttempts
from services.launcher.worker.reporting import (
    Reporter,
    StoredOutputs,
    bundle_unavailable,
    outputs_json,
    report,
    terminal_report,
)
from services.launcher.worker.runner import AttemptResult, AttemptSpec, TaskRunner
from services.launcher.worker.storage import (
    AttemptStorage,
    OutputFileError,
    files_key,
    logs_key,
    outputs_key,
    parse_s3_uri,
)
from shared.dispatch import (
    CONTROL,
    DISPATCH,
    AttemptControl,
    AttemptDispatch,
    AttemptReport,
    ReportKind,
)
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.kafka import BatchConsumer, Record
from shared.phases import TaskAttemptPhase
from shared.retry import Backoff
from shared.settings import WorkerSettings
from shared.telemetry import context_from_traceparent, current_traceparent

log = logging.getLogger(__name__)

_ANNOUNCE_BACKOFF = Backoff(first=0.2, cap=2.0)
"""Waits between tries to report a taken attempt started: short, since its dispatch waits."""
tracer = trace.get_tracer("contrail.worker")

REMEMBERED_TERMINATIONS = 10_000
"""Terminations of attempts not (yet) seen here that a worker remembers."""
_FINAL_REPORT_SECONDS = 20.0
"""After the grace period, how long aborted attempts have to report before the runner closes."""


@dataclass
class _Taken:
    dispatch: AttemptDispatch
    terminate: bool = False
    shutdown: bool = False
    holds_slot: bool = True
    """Until its process ends: uploading logs and reporting need no slot."""
    log_uri: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    announced: asyncio.Task[bool] | None = field(default=None, repr=False)
    """Its ``started`` report: True once Kafka has it, False if never sent (stopping)."""
    heartbeats: asyncio.Task[None] | None = field(default=None, repr=False)
    """From its ``started`` report until its final one."""


class Worker:
    """One worker process's loop around its ``TaskRunner``."""

    def __init__(
        self,
        settings: WorkerSettings,
        worker_id: str,
        broker: KafkaBroker,
        runner: TaskRunner,
        bundles: BundleCache,
        storage: AttemptStorage,
        ran: RanAttempts | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self._broker = broker
        self._runner = runner
        self._bundles = bundles
        self._storage = storage
        self._reporter = Reporter(broker)
        self._work_dir = settings.work_dir(worker_id)
        self._slots = settings.worker_concurrency
        self._taken: dict[str, _Taken] = {}
        self._stopping = asyncio.Event()
        self._terminated: OrderedDict[str, None] = OrderedDict()
        self._ran = ran if ran is not None else RanAttempts(None)
        self._dispatch = BatchConsumer(
            settings,
            DISPATCH,
            settings.worker_group,
            self._take,
            client_id=f"contrail-worker-{worker_id}",
            decode=_dispatch_of,
            max_records=self._free,
            fetch_max_wait_ms=settings.worker_fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        # Attempt folders removed after the attempt's slot is free again.
        self._cleanups: set[asyncio.Task[None]] = set()

    def _busy(self) -> int:
        """Slots in use: attempts taken whose process has not ended yet."""
        return sum(1 for taken in self._taken.values() if taken.holds_slot)

    def _free(self) -> int:
        """How many dispatches to fetch now: one per free slot, none once stopping."""
        return 0 if self._stopping.is_set() else max(0, self._slots - self._busy())

    # --- lifecycle -------------------------------------------------------------------

    def stop(self) -> None:
        """Stop taking attempts; ``run`` then drains what runs and returns."""
        self._stopping.set()
        self._dispatch.stop()

    async def run(self) -> None:
        """Take and run attempts until ``stop()``; then drain, report and close the runner."""
        control = self._broker.subscriber(
            CONTROL,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=100,
            persistent=False,
        )

        @control
        async def on_control(message: AttemptControl) -> None:
            await self._on_control(message)

        await control.start()
        purge = asyncio.create_task(self._purge_loop(), name="bundle-purge")
        try:
            # Until stop(); it then commits what was reported taken and leaves
            # the group, which hands its partitions to other workers at once.
            await self._dispatch.run()
            await self._drain()
        finally:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
            await control.stop()
            await asyncio.gather(*self._cleanups, return_exceptions=True)
            await self._runner.close()

    async def _purge_loop(self, every_seconds: float = 3600.0) -> None:
        """Remove unused code bundles from the cache every hour (not those in use)."""
        idle = self.settings.worker_bundle_idle_hours * 3600
        while True:
            await asyncio.sleep(every_seconds)
            keep = {*self._runner.warm_bundles(), *self._bundles_in_use()}
            try:
                removed = await asyncio.to_thread(self._bundles.purge, idle, keep)
            except Exception:
                log.exception("purging the bundle cache failed")
                continue
            if removed:
                log.info("removed unused code bundles", extra={"digests": removed})

    def _bundles_in_use(self) -> list[Path]:
        folders = []
        for taken in self._taken.values():
            code = taken.dispatch.spec.code
            if code is not None and code.bundle:
                with contextlib.suppress(ValueError):
                    folders.append(self._bundles.folder_of(bundle_digest(code.bundle)))
        return folders

    async def _drain(self) -> None:
        running = [t.task for t in self._taken.values() if t.task is not None]
        if not running:
            return
        log.info(
            "worker stopping: waiting for running attempts",
            extra={
                "attempts": len(running),
                "grace_seconds": self.settings.worker_shutdown_grace_seconds,
            },
        )
        _, pending = await asyncio.wait(
            running, timeout=self.settings.worker_shutdown_grace_seconds
        )
        if not pending:
            return
        for taken in list(self._taken.values()):
            taken.shutdown = True
            await self._runner.abort(taken.dispatch.attempt_id)
        _, still = await asyncio.wait(pending, timeout=_FINAL_REPORT_SECONDS)
        for task in still:  # a report that can't be sent: the engine will find the worker lost
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)

    # --- taking attempts ---------------------------------------------------------------

    async def _take(self, dispatches: list[AttemptDispatch]) -> Awaitable[list[bool]]:
        """Take a fetched batch: start its attempts; the consumer commits its
        offsets once what this returns completes (each attempt's ``started``
        report is in Kafka), in order after earlier batches' commits.

        An attempt loads its code and inputs while its ``started`` report is
        sent, and its process starts only after Kafka has it. One whose report
        can't be sent (this worker is stopping while Kafka is away) is not run
        and not reported, and neither its offset nor any later one of its
        partition is committed: the next owner of the partition takes it.
        """
        taken: list[_Taken | None] = []
        for dispatch in dispatches:
            one = self._take_one(dispatch)
            if one is not None:
                one.announced = asyncio.create_task(self._announce(one))
                one.task = asyncio.create_task(self._attempt(one), name=dispatch.attempt_id)
            taken.append(one)
        return self._announced(taken)

    async def _announced(self, taken: list[_Taken | None]) -> list[bool]:
        """Per dispatch, whether its offset may be committed (an ignored one may)."""
        return [one is None or await self._is_announced(one) for one in taken]

    @staticmethod
    async def _is_announced(taken: _Taken) -> bool:
        return taken.announced is None or await taken.announced

    def _take_one(self, dispatch: AttemptDispatch) -> _Taken | None:
        attempt_id = dispatch.attempt_id
        if attempt_id in self._taken or attempt_id in self._ran:
            log.info("ignored a redelivered dispatch", extra={"attempt_id": attempt_id})
            return None
        taken = _Taken(dispatch, terminate=attempt_id in self._terminated)
        taken.log_uri = self._storage.uri(logs_key(dispatch))
        self._taken[attempt_id] = taken
        return taken

    async def _announce(self, taken: _Taken) -> bool:
        """Report ``taken`` started and heartbeat it from now on; False if stopped first.

        Sending is retried (Kafka may be restarting): the dispatch's offset is
        committed only after it, and the attempt's process starts only after it.
        """
        dispatch = taken.dispatch
        message = report(dispatch, self.worker_id, ReportKind.STARTED, log_uri=taken.log_uri)
        delays = _ANNOUNCE_BACKOFF.delays()
        while True:
            try:
                await self._reporter.publish(message)
                break
            except Exception:
                if self._stopping.is_set():
                    log.warning(
                        "could not report a taken attempt started; leaving it to another worker",
                        extra={"attempt_id": dispatch.attempt_id},
                    )
                    return False
                log.warning(
                    "could not report a taken attempt started; trying again",
                    exc_info=True,
                    extra={"attempt_id": dispatch.attempt_id},
                )
                await asyncio.sleep(delays.next())
        # Started as far as the engine knows: a copy of the dispatch is never run (here or
        # by the worker replacing this one); if this worker dies, the attempt is lost.
        self._ran.add(dispatch.attempt_id)
        taken.heartbeats = asyncio.create_task(self._heartbeats(dispatch))
        return True

    # --- one attempt ---------------------------------------------------------------------

    async def _attempt(self, taken: _Taken) -> None:
        dispatch = taken.dispatch
        try:
            with tracer.start_as_current_span(
                "run attempt",
                context=context_from_traceparent(dispatch.traceparent),
                attributes={
                    "contrail.execution": dispatch.execution.key,
                    "contrail.node_path": dispatch.node_path,
                    "contrail.attempt": dispatch.attempt,
                    "contrail.worker_id": self.worker_id,
                },
            ):
                traced = dispatch.model_copy(
                    update={"traceparent": current_traceparent() or dispatch.traceparent}
                )
                taken.dispatch = traced
                try:
                    await self._run_attempt(taken)
                except Exception as error:
                    log.exception(
                        "attempt failed in the worker", extra={"attempt_id": dispatch.attempt_id}
                    )
                    # The engine must hear of it, or it waits for the attempt until its timeout.
                    await self._report_failure(
                        taken,
                        ErrorKind.SYSTEM,
                        "WorkerError",
                        f"worker {self.worker_id} failed the attempt: "
                        f"{type(error).__name__}: {error}",
                    )
        except Exception:
            log.exception("could not report an attempt", extra={"attempt_id": dispatch.attempt_id})
        finally:
            await self._stop_heartbeats(taken)
            self._taken.pop(dispatch.attempt_id, None)
            self._dispatch.wake()

    async def _run_attempt(self, taken: _Taken) -> None:
        dispatch = taken.dispatch
        pause = self.settings.worker_test_pause_after_take_seconds
        if pause > 0:  # test only: a window between taking and starting
            log.warning(
                "test-only pause after taking an attempt",
                extra={"attempt_id": dispatch.attempt_id, "seconds": pause},
            )
            await asyncio.sleep(pause)
        code = dispatch.spec.code
        if code is None:
            await self._report_failure(
                taken,
                ErrorKind.USER,
                "UnsupportedTask",
                f"task {dispatch.task.name} has no Python code location; "
                "this worker runs Python tasks only",
            )
            return
        try:
            bundle_dir = (
                await self._bundles.folder(code.bundle)
                if code.bundle
                else self._bundles.no_bundle_dir
            )
        except BundleUnavailable as error:
            await self._final(taken, bundle_unavailable(dispatch, self.worker_id, str(error)))
            return
        try:
            inputs = await self._inputs(dispatch)
        except Exception as error:
            await self._report_failure(
                taken,
                ErrorKind.SYSTEM,
                "InputsUnavailable",
                f"the inputs at {dispatch.inputs_uri} can't be read: {error}",
            )
            return
        if not await self._is_announced(taken):
            return  # never reported started: the partition's next owner takes it
        if taken.terminate:
            await self._final(
                taken, report(dispatch, self.worker_id, ReportKind.ABORTED, error=_terminated())
            )
            return

        log_prefix = logs_key(dispatch)
        log_uri = taken.log_uri
        spec = AttemptSpec(
            attempt_id=dispatch.attempt_id,
            bundle_dir=bundle_dir,
            module=code.module,
            function=code.function,
            inputs=inputs,
            interface=dispatch.spec.interface,
            limits=dispatch.spec.resources.limits,
            timeout_seconds=dispatch.spec.timeout_seconds,
            environment=dispatch.spec.environment,
        )
        folder = self._runner.attempt_folder(spec.attempt_id)
        stdout, stderr = folder / "stdout.log", folder / "stderr.log"
        background: list[asyncio.Task[None]] = []

        async def started() -> None:
            # Reported started when taken: now its logs are followed.
            background.append(
                asyncio.create_task(
                    self._storage.follow_logs(
                        log_prefix, stdout, stderr, self.settings.worker_log_sync_seconds
                    )
                )
            )

        try:
            result = await self._runner.run(spec, on_started=started)
        finally:
            # The process has ended: its slot can take the next attempt while
            # this one's logs, outputs and report finish.
            taken.holds_slot = False
            self._dispatch.wake()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        try:
            await self._finish(taken, result, log_prefix, log_uri)
        finally:
            self._remove_later(result.stdout_path.parent)

    def _remove_later(self, folder: Path) -> None:
        """Remove an ended attempt's folder off the attempt's path (its slot is free sooner)."""

        async def remove() -> None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(_remove_tree, folder)

        task = asyncio.create_task(remove())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _finish(
        self, taken: _Taken, result: AttemptResult, log_prefix: str, log_uri: str
    ) -> None:
        dispatch = taken.dispatch
        try:
            await self._storage.upload_logs(log_prefix, result.stdout_path, result.stderr_path)
        except Exception:
            log.warning("could not upload an attempt's logs", exc_info=True)
        stored: StoredOutputs | None = None
        if result.phase is TaskAttemptPhase.SUCCEEDED and result.outputs is not None:
            try:
                stored = await self._store_outputs(dispatch, result)
            except OutputFileError as error:
                result = _failed(result, ErrorKind.USER, "OutputError", str(error))
            except Exception as error:
                result = _failed(
                    result,
                    ErrorKind.SYSTEM,
                    "OutputsUnavailable",
                    f"storing outputs failed: {error}",
                )
        message = terminal_report(dispatch, self.worker_id, result, log_uri, stored)
        if taken.shutdown and message.kind is ReportKind.ABORTED:
            message = message.model_copy(update={"error": _shut_down(self.worker_id)})
        await self._final(taken, message)
        log.info(
            "attempt ended",
            extra={"attempt_id": dispatch.attempt_id, "kind": str(message.kind)},
        )

    async def _store_outputs(
        self, dispatch: AttemptDispatch, result: AttemptResult
    ) -> StoredOutputs:
        outputs = await self._storage.store_local_blobs(
            result.outputs, result.stdout_path.parent / "work", files_key(dispatch)
        )
        data = outputs_json(outputs)
        if len(data) <= self.settings.worker_inline_outputs_bytes:
            return StoredOutputs(inline=outputs)
        return StoredOutputs(uri=await self._storage.put_outputs(outputs_key(dispatch), data))

    async def _inputs(self, dispatch: AttemptDispatch) -> dict[str, Any]:
        if dispatch.inputs_uri is None:
            return dispatch.inputs
        bucket, key = parse_s3_uri(dispatch.inputs_uri)
        if bucket != self._storage.store.bucket:
            raise ValueError(f"this worker reads bucket {self._storage.store.bucket!r}")
        data = await asyncio.to_thread(self._storage.store.get, key)
        inputs = json.loads(data)
        if not isinstance(inputs, dict):
            raise ValueError("not a JSON object of literals by input name")
        return {**inputs, **dispatch.inputs}

    async def _heartbeats(self, dispatch: AttemptDispatch) -> None:
        seq = 0
        while True:
            await asyncio.sleep(self.settings.worker_heartbeat_interval_seconds)
            seq += 1
            try:
                await self._reporter.publish(
                    report(dispatch, self.worker_id, ReportKind.HEARTBEAT, heartbeat_seq=seq)
                )
            except Exception:
                log.warning("could not send a heartbeat", exc_info=True)

    async def _report_failure(
        self, taken: _Taken, kind: ErrorKind, code: str, message: str
    ) -> None:
        error = ExecutionError(kind=kind, code=code, message=message)
        await self._final(
            taken, report(taken.dispatch, self.worker_id, ReportKind.FAILED, error=error)
        )

    async def _final(self, taken: _Taken, message: AttemptReport) -> None:
        """The attempt's last report, after its ``started``: no heartbeat of it follows.

        Nothing is reported of an attempt never reported started: it was not taken.
        """
        if not await self._is_announced(taken):
            return
        await self._stop_heartbeats(taken)
        await self._reporter.publish(message)

    @staticmethod
    async def _stop_heartbeats(taken: _Taken) -> None:
        beats, taken.heartbeats = taken.heartbeats, None
        if beats is not None:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)

    # --- control ---------------------------------------------------------------------------

    async def _on_control(self, control: AttemptControl) -> None:
        attempt_id = f"{control.execution.key}/{control.node_path}/{control.attempt}"
        taken = self._taken.get(attempt_id)
        if taken is None:
            self._remember_termination(attempt_id)
            return
        taken.terminate = True
        if await self._runner.abort(attempt_id):
            log.info(
                "terminating an attempt", extra={"attempt_id": attempt_id, "reason": control.reason}
            )

    def _remember_termination(self, attempt_id: str) -> None:
        self._terminated[attempt_id] = None
        while len(self._terminated) > REMEMBERED_TERMINATIONS:
            self._terminated.popitem(last=False)


def _dispatch_of(record: Record) -> AttemptDispatch:
    """Decode a dispatch; one that isn't goes to ``contrail.dispatch.dlq`` with why."""
    try:
        return AttemptDispatch.model_validate_json(record.value or b"")
    except ValidationError as error:
        raise ValueError(f"not an AttemptDispatch: {_first_error(error)}") from None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the message"
    return f"{where}: {first.get('msg', 'invalid')}"


def _terminated() -> ExecutionError:
    return ExecutionError(
        kind=ErrorKind.USER, code="Aborted", message="the attempt was terminated before it ran"
    )


def _shut_down(worker_id: str) -> ExecutionError:
    return ExecutionError(
        kind=ErrorKind.SYSTEM,
        code="AttemptAborted",
        message=f"worker {worker_id} shut down and stopped the attempt after its grace period",
    )


def _failed(result: AttemptResult, kind: ErrorKind, code: str, message: str) -> AttemptResult:
    return AttemptResult(
        TaskAttemptPhase.FAILED,
        None,
        ExecutionError(kind=kind, code=code, message=message),
        result.usage,
        result.stdout_path,
        result.stderr_path,
    )


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
