"""Reading a topic's events as they come, without a consumer group: the clients' way.

``contrail events tail`` and ``contrail demo example`` watch
``contrail.executions`` as a team subscribing to the stream would, but must not
move anyone's offsets: they read every partition from its end (or from its
beginning) with no group and commit nothing. Services consume through
``shared.kafka`` instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class TailedEvent:
    """One record's key and its value, a JSON object (a CloudEvents envelope)."""

    key: str | None
    envelope: dict[str, Any]


class EventTail:
    """A topic's events from the moment ``start`` returns (or from the oldest kept).

    Every partition is assigned; ``start`` returns once each partition's
    starting offset is fixed, so an event published after it is read. Records
    whose value is not a JSON object are skipped. Use as ``async with``.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        from_beginning: bool = False,
        client_id: str = "contrail-tail",
    ) -> None:
        self.topic = topic
        self._from_beginning = from_beginning
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
        )

    async def start(self) -> None:
        """Connect and fix where each partition is read from; raises aiokafka's KafkaError."""
        consumer = self._consumer
        try:
            await consumer.start()
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            if self._from_beginning:
                await consumer.seek_to_beginning(*tps)
            else:
                await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise

    async def stop(self) -> None:
        await self._consumer.stop()

    async def read(self, timeout: float = 1.0) -> list[TailedEvent]:
        """The events of one fetch (empty after ``timeout`` seconds without any).

        One execution's events share a partition, and each partition's order is kept.
        """
        fetched = await self._consumer.getmany(timeout_ms=max(1, int(timeout * 1000)))
        events: list[TailedEvent] = []
        for records in fetched.values():
            for record in records:
                envelope = _json_object(record.value)
                if envelope is not None:
                    key = None if record.key is None else record.key.decode(errors="replace")
                    events.append(TailedEvent(key, envelope))
        return events

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None
