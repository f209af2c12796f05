"""Fixtures on the real stack: a fresh schema, a broker, unique topics, a plain consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
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
        self, topic: str, *, until: Callable[[list[Record]], bool], timeout: float = ...
    ) -> list[Record]: ...


@pytest.fixture
def consume(stack: StackSettings) -> Consume:
    """Read a topic from its start with a plain aiokafka consumer, as a team would."""

    async def _consume(
        topic: str, *, until: Callable[[list[Record]], bool], timeout: float = 20.0
    ) -> list[Record]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        records: list[Record] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not until(records) and loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=250)
                for messages in batch.values():
                    records.extend(
                        Record(m.key, m.value, dict(m.headers)) for m in messages if m.value
                    )
        finally:
            await consumer.stop()
        return records

    return _consume
