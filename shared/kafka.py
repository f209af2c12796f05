"""Kafka: the one broker factory, and topic creation.

Every producer is idempotent with ``acks=all``, so a retried send never
duplicates or reorders records of one partition. FastStream's telemetry
middleware puts the trace context in each record's headers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider

from shared.events.topics import ALL_TOPICS, dead_letter
from shared.settings import InfraSettings

log = logging.getLogger(__name__)


def create_broker(
    settings: InfraSettings,
    client_id: str,
    tracer_provider: TracerProvider | None = None,
) -> KafkaBroker:
    """A FastStream broker whose producer is idempotent and waits for all replicas."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=15_000,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)],
        logger=logging.getLogger(f"contrail.kafka.{client_id}"),
        # "Received" and "Processed" for every message: thousands of lines a
        # second under load, so only at DEBUG.
        log_level=logging.DEBUG,
    )


def create_producer(settings: InfraSettings, client_id: str) -> AIOKafkaProducer:
    """A bare idempotent producer (acks=all), for the outbox relay's raw records.

    The relay forwards records exactly as stored, trace context included, so it
    needs none of the broker's per-message middleware.
    """
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=15_000,
    )


def contrail_topics() -> list[str]:
    """Every topic Contrail uses, each with its dead-letter topic."""
    return [name for topic in ALL_TOPICS for name in (topic, dead_letter(topic))]


async def ensure_topics(settings: InfraSettings, topics: Iterable[str] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return those created."""
    wanted = list(topics) if topics is not None else contrail_topics()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="contrail-admin"
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        # Another service may create them between our list and create.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        name=topic,
                        num_partitions=settings.kafka_partitions,
                        replication_factor=settings.kafka_replication_factor,
                    )
                    for topic in missing
                ]
            )
        log.info("created Kafka topics", extra={"topics": missing})
        return missing
    finally:
        await admin.close()
