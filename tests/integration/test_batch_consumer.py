"""Consuming on the real Kafka, both ways of ``shared.kafka``: ``BatchConsumer`` and a
FastStream typed subscriber. Transient faults are retried and nothing is lost or
committed early; a record that fails for its own sake goes to ``<topic>.dlq`` and
consuming goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faststream import AckPolicy
from pydantic import BaseModel

from shared.events.catalogue import LaunchPlanState, LaunchPlanStateChanged, ProjectCreated
from shared.events.envelope import CONTENT_TYPE, CloudEvent
from shared.events.topics import dead_letter
from shared.identifiers import Identifier, ResourceType
from shared.kafka import (
    DLQ_ORIGIN,
    DLQ_REASON,
    BatchConsumer,
    create_broker,
    ensure_topics,
    of_type,
)
from shared.retry import Backoff
from shared.settings import StackSettings
from tests.eventually import eventually_async
from tests.integration.conftest import Consume

pytestmark = pytest.mark.integration

FAST = Backoff(first=0.05, cap=0.2)


class Reading(BaseModel):
    sensor: str
    value: int


@pytest.fixture
async def topics(stack: StackSettings) -> str:
    """A new topic and its dead-letter topic, for this test alone."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(stack, [name, dead_letter(name)])
    return name


@contextlib.asynccontextmanager
async def running(consumer: BatchConsumer[Any]) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def produce(
    stack: StackSettings,
    topic: str,
    values: list[bytes],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"one-key", headers=headers)
    finally:
        await producer.stop()


def reading(sensor: str, value: int) -> bytes:
    return Reading(sensor=sensor, value=value).model_dump_json().encode()


async def test_a_batch_failing_transiently_is_read_again_and_a_handled_one_is_committed(
    stack: StackSettings, topics: str
) -> None:
    group = f"tests-{uuid.uuid4().hex[:8]}"
    values = [f"record {i}".encode() for i in range(20)]
    await produce(stack, topics, values)
    batches: list[list[bytes]] = []
    failures = 0

    async def fail_twice_then_keep(records: list[Any]) -> None:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise ConnectionRefusedError("PostgreSQL is restarting")
        batches.append([r.value or b"" for r in records])

    consumer = BatchConsumer(
        stack, topics, group, fail_twice_then_keep, client_id="contrail-tests", backoff=FAST
    )
    async with running(consumer):
        await eventually_async(
            lambda: batches,
            lambda now: sum(len(b) for b in now) >= len(values),
            interval=0.05,
            what=f"{len(values)} records handled",
        )
    # Nothing lost to the failures, nothing twice, in the partition's order.
    assert failures == 2
    assert [v for batch in batches for v in batch] == values
    assert len(batches) < len(values)  # fetched batches, not one record at a time
    assert consumer.dead_lettered == 0

    # A new member of the group starts after the committed offsets.
    await produce(stack, topics, [b"later"])
    seen: list[bytes] = []

    async def keep(records: list[Any]) -> None:
        seen.extend(r.value or b"" for r in records)

    async with running(BatchConsumer(stack, topics, group, keep, client_id="contrail-tests")):
        # One key, one partition: a record read again would come before "later".
        await eventually_async(
            lambda: seen, lambda now: b"later" in now, interval=0.05, what="later handled"
        )
    assert seen == [b"later"]


async def test_records_are_decoded_into_the_declared_type_and_undecodable_ones_dead_lettered(
    stack: StackSettings, topics: str, consume: Consume
) -> None:
    marker = uuid.uuid4().hex.encode()
    await produce(stack, topics, [reading("a", 1), b"not json", b'{"sensor": "b"}'])
    await produce(stack, topics, [reading("c", 3)], headers=[("x-test", marker)])
    handled: list[Reading] = []

    async def keep(readings: list[Reading]) -> None:
        handled.extend(readings)

    group = f"tests-{uuid.uuid4().hex[:8]}"
    consumer = BatchConsumer(
        stack, topics, group, keep, client_id="contrail-tests", message_type=Reading
    )
    async with running(consumer):
        await eventually_async(
            lambda: (handled, consumer.dead_lettered),
            lambda now: len(now[0]) == 2 and now[1] == 2,
            interval=0.05,
            what="2 records handled and 2 dead-lettered",
        )
    assert handled == [Reading(sensor="a", value=1), Reading(sensor="c", value=3)]

    dead = await consume(dead_letter(topics), until=lambda rs: len(rs) >= 2)
    assert [r.value for r in dead] == [b"not json", b'{"sensor": "b"}']
    assert all(r.key == b"one-key" for r in dead)
    reasons = [r.headers[DLQ_REASON].decode() for r in dead]
    assert reasons[0].startswith("undecodable: ValidationError"), reasons
    assert "value" in reasons[1], reasons
    assert "Field required" in reasons[1], reasons
    # topic/partition/offset: one key, so one partition; offsets 1 and 2.
    origins = [r.headers[DLQ_ORIGIN].decode().rsplit("/", 2) for r in dead]
    assert [(t, o) for t, _, o in origins] == [(topics, "1"), (topics, "2")], origins


async def test_a_record_failing_for_its_own_sake_is_dead_lettered_and_the_rest_handled(
    stack: StackSettings, topics: str, consume: Consume
) -> None:
    await produce(stack, topics, [reading(s, v) for s, v in [("a", 1), ("bad", 2), ("c", 3)]])
    handled: list[str] = []
    calls: list[int] = []

    async def refuse_bad(readings: list[Reading]) -> None:
        calls.append(len(readings))
        if any(r.sensor == "bad" for r in readings):
            raise ValueError("violates a constraint")
        handled.extend(r.sensor for r in readings)

    group = f"tests-{uuid.uuid4().hex[:8]}"
    consumer = BatchConsumer(
        stack, topics, group, refuse_bad, client_id="contrail-tests", message_type=Reading
    )
    async with running(consumer):
        await eventually_async(
            lambda: (handled, consumer.dead_lettered),
            lambda now: len(now[0]) == 2 and now[1] == 1,
            interval=0.05,
            what="2 records handled and 1 dead-lettered",
        )
        # Consuming goes on after it.
        await produce(stack, topics, [reading("d", 4)])
        await eventually_async(lambda: handled, lambda now: "d" in now, what="d handled")
    assert handled == ["a", "c", "d"]
    assert calls[:4] == [3, 1, 1, 1]  # the fetched batch, then each of its records alone
    dead = await consume(dead_letter(topics), until=lambda rs: len(rs) >= 1)
    assert [json.loads(r.value)["sensor"] for r in dead] == ["bad"]
    assert dead[0].headers[DLQ_REASON] == b"ValueError: violates a constraint"


def state_change(name: str) -> bytes:
    identifier = Identifier(
        resource_type=ResourceType.LAUNCH_PLAN, project="p", domain="d", name=name, version="v1"
    )
    data = LaunchPlanStateChanged(identifier=identifier, state=LaunchPlanState.ACTIVE)
    return CloudEvent.wrap(data, source="/contrail/tests").to_json()


async def test_a_typed_subscriber_takes_its_type_retries_transient_faults_and_dead_letters(
    stack: StackSettings, topics: str, consume: Consume
) -> None:
    broker = create_broker(stack, "contrail-tests")
    subscriber = broker.subscriber(
        topics,
        group_id=f"tests-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    handled: list[str] = []
    failures = 0

    @subscriber(filter=of_type(LaunchPlanStateChanged))
    async def on_state_change(event: CloudEvent[LaunchPlanStateChanged]) -> None:
        nonlocal failures
        if event.data.identifier.name == "flaky" and failures < 2:
            failures += 1
            raise ConnectionResetError("PostgreSQL is restarting")
        handled.append(event.data.identifier.name)

    other = CloudEvent.wrap(ProjectCreated(project="p", domains=["d"]), source="/contrail/tests")
    malformed = json.loads(state_change("x"))
    malformed["data"]["state"] = "SLEEPING"
    headers = [("content-type", CONTENT_TYPE.encode())]
    await produce(stack, topics, [state_change("first"), other.to_json()], headers)
    await produce(stack, topics, [json.dumps(malformed).encode(), b"{not json"], headers)
    await produce(stack, topics, [state_change("flaky"), state_change("last")], headers)

    await broker.start()
    try:
        await eventually_async(lambda: handled, lambda now: "last" in now, what="last handled")
    finally:
        await broker.stop()
    assert handled == ["first", "flaky", "last"]
    assert failures == 2
    dead = await consume(dead_letter(topics), until=lambda rs: len(rs) >= 2)
    assert [r.value for r in dead] == [json.dumps(malformed).encode(), b"{not json"]
    assert b"data.state" in dead[0].headers[DLQ_REASON], dead[0].headers
    assert dead[1].headers[DLQ_REASON].startswith(b"JSONDecodeError")
    assert all(r.headers["content-type"] == CONTENT_TYPE.encode() for r in dead)


async def test_max_records_as_a_function_fetches_only_what_there_is_room_for(
    stack: StackSettings, topics: str
) -> None:
    values = [f"record {i}".encode() for i in range(5)]
    await produce(stack, topics, values)
    granted = 2
    handled: list[bytes] = []
    asked: list[int] = []
    over: list[int] = []

    def room() -> int:
        asked.append(granted - len(handled))
        return granted - len(handled)

    async def take(records: list[Any]) -> None:
        handled.extend(r.value or b"" for r in records)
        if len(handled) > granted:
            over.append(len(handled))

    group = f"tests-{uuid.uuid4().hex[:8]}"
    consumer = BatchConsumer(
        stack, topics, group, take, client_id="contrail-tests", max_records=room
    )
    async with running(consumer):
        await eventually_async(lambda: handled, lambda now: len(now) == 2, what="2 handled")
        # No room: the consumer pauses and asks again when woken.
        await eventually_async(lambda: asked, lambda now: 0 in now, what="asked with no room")
        granted = 5
        consumer.wake()
        await eventually_async(lambda: handled, lambda now: len(now) == 5, what="5 handled")
    assert over == []  # never more than there was room for
    assert handled == values


async def test_a_deferred_commit_waits_for_its_batch_and_stops_at_the_first_not_done(
    stack: StackSettings, topics: str
) -> None:
    await produce(stack, topics, [f"r{i}".encode() for i in range(5)])
    pending: list[tuple[list[bytes], asyncio.Future[None]]] = []
    not_done = {b"r2", b"r5"}

    async def start(records: list[Any]) -> Awaitable[list[bool]]:
        values = [r.value or b"" for r in records]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending.append((values, done))

        async def flags() -> list[bool]:
            await done
            return [v not in not_done for v in values]

        return flags()

    def seen() -> list[bytes]:
        return [v for values, _ in pending for v in values]

    group = f"tests-{uuid.uuid4().hex[:8]}"
    consumer = BatchConsumer(stack, topics, group, start, client_id="contrail-tests")
    task = asyncio.create_task(consumer.run())
    try:
        await eventually_async(seen, lambda now: len(now) == 5, what="r0-r4 started")
        # Fetching goes on while the first batch's commit waits.
        await produce(stack, topics, [b"r5"])
        await eventually_async(seen, lambda now: b"r5" in now, what="r5 started")
        assert await committed(stack, group, topics) == {}
        for _, done in reversed(pending):
            done.set_result(None)
        consumer.stop()  # it commits what completed, then leaves the group
        await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert seen() == [f"r{i}".encode() for i in range(6)]
    # Up to r2, the first not done (r3 and r4 after it are not committed), and r5 not done.
    assert list((await committed(stack, group, topics)).values()) == [2]

    again: list[bytes] = []

    async def keep(records: list[Any]) -> None:
        again.extend(r.value or b"" for r in records)

    async with running(BatchConsumer(stack, topics, group, keep, client_id="contrail-tests")):
        await eventually_async(lambda: again, lambda now: b"r5" in now, what="r5 read again")
    assert again == [b"r2", b"r3", b"r4", b"r5"]


async def committed(stack: StackSettings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets of ``topic``, by partition (those it has)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
