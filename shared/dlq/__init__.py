"""Dead letters: count, list and replay the records a consumer set aside.

A consumer sends a record that fails for its own sake (unparseable, invalid,
violating a constraint) to ``<topic>.dlq`` (``shared.events.topics.dead_letter``)
with its key, its headers and two of its own (``x-contrail-dlq-reason``: why;
``x-contrail-dlq-origin``: ``topic/partition/offset``). Once the cause is
fixed (a bug, a missing row), ``replay`` puts those records back on the
original topic, with the same key (hence the same partition) and the headers
they had, without the dead-letter ones.

Replay reads each partition of ``<topic>.dlq`` from where the last replay
stopped up to its end when the replay began (records dead-lettered again
while it runs wait for the next replay), publishes them in order, and only
then commits its consumer group's offsets (``contrail-dlq-replay.<topic>``).
Running it twice publishes nothing twice; a replay killed between publishing
and committing republishes that last batch, which consumers dedupe by event
id as they do any redelivery. ``count`` and ``list`` show what the next replay
would publish, and commit nothing.

From the command line: ``python -m shared.dlq {count,list,replay} TOPIC``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events.topics import dead_letter
from shared.kafka import DLQ_ORIGIN, DLQ_REASON, create_producer
from shared.retry import retry_until
from shared.settings import InfraSettings

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"
DLQ_HEADER_PREFIX = "x-contrail-dlq-"
"""The dead-lettering's own headers (``DLQ_REASON``, ``DLQ_ORIGIN``); replay drops them."""
MAX_EMPTY_FETCHES = 30
"""Fetches (of up to a second) that may return nothing before a read gives up."""
CONNECT_DEADLINE = 30.0
"""Seconds to wait for Kafka (transient faults only) before giving up."""


def topics_of(topic: str) -> tuple[str, str]:
    """``(original, dead letters)`` for either name given.

    ``contrail.attempts`` and ``contrail.attempts.dlq`` both name the dead
    letters of ``contrail.attempts``.
    """
    original = topic.removesuffix(DLQ_SUFFIX)
    if not original:
        raise ValueError(f"not a topic name: {topic!r}")
    return original, dead_letter(original)


def replay_group(original: str) -> str:
    """The consumer group whose offsets say how far ``original``'s dead letters were replayed."""
    return f"contrail-dlq-replay.{original}"


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, as ``list`` shows it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def reason(self) -> str:
        return self._header(DLQ_REASON)

    @property
    def origin(self) -> str:
        return self._header(DLQ_ORIGIN)

    def _header(self, wanted: str) -> str:
        return next((v.decode(errors="replace") for n, v in self.headers if n == wanted), "")

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before it was dead-lettered."""
        return [(n, v) for n, v in self.headers if not n.startswith(DLQ_HEADER_PREFIX)]


@dataclass(frozen=True)
class Pending:
    """Where the next replay of one partition starts and stops (``end`` excluded)."""

    partition: TopicPartition
    start: int
    end: int

    @property
    def count(self) -> int:
        return max(0, self.end - self.start)


@contextlib.asynccontextmanager
async def _dead_letter_consumer(
    settings: InfraSettings, original: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[Pending]]]:
    """A consumer of ``<original>.dlq`` in the replay group, each partition at its start."""
    dlq = dead_letter(original)
    tps = [TopicPartition(dlq, p) for p in await _partitions(settings, dlq)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=replay_group(original),
        client_id="contrail-dlq",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await retry_until(consumer.start, what="Kafka", deadline=CONNECT_DEADLINE)
        # Manual assignment: no group rebalance to wait for; commits still go to the group.
        consumer.assign(tps)
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        pending = []
        for tp in tps:
            committed = await consumer.committed(tp)
            start = max(committed if committed is not None else 0, beginnings[tp])
            consumer.seek(tp, start)
            pending.append(Pending(tp, start, ends[tp]))
        yield consumer, pending
    finally:
        await consumer.stop()


async def _partitions(settings: InfraSettings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="contrail-dlq"
    )
    await retry_until(admin.start, what="Kafka", deadline=CONNECT_DEADLINE)
    try:
        # Listed first: a broker that creates topics on demand would create it when described.
        if topic not in await admin.list_topics():
            raise LookupError(f"no topic {topic!r}")
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described["partitions"])


async def count(settings: InfraSettings, topic: str) -> dict[int, int]:
    """How many records the next replay of ``topic``'s dead letters would publish, per partition."""
    original, _ = topics_of(topic)
    async with _dead_letter_consumer(settings, original) as (_, pending):
        return {p.partition.partition: p.count for p in pending}


async def _read(
    consumer: AIOKafkaConsumer, pending: list[Pending]
) -> AsyncIterator[list[DeadLetter]]:
    """The pending records, a fetched batch at a time, in order within each partition."""
    left = {p.partition: p.end for p in pending if p.count}
    empty_fetches = 0
    while left:
        fetched = await consumer.getmany(*left, timeout_ms=1000, max_records=500)
        batch = [
            _dead_letter(record)
            for tp, records in fetched.items()
            for record in records
            if record.offset < left[tp]
        ]
        for tp in list(left):
            if await consumer.position(tp) >= left[tp]:
                del left[tp]
        if batch:
            empty_fetches = 0
            yield batch
        else:
            empty_fetches += 1
            if empty_fetches >= MAX_EMPTY_FETCHES:
                raise TimeoutError(f"no records where expected: {sorted(map(str, left))}")


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers=tuple(record.headers),
    )


async def list_dead_letters(
    settings: InfraSettings, topic: str, limit: int | None = None
) -> list[DeadLetter]:
    """The records the next replay would publish (at most ``limit``), without committing."""
    original, _ = topics_of(topic)
    found: list[DeadLetter] = []
    async with _dead_letter_consumer(settings, original) as (consumer, pending):
        async for batch in _read(consumer, pending):
            found.extend(batch)
            if limit is not None and len(found) >= limit:
                return found[:limit]
    return found


async def replay(settings: InfraSettings, topic: str) -> int:
    """Republish ``topic``'s pending dead letters to the original topic; return how many.

    Each fetched batch is published (key and original headers kept, every
    record acknowledged by Kafka) before the replay group's offsets move past it.
    """
    original, dlq = topics_of(topic)
    replayed = 0
    producer = create_producer(settings, "contrail-dlq-replay")
    try:
        await retry_until(producer.start, what="Kafka", deadline=CONNECT_DEADLINE)
        async with _dead_letter_consumer(settings, original) as (consumer, pending):
            async for batch in _read(consumer, pending):
                futures = [
                    await producer.send(
                        original, letter.value, key=letter.key, headers=letter.original_headers()
                    )
                    for letter in batch
                ]
                for future in futures:
                    await future
                offsets: dict[TopicPartition, int] = {}
                for letter in batch:
                    tp = TopicPartition(dlq, letter.partition)
                    offsets[tp] = max(offsets.get(tp, 0), letter.offset + 1)
                await consumer.commit(offsets)
                replayed += len(batch)
                log.info(
                    "replayed dead letters",
                    extra={"topic": original, "records": len(batch), "total": replayed},
                )
    finally:
        await producer.stop()
    return replayed
