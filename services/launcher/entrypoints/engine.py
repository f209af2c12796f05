"""The engine's consumers: workers' reports, queued executions, and lost workers.

Both subscribers belong to the ``contrail-engine`` consumer group and commit a
record's offset only after the transaction it led to has committed (a failure
seeks back and the record is redelivered; every signal is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaMessage
from faststream.kafka.annotations import KafkaMessage as MessageParam
from pydantic import ValidationError

from services.launcher.adapters.logs import read_json_object
from services.launcher.adapters.report_backlog import unread_reports
from services.launcher.entrypoints.wiring import LauncherServices
from shared.dispatch import AttemptReport
from shared.events.catalogue import ExecutionPhaseChanged
from shared.events.topics import ATTEMPTS, EXECUTIONS, dead_letter
from shared.phases import ExecutionPhase
from shared.service.app import ServiceRuntime

log = logging.getLogger(__name__)

ENGINE_GROUP = "contrail-engine"
HANDLER_ATTEMPTS = 4


def register_engine(runtime: ServiceRuntime, svc: LauncherServices) -> None:
    """Subscribe the engine to its topics and start the heartbeat watch."""
    svc.bind(runtime)
    broker = runtime.broker
    settings = svc.settings

    async def load_outputs(uri: str) -> dict[str, Any]:
        return await read_json_object(svc.store, uri)

    async def send_to_dlq(topic: str, message: KafkaMessage, reason: str) -> None:
        raw = message.raw_message
        await broker.publish(
            message.body,
            dead_letter(topic),
            key=getattr(raw, "key", None),
            headers={"x-contrail-dlq-reason": reason[:1000]},
        )

    async def handle(
        topic: str, message: KafkaMessage, work: Callable[[], Awaitable[None]]
    ) -> None:
        # A failure is retried a few times (PostgreSQL restarting, a lock timeout);
        # what keeps failing is dead-lettered so that it never blocks its partition.
        for attempt in range(1, HANDLER_ATTEMPTS + 1):
            try:
                await work()
                return
            except Exception as exc:
                if attempt == HANDLER_ATTEMPTS:
                    log.exception("dead-lettering a record", extra={"topic": topic})
                    await send_to_dlq(topic, message, f"{type(exc).__name__}: {exc}")
                    return
                await asyncio.sleep(0.2 * 2**attempt)

    @broker.subscriber(
        ATTEMPTS,
        group_id=ENGINE_GROUP,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.engine_fetch_max_wait_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_report(message: MessageParam) -> None:
        try:
            report = AttemptReport.model_validate_json(message.body)
        except ValidationError as exc:
            await send_to_dlq(ATTEMPTS, message, f"malformed attempt report: {exc}")
            return
        await handle(ATTEMPTS, message, lambda: svc.engine.report(report, load_outputs))

    @broker.subscriber(
        EXECUTIONS,
        group_id=ENGINE_GROUP,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.engine_fetch_max_wait_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_execution_event(message: MessageParam) -> None:
        # Only an execution's first event (QUEUED, seq 0) concerns the engine: it
        # starts executions that whoever created them did not start. Most events
        # are not that one; skip them before parsing (compact JSON, as we write it).
        body = message.body
        if b'"seq":0,' not in body and b'"seq":0}' not in body:
            return
        try:
            raw = json.loads(body)
        except ValueError:
            return
        if not isinstance(raw, dict):
            return
        data = raw.get("data") if isinstance(raw, dict) else None
        if (
            raw.get("type") != ExecutionPhaseChanged.event_type
            or not isinstance(data, dict)
            or data.get("seq") != 0
            or data.get("phase") != ExecutionPhase.QUEUED.value
        ):
            return
        execution = data.get("execution") or {}
        key = f"{execution.get('project')}/{execution.get('domain')}/{execution.get('name')}"
        await handle(EXECUTIONS, message, lambda: svc.engine.start_if_queued(key))

    task = asyncio.get_running_loop().create_task(
        _watch_heartbeats(svc), name="launcher-heartbeats"
    )
    svc.background.append(task)
    runtime.shutdown_hooks.append(lambda: stop_engine(svc))


async def _watch_heartbeats(svc: LauncherServices) -> None:
    settings = svc.settings

    async def all_read() -> bool:
        return await unread_reports(settings, ENGINE_GROUP) == 0

    # Heartbeats sent while this launcher was down are still in Kafka: give the
    # consumer one timeout's worth of time to read them before judging anyone.
    await asyncio.sleep(settings.heartbeat_timeout_seconds)
    while True:
        await asyncio.sleep(settings.heartbeat_check_seconds)
        try:
            await svc.engine.check_heartbeats(settings.heartbeat_timeout_seconds, all_read)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("heartbeat check failed; trying again")


async def stop_engine(svc: LauncherServices) -> None:
    for task in svc.background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
