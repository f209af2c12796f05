"""A PostgreSQL outage in the middle of running executions loses nothing (issue 9, hole 2).

PostgreSQL is stopped (fast shutdown, as in a restart) for a minute while
several chain executions run. Their workers go on and report to
``contrail.attempts``; the engine cannot apply those reports until PostgreSQL
is back, and must retry them for as long as that takes instead of
dead-lettering them. After the outage every execution ends SUCCEEDED, a plain
consumer of ``contrail.executions`` sees each ``seq`` once, and no record about
these executions reached any dead-letter topic.

The outage is shared: other sessions use this stack, so it lasts the minute
required (PostgreSQL's port is held meanwhile, so that nobody's ``contrail demo
up`` ends it early) and PostgreSQL is restored in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contrail.demo.stack import Stack
from shared.events.topics import ALL_TOPICS, EXECUTIONS, dead_letter
from shared.kafka import DLQ_REASON
from shared.settings import StackSettings
from tests.eventually import eventually_async
from tests.integration.launcher_support import open_launcher, tail
from tests.integration.registry_support import new_project, open_registry
from tests.integration.resilience_support import (
    CHAIN,
    ExecutionStream,
    assert_gap_free_to_success,
    attempt_event,
    dedupe,
    kill,
    local_only,
    nap_input,
    register_chain,
    restore,
    wait_finished,
    wait_gone,
)

pytestmark = [
    pytest.mark.integration,
    local_only("stops and restarts PostgreSQL of the local stack"),
]

IN_FLIGHT = 4
NODES = 3
OUTAGE_SECONDS = 60.0
DEAD_LETTER_TOPICS = [dead_letter(topic) for topic in ALL_TOPICS]


class DeadLetters:
    """The records added to every dead-letter topic since ``open``."""

    def __init__(self, stack: StackSettings) -> None:
        self.stack = stack
        self.start: dict[TopicPartition, int] = {}

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer._client.force_metadata_update()
        return [
            TopicPartition(topic, partition)
            for topic in DEAD_LETTER_TOPICS
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    async def open(self) -> None:
        consumer = self._consumer()
        await consumer.start()
        try:
            self.start = await consumer.end_offsets(await self._partitions(consumer))
        finally:
            await consumer.stop()

    async def since_open(self, key_prefix: bytes) -> list[str]:
        """``topic key: reason`` of each record added since ``open`` whose key has the prefix."""
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._partitions(consumer)
            end = await consumer.end_offsets(tps)
            added = [tp for tp in tps if end[tp] > self.start.get(tp, 0)]
            if not added:
                return []
            consumer.assign(added)
            for tp in added:
                consumer.seek(tp, self.start.get(tp, 0))
            found: list[str] = []

            async def read_some() -> list[int]:
                for records in (await consumer.getmany(timeout_ms=250)).values():
                    found.extend(
                        f"{r.topic} {r.key!r}: {dict(r.headers).get(DLQ_REASON, b'').decode()}"
                        for r in records
                        if (r.key or b"").startswith(key_prefix)
                    )
                return [end[tp] - await consumer.position(tp) for tp in added]

            await eventually_async(
                read_some, lambda left: max(left) <= 0, what="the dead-letter topics read"
            )
            return found
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def postgres_port_held() -> AsyncIterator[None]:
    """PostgreSQL's port, taken while it is down: ``contrail demo up`` run by another
    session meanwhile refuses to start it again, so the outage lasts as long as meant.
    A client that connects is hung up on at once, as by a server shutting down."""

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    servers = [
        await asyncio.start_server(hang_up, host, port)
        for host, port in Stack().component("postgres").ports()
    ]
    try:
        yield
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


async def test_postgres_stopped_for_a_minute_mid_executions_dead_letters_nothing(
    stack: StackSettings,
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_chain(registry, project, NODES)
    stream = ExecutionStream(stack)
    await stream.open()
    dead_letters = DeadLetters(stack)
    await dead_letters.open()
    async with open_launcher(stack) as launcher:
        try:
            async with tail(stack, EXECUTIONS, project) as live:
                # Each node naps 3 s: the first attempts end, and report, during the outage.
                executions = [
                    await launcher.launch(
                        project,
                        workflow={"name": CHAIN},
                        inputs={"name": nap_input(30)},
                    )
                    for _ in range(IN_FLIGHT)
                ]
                for _ in executions:
                    await live.take(attempt_event("n0", 1, "RUNNING"), timeout=60)
            kill("postgres", signal.SIGINT)  # fast shutdown: sessions end at once
            await wait_gone("postgres")
            async with postgres_port_held():
                await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for a result
            await restore()
            done = [await wait_finished(launcher, e, timeout=180) for e in executions]
        finally:
            await restore()
    assert [d["phase"] for d in done] == ["SUCCEEDED"] * IN_FLIGHT, done
    for execution in executions:
        events = dedupe(await stream.events(execution["execution_id"]))
        assert_gap_free_to_success(events)
    assert await dead_letters.since_open(f"{project}/".encode()) == []
