"""The notifier's consumers and its sender loop.

- ``contrail.executions``, in the notifier's own group, through the typed
  ``BatchConsumer``: a fetched batch is handled in one transaction (inbox,
  streaks, deliveries), and its offsets are committed after that commit.
- ``contrail.registry``: each launch plan registered is read from the
  registry's API, so its notifications are known before its executions run.
- The sender: claims due deliveries (``FOR UPDATE SKIP LOCKED`` with a lease,
  so several notifier processes share the work) and sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from services.notifier.bootstrap import NotifierServices
from services.notifier.domain.rules import ErrorFacts, EventKind, Subject
from shared.events.catalogue import (
    ExecutionError,
    ExecutionPhaseChanged,
    LaunchPlanRegistered,
    NodePhaseChanged,
    TaskAttemptPhaseChanged,
    decode_event,
)
from shared.events.topics import REGISTRY
from shared.kafka import BatchConsumer, Record
from shared.retry import is_transient
from shared.service.app import ServiceRuntime

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)


def _error(error: ExecutionError | None) -> ErrorFacts | None:
    if error is None:
        return None
    return ErrorFacts(error.kind.value, error.code, error.message, error.traceback_tail)


def subject_of(record: Record) -> Subject | None:
    """The notifier's view of one execution event (None: not an execution event)."""
    event = decode_event(record.value or b"")
    data: Any = event.data
    if not isinstance(data, ExecutionPhaseChanged | NodePhaseChanged | TaskAttemptPhaseChanged):
        return None
    common: dict[str, Any] = {
        "event_id": event.id,
        "project": data.execution.project,
        "domain": data.execution.domain,
        "execution": data.execution.name,
        "phase": data.phase.value,
        "workflow": data.workflow.name if data.workflow else None,
        "workflow_version": data.workflow.version if data.workflow else None,
        "launch_plan": data.launch_plan.name if data.launch_plan else None,
        "launch_plan_version": data.launch_plan.version if data.launch_plan else None,
        "labels": dict(data.labels),
        "error": _error(data.error),
        "time": event.time,
    }
    if isinstance(data, ExecutionPhaseChanged):
        return Subject(
            kind=EventKind.EXECUTION,
            duration_seconds=data.duration_seconds,
            started_at=data.started_at,
            ended_at=data.ended_at,
            **common,
        )
    if isinstance(data, NodePhaseChanged):
        return Subject(kind=EventKind.NODE, node_id=data.node_id, **common)
    return Subject(
        kind=EventKind.TASK_ATTEMPT,
        node_id=data.node_id,
        attempt=data.attempt,
        started_at=data.started_at,
        ended_at=data.ended_at,
        **common,
    )


def registered_launch_plan(record: Record) -> LaunchPlanRegistered | None:
    event = decode_event(record.value or b"")
    return event.data if isinstance(event.data, LaunchPlanRegistered) else None


def register_notifier(runtime: ServiceRuntime, svc: NotifierServices) -> None:
    """Start the consumers and the sender."""
    settings = svc.settings
    wake = asyncio.Event()

    async def on_events(subjects: list[Subject]) -> None:
        if await svc.notifier.ingest(subjects):
            wake.set()

    async def on_registered(plans: list[LaunchPlanRegistered]) -> None:
        for plan in plans:
            await svc.launch_plans.notifications(plan.identifier)

    consumers: list[BatchConsumer[Any]] = [
        BatchConsumer(
            settings,
            settings.notifier_executions_topic,
            settings.notifier_group,
            on_events,
            client_id="contrail-notifier-executions",
            decode=subject_of,
        ),
        BatchConsumer(
            settings,
            REGISTRY,
            settings.notifier_group,
            on_registered,
            client_id="contrail-notifier-registry",
            decode=registered_launch_plan,
        ),
    ]
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c.run(), name=f"notifier-consumer-{c.topic}") for c in consumers]
    tasks.append(loop.create_task(_send_loop(svc, wake), name="notifier-sender"))
    tasks.append(loop.create_task(_forget_old(svc), name="notifier-forget"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await svc.launch_plans.close()

    runtime.shutdown_hooks.append(stop)


async def _forget_old(svc: NotifierServices) -> None:
    """Hourly: forget event ids and dedup keys older than the retention."""
    while True:
        try:
            await svc.notifier.forget_old(svc.settings.notifier_inbox_retention_hours)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("forgetting old event ids failed")
        await asyncio.sleep(3600)


async def _send_loop(svc: NotifierServices, wake: asyncio.Event) -> None:
    settings = svc.settings
    delays = svc.notifier.backoff.delays()
    while True:
        try:
            sent = await svc.notifier.send_due(settings.notifier_send_batch)
            delays.reset()
        except Exception as exc:
            if not is_transient(exc):
                log.exception("the sender's round failed")
            await asyncio.sleep(delays.next())
            continue
        if sent:
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), settings.notifier_send_interval_seconds)
