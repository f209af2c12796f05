"""The engine's consumers: workers' reports, queued executions, and lost workers.

Both consumers belong to the ``contrail-engine`` consumer group and are
``shared.kafka.BatchConsumer``s: a batch's offsets are committed only after the
transaction it led to has committed, a transient fault (PostgreSQL restarting)
is retried for as long as it lasts, and only a record that fails for its own
sake goes to the dead-letter topic (every signal is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.launcher.adapters.logs import read_json_object
from services.launcher.adapters.report_backlog import ReportProgress
from services.launcher.bootstrap import LauncherServices
from shared.dispatch import AttemptReport
from shared.events.catalogue import ExecutionPhaseChanged
from shared.events.topics import ATTEMPTS, EXECUTIONS
from shared.identifiers import ExecutionIdentifier
from shared.kafka import BatchConsumer, Record
from shared.phases import ExecutionPhase
from shared.retry import log_failure
from shared.service.app import ServiceRuntime

log = logging.getLogger(__name__)

ENGINE_GROUP = "contrail-engine"


def register_engine(runtime: ServiceRuntime, svc: LauncherServices) -> None:
    """Consume the engine's topics and start the heartbeat watch."""
    settings = svc.settings

    async def load_outputs(uri: str) -> dict[str, Any]:
        return await read_json_object(svc.store, uri)

    progress = ReportProgress(settings, ENGINE_GROUP)

    async def on_reports(reports: list[tuple[Record, AttemptReport]]) -> None:
        # A fetched batch of reports is applied in one transaction; the
        # heartbeat watch then knows how far each partition is applied.
        await svc.engine.report_batch([report for _, report in reports], load_outputs)
        progress.applied(record for record, _ in reports)

    async def on_queued(keys: list[str]) -> None:
        for key in keys:
            await svc.engine.start_if_queued(key)

    consumers: list[BatchConsumer[Any]] = [
        BatchConsumer(
            settings,
            ATTEMPTS,
            ENGINE_GROUP,
            on_reports,
            client_id="contrail-engine-reports",
            decode=_with_record,
            max_records=settings.engine_batch_size,
            fetch_max_wait_ms=settings.engine_fetch_max_wait_ms,
        ),
        BatchConsumer(
            settings,
            EXECUTIONS,
            ENGINE_GROUP,
            on_queued,
            client_id="contrail-engine-executions",
            decode=queued_execution,
            max_records=settings.engine_batch_size,
            fetch_max_wait_ms=settings.engine_fetch_max_wait_ms,
        ),
    ]
    loop = asyncio.get_running_loop()
    for consumer in consumers:
        svc.background.append(
            loop.create_task(consumer.run(), name=f"engine-consumer-{consumer.topic}")
        )
    svc.background.append(
        loop.create_task(_watch_heartbeats(svc, progress), name="launcher-heartbeats")
    )
    svc.background.append(loop.create_task(_forget_old_reports(svc), name="launcher-reports"))
    runtime.shutdown_hooks.append(lambda: stop_engine(svc))


class _EventData(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution: ExecutionIdentifier
    seq: int
    phase: str | None = None


class _ExecutionEventHead(BaseModel):
    """What the engine reads of an execution event; the rest is skipped unvalidated."""

    model_config = ConfigDict(frozen=True)

    type: str
    data: _EventData


def queued_execution(record: Record) -> str | None:
    """The key of the execution whose first event (QUEUED, seq 0) ``record`` is, else None.

    Only that event concerns the engine: it starts executions that whoever
    created them did not start. Every event is parsed, but only the fields
    read here are validated (a few microseconds). Raises ValueError for a
    record that is not an execution event (it is dead-lettered).
    """
    head = _ExecutionEventHead.model_validate_json(record.value or b"")
    if (
        head.data.seq != 0
        or head.type != ExecutionPhaseChanged.event_type
        or head.data.phase != ExecutionPhase.QUEUED.value
    ):
        return None
    return head.data.execution.key


def _with_record(record: Record) -> tuple[Record, AttemptReport]:
    """A worker's report, with the record it came in (its partition and timestamp)."""
    return record, AttemptReport.model_validate_json(record.value or b"")


async def _watch_heartbeats(svc: LauncherServices, progress: ReportProgress) -> None:
    """Look for lost workers every ``heartbeat_check_seconds``.

    No head start is needed after a restart: an attempt is judged only on what
    this process has applied of its partition, or on a partition without lag.
    """
    settings = svc.settings
    try:
        while True:
            await asyncio.sleep(settings.heartbeat_check_seconds)
            try:
                await svc.engine.check_heartbeats(
                    settings.heartbeat_timeout_seconds, progress.read_through
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, "heartbeat check", exc)
    finally:
        await progress.close()


async def _forget_old_reports(svc: LauncherServices, every_seconds: float = 600.0) -> None:
    """Purge applied report ids past their retention, every ten minutes."""
    retention = timedelta(hours=svc.settings.applied_reports_retention_hours)
    while True:
        try:
            forgotten = await svc.engine.forget_reports(datetime.now(UTC) - retention)
            if forgotten:
                log.info("forgot applied report ids", extra={"count": forgotten})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_failure(log, "purging applied report ids", exc)
        await asyncio.sleep(every_seconds)


async def stop_engine(svc: LauncherServices) -> None:
    for task in svc.background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
