"""``shared.kafka.BatchConsumer`` on the real Kafka: batches, retries, committed offsets."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer

from shared.kafka import BatchConsumer, Record
from shared.settings import StackSettings

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def consuming(
    stack: StackSettings, topic: str, group: str, handler: Callable[[list[Record]], Awaitable[None]]
) -> AsyncIterator[None]:
    consumer = BatchConsumer(
        stack, topic, group, handler, client_id="contrail-tests", retry_seconds=0.1
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def produce(stack: StackSettings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"one-key")
    finally:
        await producer.stop()


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_failed_batch_is_read_again_and_a_handled_one_is_committed(
    stack: StackSettings, topic: str
) -> None:
    group = f"tests-{uuid.uuid4().hex[:8]}"
    values = [f"record {i}".encode() for i in range(20)]
    await produce(stack, topic, values)
    batches: list[list[bytes]] = []
    failures = 0

    async def fail_twice_then_keep(records: list[Record]) -> None:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise RuntimeError("PostgreSQL is restarting")
        batches.append([r.value or b"" for r in records])

    async with consuming(stack, topic, group, fail_twice_then_keep):
        await until(lambda: sum(len(b) for b in batches) >= len(values))
    # Nothing lost to the failures, nothing twice, in the partition's order.
    assert failures == 2
    assert [v for batch in batches for v in batch] == values
    assert len(batches) < len(values)  # fetched batches, not one record at a time

    # A new member of the group starts after the committed offsets.
    await produce(stack, topic, [b"later"])
    seen: list[bytes] = []

    async def keep(records: list[Record]) -> None:
        seen.extend(r.value or b"" for r in records)

    async with consuming(stack, topic, group, keep):
        await until(lambda: bool(seen))
        await asyncio.sleep(0.5)
    assert seen == [b"later"]
