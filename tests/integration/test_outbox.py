"""The transactional outbox on the real PostgreSQL and Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator

import asyncpg
import pytest
from opentelemetry import trace

from shared.db import transaction
from shared.events import CONTENT_TYPE, CloudEvent, source_of
from shared.events.catalogue import TaskRegistered
from shared.identifiers import Identifier, ResourceType
from shared.outbox import OutboxMessage, OutboxRecord, OutboxRelay, enqueue
from shared.settings import StackSettings
from shared.telemetry import Telemetry
from tests.eventually import eventually_async
from tests.integration.conftest import Consume, Record

pytestmark = pytest.mark.integration


def _event(name: str = "say_hello") -> CloudEvent[TaskRegistered]:
    identifier = Identifier(
        resource_type=ResourceType.TASK,
        project="flytesnacks",
        domain="development",
        name=name,
        version="v1",
    )
    return CloudEvent.wrap(
        TaskRegistered(identifier=identifier, digest="0" * 64),
        source=source_of("registry"),
        subject=identifier.urn,
    )


async def _until_sent(pool: asyncpg.Pool, event_id: str, timeout: float = 10.0) -> None:
    """Until the relay has marked ``event_id`` sent (which it does once Kafka acknowledged it)."""
    await eventually_async(
        lambda: pool.fetchrow("SELECT sent_at, failure FROM outbox WHERE event_id = $1", event_id),
        lambda row: row is not None and row["sent_at"] is not None,
        timeout=timeout,
        interval=0.05,
        what=f"{event_id} marked sent",
    )


def _ids(records: list[Record]) -> list[str]:
    return [json.loads(r.value)["id"] for r in records]


@pytest.fixture
async def relay(
    stack: StackSettings, pool: asyncpg.Pool, test_schema: str
) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(stack, pool, test_schema)
    relay.start()
    yield relay
    await relay.stop()


async def test_event_reaches_a_plain_consumer_exactly_as_written(
    pool: asyncpg.Pool, relay: OutboxRelay, topic: str, consume: Consume, telemetry: Telemetry
) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("register task") as span:
        async with transaction(pool) as conn:
            await enqueue(conn, [OutboxMessage(topic, "flytesnacks/say_hello", _event())])
        trace_id = format(span.get_span_context().trace_id, "032x")
    stored = await pool.fetchrow("SELECT event_id, value FROM outbox")
    assert stored is not None

    records = await consume(topic, until=lambda rs: len(rs) >= 1)

    assert len(records) == 1
    record = records[0]
    assert record.value == stored["value"]
    assert record.key == b"flytesnacks/say_hello"
    assert record.headers["content-type"] == CONTENT_TYPE.encode()
    envelope = json.loads(record.value)
    assert envelope["id"] == stored["event_id"]
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "contrail.task.registered"
    # The envelope carries the producing span; the header continues the same trace.
    assert envelope["traceparent"].split("-")[1] == trace_id
    assert record.headers["traceparent"].decode().split("-")[1] == trace_id
    # The relay marks the row once Kafka acknowledged it, which can be just after
    # the consumer sees the record.
    await _until_sent(pool, envelope["id"])


async def test_events_leave_in_the_order_they_were_written(
    pool: asyncpg.Pool, relay: OutboxRelay, topic: str, consume: Consume
) -> None:
    events = [_event(f"task_{i}") for i in range(50)]
    for chunk in (events[:20], events[20:]):
        async with transaction(pool) as conn:
            await enqueue(conn, [OutboxMessage(topic, "one-key", e) for e in chunk])

    records = await consume(topic, until=lambda rs: len(rs) >= 50)

    assert _ids(records) == [e.id for e in events]


async def test_a_rolled_back_transaction_publishes_nothing(
    pool: asyncpg.Pool, relay: OutboxRelay, topic: str, consume: Consume
) -> None:
    rolled_back, marker = _event("rolled_back"), _event("marker")

    class Abort(Exception):
        pass

    async def write_then_fail() -> None:
        async with transaction(pool) as conn:
            await enqueue(conn, [OutboxMessage(topic, "k", rolled_back)])
            raise Abort

    with pytest.raises(Abort):
        await write_then_fail()
    async with transaction(pool) as conn:
        await enqueue(conn, [OutboxMessage(topic, "k", marker)])

    records = await consume(topic, until=lambda rs: marker.id in _ids(rs))

    assert _ids(records) == [marker.id]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_outbox_writes_refuse_to_run_outside_a_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the state's transaction"):
            await enqueue(conn, [OutboxMessage("t", None, _event())])


def _start_relay_process(schema: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.outbox", "--schema", schema],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stderr_lines(process: subprocess.Popen[bytes]) -> list[str]:
    """What ``process`` writes to stderr, line by line as it comes (read by a thread)."""
    assert process.stderr is not None
    stderr = process.stderr
    lines: list[str] = []

    def pump() -> None:
        lines.extend(line.decode(errors="replace") for line in stderr)

    threading.Thread(target=pump, daemon=True).start()
    return lines


async def _wait_for_log(process: subprocess.Popen[bytes], needle: str, timeout: float) -> None:
    lines = _stderr_lines(process)

    def logged(seen: list[str]) -> bool:
        return any(needle in line for line in seen)

    await eventually_async(
        lambda: lines,
        lambda seen: logged(seen) or process.poll() is not None,
        timeout=timeout,
        what=f"the relay logging {needle!r}",
    )
    assert logged(lines), (
        f"the relay exited ({process.returncode}) before logging {needle!r}: {lines}"
    )


async def test_a_relay_killed_between_commit_and_publish_delivers_once_after_restart(
    pool: asyncpg.Pool, test_schema: str, topic: str, consume: Consume
) -> None:
    first = _start_relay_process(test_schema)
    try:
        await _wait_for_log(first, "outbox relay leading", timeout=30)
        # Freeze the relay so the commit lands while it cannot publish, then kill it.
        first.send_signal(signal.SIGSTOP)
        event = _event("survives_a_crash")
        async with transaction(pool) as conn:
            await enqueue(conn, [OutboxMessage(topic, "k", event)])
        first.kill()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert await consume(topic, during=2) == []
    assert await pool.fetchval("SELECT sent_at FROM outbox WHERE event_id = $1", event.id) is None

    second = _start_relay_process(test_schema)
    try:
        await consume(topic, until=lambda rs: len(rs) >= 1)
        # Give a duplicate every chance to show up before counting.
        records = await consume(topic, during=3)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0

    assert _ids(records) == [event.id]
    await _until_sent(pool, event.id)


async def test_plain_records_and_events_leave_in_the_order_they_were_written(
    pool: asyncpg.Pool, relay: OutboxRelay, topic: str, consume: Consume
) -> None:
    event = _event("before_dispatch")
    dispatch = OutboxRecord(topic, "exec-1", "dispatch-1", b'{"kind":"dispatch"}')
    async with transaction(pool) as conn:
        await enqueue(conn, [OutboxMessage(topic, "exec-1", event), dispatch])

    records = await consume(topic, until=lambda rs: len(rs) >= 2)

    assert [r.value for r in records] == [event.to_json(), b'{"kind":"dispatch"}']
    assert records[1].headers["content-type"] == b"application/json"
    assert records[1].key == b"exec-1"


async def test_a_record_kafka_can_never_take_is_set_aside_and_the_rest_go_on(
    pool: asyncpg.Pool, relay: OutboxRelay, topic: str, consume: Consume
) -> None:
    before, after = _event("before"), _event("after")
    huge = OutboxRecord(topic, "k", "huge", b'"' + b"x" * (2 * 1024 * 1024) + b'"')
    async with transaction(pool) as conn:
        await enqueue(conn, [OutboxMessage(topic, "k", before)])
        await enqueue(conn, [huge])
        await enqueue(conn, [OutboxMessage(topic, "k", after)])

    records = await consume(topic, until=lambda rs: after.id in _ids(rs))

    assert _ids(records) == [before.id, after.id]
    await _until_sent(pool, after.id)
    row = await pool.fetchrow("SELECT sent_at, failure FROM outbox WHERE event_id = 'huge'")
    assert row is not None
    assert row["sent_at"] is not None
    assert "MessageSizeTooLarge" in row["failure"]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE failure IS NOT NULL") == 1
