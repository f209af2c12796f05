"""How far the engine has read workers' reports: per partition of ``contrail.attempts``, a time.

A silent attempt is evidence of a dead worker only if the engine could not
have missed its heartbeats: those still unread on ``contrail.attempts`` (after
a launcher restart, during a rebalance, under a backlog) are not silence. All
the reports about an execution go to one partition (they are keyed by its
key), so only that partition's progress matters, never the whole group's lag.

For partition ``p`` the engine knows a time ``R(p)`` before which every report
sent to ``p`` has been applied:

- the timestamp of the latest record of ``p`` it has applied (``applied``,
  called once their transaction has committed; a record stamped later than
  the moment it is applied counts at that moment, so a worker clock running
  ahead cannot move ``R(p)`` into the future);
- or, when the group has committed every record of ``p`` (no lag on that
  partition), the moment the partition's end was looked up: reports are
  committed only once applied.

A worker whose last heartbeat is ``H`` is lost once ``R(p) > H + timeout``.
This relies on record timestamps (CreateTime, set by each worker as it sends)
being monotone *enough* within a partition: a live worker sends its next
heartbeat at ``H + interval``, and for it to sit after a record stamped
``H + timeout``, its delivery delay plus the clock difference between the two
workers would have to exceed ``timeout - interval`` (8 s with the defaults,
10 s and 2 s). Within that margin the rule never declares a live worker lost,
and it never waits for partitions the attempt does not use.

What ``applied`` records is this process's own progress: a launcher that has
just started knows nothing yet and judges no one until it has read past the
deadline or caught up; with several launchers, each knows the partitions it
reads, and the group's committed offsets (one long-lived client, looked up
only when some attempt is silent) cover the rest when they have no lag.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from shared.events.topics import ATTEMPTS
from shared.settings import InfraSettings

log = logging.getLogger(__name__)

ReadThrough = Callable[[str], datetime | None]
"""For an execution key: the time before which every report about it has been applied."""


class ReportProgress:
    """The engine's read position on ``contrail.attempts``, as a time per partition."""

    def __init__(self, settings: InfraSettings, group: str, topic: str = ATTEMPTS) -> None:
        self._settings = settings
        self._group = group
        self._topic = topic
        self._applied: dict[int, datetime] = {}
        self._partitions: list[int] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def applied(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """Note records of the topic whose reports are applied (their transaction committed)."""
        at = datetime.now(UTC)
        for record in records:
            stamped = min(datetime.fromtimestamp(record.timestamp / 1000, UTC), at)
            known = self._applied.get(record.partition)
            if known is None or stamped > known:
                self._applied[record.partition] = stamped

    async def read_through(self) -> ReadThrough:
        """A snapshot of the engine's progress, taken before the caller reads the heartbeats.

        Whatever it counts as read is already stored, so heartbeats read from
        PostgreSQL afterwards include every one it covers.
        """
        applied = dict(self._applied)
        partitions, caught_up = await self._caught_up()
        for partition, at in caught_up.items():
            if partition not in applied or applied[partition] < at:
                applied[partition] = at

        def read_through(key: str) -> datetime | None:
            if not partitions:
                return None
            return applied.get(partition_of(key, partitions))

        return read_through

    async def _caught_up(self) -> tuple[list[int], dict[int, datetime]]:
        """The topic's partitions, and when those the group has fully committed were so."""
        try:
            consumer, admin = await self._clients()
            if not self._partitions:
                self._partitions = await self._describe(admin)
            partitions = self._partitions
            tps = [TopicPartition(self._topic, p) for p in partitions]
            at = datetime.now(UTC)  # before the ends: all that precedes them was sent by now
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(self._group, partitions=tps)
        except KafkaError:
            log.warning("could not read the engine's committed offsets", exc_info=True)
            await self.close()  # made again on the next call
            return [], {}  # no partition count: judge no one this time
        caught_up = {
            tp.partition: at
            for tp in tps
            if (committed[tp].offset if tp in committed else 0) >= ends[tp]
        }
        return partitions, caught_up

    async def _describe(self, admin: AIOKafkaAdminClient) -> list[int]:
        """The topic's partitions (a standalone consumer knows only those it reads)."""
        described = await admin.describe_topics([self._topic])
        return sorted(
            partition["partition"]
            for topic in described
            if topic.get("topic") == self._topic and not topic.get("error_code")
            for partition in topic.get("partitions", ())
        )

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                client_id="contrail-engine-progress",
                group_id=None,
                enable_auto_commit=False,
            )
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._settings.kafka_bootstrap,
                client_id="contrail-engine-progress",
            )
            await consumer.start()
            try:
                await admin.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer, self._admin = consumer, admin
        return self._consumer, self._admin

    async def close(self) -> None:
        consumer, admin = self._consumer, self._admin
        self._consumer = self._admin = None
        self._partitions = []
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


def partition_of(key: str, partitions: list[int]) -> int:
    """The partition the producers' default partitioner puts records keyed ``key`` in.

    Workers publish reports through FastStream's aiokafka producer, keyed by
    the execution key, with Kafka's default (murmur2) partitioner.
    """
    return int(DefaultPartitioner()(key.encode(), partitions, partitions))
