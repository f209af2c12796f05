"""Fixtures on the real stack: a fresh schema, a broker, unique topics, a plain consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.kafka import create_broker, ensure_topics
from shared.settings import StackSettings
from shared.telemetry import Telemetry, configure_telemetry
from tests.eventually import eventually_async
from tests.integration.notifier_support import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def telemetry() -> Telemetry:
    return configure_telemetry("contrail-tests")


@pytest.fixture
async def test_schema(stack: StackSettings) -> AsyncIterator[str]:
    """A schema of its own, migrated like a service's, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, schema, service_migrations(None, "test"))
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
async def pool(stack: StackSettings, test_schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack, test_schema)
    yield pool
    await pool.close()


@pytest.fixture
async def broker(stack: StackSettings, telemetry: Telemetry) -> AsyncIterator[KafkaBroker]:
    broker = create_broker(stack, "contrail-tests", telemetry.tracer_provider)
    await broker.connect()
    yield broker
    await broker.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 recording what the notifier sends (notifier_support)."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
async def topic(stack: StackSettings) -> str:
    """A new topic for this test alone."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(stack, [name])
    return name


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


class Consume(Protocol):
    async def __call__(
        self,
        topic: str,
        *,
        until: Callable[[list[Record]], bool] | None = None,
        timeout: float = ...,
        during: float | None = None,
    ) -> list[Record]: ...


@pytest.fixture
def consume(stack: StackSettings) -> Consume:
    """Read a topic from its start with a plain aiokafka consumer, as a team would.

    ``until=``: read until the records satisfy it, and fail (with the records read)
    if they do not within ``timeout`` seconds. ``during=``: read for that many
    seconds and return whatever came, to see that nothing (more) arrives.
    """

    async def _consume(
        topic: str,
        *,
        until: Callable[[list[Record]], bool] | None = None,
        timeout: float = 20.0,
        during: float | None = None,
    ) -> list[Record]:
        assert (until is None) != (during is None), "give consume either until= or during="
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        records: list[Record] = []

        async def read() -> list[Record]:
            batch = await consumer.getmany(timeout_ms=250)
            for messages in batch.values():
                records.extend(Record(m.key, m.value, dict(m.headers)) for m in messages if m.value)
            return records

        try:
            if until is not None:
                return await eventually_async(
                    read, until, timeout=timeout, interval=0, what=f"the awaited records on {topic}"
                )
            assert during is not None
            window = asyncio.get_running_loop().time() + during
            while asyncio.get_running_loop().time() < window:  # a window to watch, not a wait
                await read()
            return records
        finally:
            await consumer.stop()

    return _consume
