"""Whether the engine has read every worker report that Kafka holds.

A silent attempt is only evidence of a dead worker when the engine has read
all the reports sent to it: after a launcher restart or a rebalance, the
heartbeats of live workers may still wait, unread, on ``contrail.attempts``.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events.topics import ATTEMPTS
from shared.settings import InfraSettings


async def unread_reports(settings: InfraSettings, group: str) -> int:
    """Reports on ``contrail.attempts`` not yet committed by ``group``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(ATTEMPTS) or set()
        if not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(ATTEMPTS) or set()
        tps = [TopicPartition(ATTEMPTS, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(
            max(0, ends[tp] - (committed[tp].offset if tp in committed else 0)) for tp in tps
        )
    finally:
        await consumer.stop()
        await admin.close()
