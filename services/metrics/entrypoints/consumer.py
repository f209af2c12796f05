"""The metrics service's consumer: contrail.executions in its own group, a batch per transaction.

A ``shared.kafka.BatchConsumer`` decodes each record into its typed event
(``shared.events.catalogue.decode_event``): a malformed or unknown one goes to
``contrail.executions.dlq`` and ingest goes on. A fetched batch is applied in
one transaction with its event ids (``service_layer.ingest``); the offsets
are committed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from opentelemetry import metrics

from services.metrics.bootstrap import MetricsServices
from services.metrics.service_layer.ingest import apply_events
from shared.events.catalogue import decode_event
from shared.events.envelope import CloudEvent
from shared.events.topics import EXECUTIONS
from shared.kafka import BatchConsumer, Record
from shared.service.app import ServiceRuntime
from shared.settings import MetricsSettings

METRICS_GROUP = "contrail-metrics"

_meter = metrics.get_meter("contrail.metrics")
_applied = _meter.create_counter(
    "contrail_metrics_events_applied", description="Execution events applied to the accounting."
)
_batches = _meter.create_histogram(
    "contrail_metrics_batch_seconds", unit="s", description="Time to apply one fetched batch."
)


def decode(record: Record) -> CloudEvent[Any]:
    """The typed event of ``record`` (raises for a malformed or unknown one: dead-lettered)."""
    return decode_event(record.value or b"")


def ingest_consumer(
    settings: MetricsSettings,
    svc: MetricsServices,
    group_id: str = METRICS_GROUP,
    topic: str = EXECUTIONS,
) -> BatchConsumer[CloudEvent[Any]]:
    async def on_events(events: list[CloudEvent[Any]]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        applied = await apply_events(svc.uow_factory, events)
        _applied.add(applied)
        _batches.record(loop.time() - started)

    return BatchConsumer(
        settings,
        topic,
        group_id,
        on_events,
        client_id="contrail-metrics-ingest",
        decode=decode,
        max_records=settings.metrics_batch_size,
    )


def start_ingest(runtime: ServiceRuntime, settings: MetricsSettings, svc: MetricsServices) -> None:
    """Consume in the background until the service stops."""
    task = asyncio.get_running_loop().create_task(
        ingest_consumer(settings, svc).run(), name="metrics-ingest"
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.shutdown_hooks.append(stop)
