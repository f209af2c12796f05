"""The engine's consumers: workers' reports, queued executions, and lost workers.

Both consumers belong to the ``contrail-engine`` consumer group and commit a
batch's offsets only after the transaction it led to has committed (a failure
seeks back and the records are read again; every signal is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.launcher.adapters.logs import read_json_object
from services.launcher.adapters.report_backlog import ReportProgress
from services.launcher.entrypoints.wiring import LauncherServices
from shared.dispatch import AttemptReport
from shared.events.catalogue import ExecutionPhaseChanged
from shared.events.topics import ATTEMPTS, EXECUTIONS, dead_letter
from shared.kafka import BatchConsumer, Record
from shared.phases import ExecutionPhase
from shared.service.app import ServiceRuntime

log = logging.getLogger(__name__)

ENGINE_GROUP = "contrail-engine"
HANDLER_ATTEMPTS = 4


def register_engine(runtime: ServiceRuntime, svc: LauncherServices) -> None:
    """Consume the engine's topics and start the heartbeat watch."""
    svc.bind(runtime)
    broker = runtime.broker
    settings = svc.settings

    async def load_outputs(uri: str) -> dict[str, Any]:
        return await read_json_object(svc.store, uri)

    async def send_to_dlq(topic: str, record: Record, reason: str) -> None:
        await broker.publish(
            record.value,
            dead_letter(topic),
            key=record.key,
            headers={"x-contrail-dlq-reason": reason[:1000]},
        )

    async def handle(topic: str, record: Record, work: Callable[[], Awaitable[None]]) -> None:
        # A failure is retried a few times (PostgreSQL restarting, a lock timeout);
        # what keeps failing is dead-lettered so that it never blocks its partition.
        for attempt in range(1, HANDLER_ATTEMPTS + 1):
            try:
                await work()
                return
            except Exception as exc:
                if attempt == HANDLER_ATTEMPTS:
                    log.exception("dead-lettering a record", extra={"topic": topic})
                    await send_to_dlq(topic, record, f"{type(exc).__name__}: {exc}")
                    return
                await asyncio.sleep(0.2 * 2**attempt)

    progress = ReportProgress(settings, ENGINE_GROUP)

    async def on_reports(records: list[Record]) -> None:
        await apply_reports(records)
        progress.applied(records)  # for the heartbeat watch: these are stored

    async def apply_reports(records: list[Record]) -> None:
        # A fetched batch of reports is applied in one transaction; if that
        # fails, each report is applied (and, failing, dead-lettered) alone.
        reports: list[tuple[Record, AttemptReport]] = []
        for record in records:
            try:
                reports.append((record, AttemptReport.model_validate_json(record.value or b"")))
            except ValidationError as exc:
                await send_to_dlq(ATTEMPTS, record, f"malformed attempt report: {exc}")
        try:
            await svc.engine.report_batch([report for _, report in reports], load_outputs)
        except Exception:
            log.warning("a batch of reports failed; applying them one at a time", exc_info=True)
            for record, report in reports:
                await handle(
                    ATTEMPTS, record, functools.partial(svc.engine.report, report, load_outputs)
                )

    async def on_execution_events(records: list[Record]) -> None:
        for record in records:
            key = _queued_execution(record.value or b"")
            if key is not None:
                await handle(EXECUTIONS, record, functools.partial(svc.engine.start_if_queued, key))

    consumers = [
        BatchConsumer(
            settings,
            ATTEMPTS,
            ENGINE_GROUP,
            on_reports,
            client_id="contrail-engine-reports",
            max_records=settings.engine_batch_size,
            fetch_max_wait_ms=settings.engine_fetch_max_wait_ms,
        ),
        BatchConsumer(
            settings,
            EXECUTIONS,
            ENGINE_GROUP,
            on_execution_events,
            client_id="contrail-engine-executions",
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


def _queued_execution(body: bytes) -> str | None:
    """The key of the execution whose first event (QUEUED, seq 0) ``body`` is, else None.

    Only that event concerns the engine: it starts executions that whoever
    created them did not start. Most events are not that one, so they are
    skipped before parsing (compact JSON, as we write it).
    """
    if b'"seq":0,' not in body and b'"seq":0}' not in body:
        return None
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    data = raw.get("data")
    if (
        raw.get("type") != ExecutionPhaseChanged.event_type
        or not isinstance(data, dict)
        or data.get("seq") != 0
        or data.get("phase") != ExecutionPhase.QUEUED.value
    ):
        return None
    execution = data.get("execution") or {}
    return f"{execution.get('project')}/{execution.get('domain')}/{execution.get('name')}"


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
            except Exception:
                log.exception("heartbeat check failed; trying again")
    finally:
        await progress.close()


async def _forget_old_reports(svc: LauncherServices, every_seconds: float = 600.0) -> None:
    """Purge applied report ids past their retention, every ten minutes."""
    retention = timedelta(hours=svc.settings.applied_reports_retention_hours)
    while True:
        try:
            forgotten = await svc.engine.repository.forget_reports(
                svc.engine.pool, datetime.now(UTC) - retention
            )
            if forgotten:
                log.info("forgot applied report ids", extra={"count": forgotten})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("purging applied report ids failed; trying again later")
        await asyncio.sleep(every_seconds)


async def stop_engine(svc: LauncherServices) -> None:
    for task in svc.background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
