"""Kafka: the one broker factory, and topic creation.

Every producer is idempotent with ``acks=all``, so a retried send never
duplicates or reorders records of one partition. FastStream's telemetry
middleware puts the trace context in each record's headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
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


Record: TypeAlias = ConsumerRecord[bytes, bytes]
BatchHandler: TypeAlias = Callable[[list[Record]], Awaitable[None]]


class BatchConsumer:
    """Reads a topic as a member of a consumer group, one fetched batch at a time.

    ``handler`` gets every record a fetch returned (up to ``max_records``, in
    order within each partition); the group's offsets are committed once it
    returns. If it raises, the consumer goes back to the batch's first records
    and tries again after ``retry_seconds``: delivery is at least once, so the
    handler must be idempotent. A fetch returns as soon as records arrive and
    otherwise waits ``fetch_max_wait_ms`` at the broker.
    """

    def __init__(
        self,
        settings: InfraSettings,
        topic: str,
        group_id: str,
        handler: BatchHandler,
        *,
        client_id: str,
        max_records: int = 500,
        fetch_max_wait_ms: int = 250,
        retry_seconds: float = 1.0,
    ) -> None:
        self._settings = settings
        self.topic = topic
        self.group_id = group_id
        self._handler = handler
        self._client_id = client_id
        self._max_records = max_records
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._retry_seconds = retry_seconds

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self.group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )

    async def run(self) -> None:
        """Consume until cancelled, reconnecting when Kafka goes away."""
        while True:
            consumer = self._consumer()
            try:
                await consumer.start()
                while True:
                    fetched = await consumer.getmany(timeout_ms=1000, max_records=self._max_records)
                    if fetched:
                        await self._handle(consumer, fetched)
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning(
                    "Kafka consumer failed; reconnecting",
                    extra={"topic": self.topic, "error": repr(exc)},
                )
                await asyncio.sleep(self._retry_seconds)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _handle(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Any]]
    ) -> None:
        records: list[Record] = [record for batch in fetched.values() for record in batch]
        try:
            await self._handler(records)
        except Exception:
            log.exception("handling a batch failed; retrying it", extra={"topic": self.topic})
            for tp, batch in fetched.items():
                with contextlib.suppress(Exception):  # not ours any more after a rebalance
                    consumer.seek(tp, batch[0].offset)
            await asyncio.sleep(self._retry_seconds)
            return
        try:
            await consumer.commit()
        except CommitFailedError:
            # The group rebalanced meanwhile: the new owner reads these again.
            log.warning("offset commit failed after a rebalance", extra={"topic": self.topic})


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
