"""The worker process: consumes ``contrail.dispatch`` as the workers' consumer group.

Running task attempts arrives with the execution engine; until then a worker
dead-letters what it is dispatched, with the reason, so nothing is lost.
"""

from __future__ import annotations

import logging
import os
import socket

from faststream import FastStream
from faststream.kafka import KafkaMessage

from shared.events.topics import DISPATCH, dead_letter
from shared.kafka import create_broker, ensure_topics
from shared.settings import WorkerSettings
from shared.telemetry import configure_logging, configure_telemetry

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_worker(settings: WorkerSettings) -> None:
    configure_logging("worker", settings.log_level)
    telemetry = configure_telemetry("worker")
    await ensure_topics(settings)
    me = worker_id()
    broker = create_broker(settings, f"contrail-worker-{me}", telemetry.tracer_provider)

    @broker.subscriber(
        DISPATCH,
        group_id=settings.worker_group,
        auto_offset_reset="earliest",
        max_workers=settings.worker_concurrency,
    )
    async def on_dispatch(body: bytes, message: KafkaMessage) -> None:
        raw = message.raw_message
        key = getattr(raw, "key", None)
        await broker.publish(
            body,
            dead_letter(DISPATCH),
            key=key,
            headers={
                **{k: v for k, v in message.headers.items() if isinstance(v, str)},
                "x-contrail-dlq-reason": "this worker cannot run task attempts yet",
                "x-contrail-worker": me,
            },
        )
        log.warning("dead-lettered a dispatched attempt", extra={"worker_id": me})

    app = FastStream(broker, logger=log)
    log.info(
        "worker starting",
        extra={"worker_id": me, "concurrency": settings.worker_concurrency},
    )
    try:
        await app.run()
    finally:
        telemetry.shutdown()
