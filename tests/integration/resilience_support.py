"""What the resilience tests share: a chain of naps, killing and restoring components
of the local stack, and reading one execution's events back as a team's consumer would.

Holds no tests. The chain's task is ``nap`` of ``launcher_support`` (no code
bundle: the stack's worker imports it from the repository's root).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from contrail.demo.procfs import port_owner
from contrail.demo.stack import Stack
from shared.events.topics import EXECUTIONS
from shared.identifiers import ResourceType
from shared.literals import STR
from shared.settings import StackSettings
from shared.specs import (
    InputBinding,
    OutputBinding,
    Parameter,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.eventually import eventually_async
from tests.integration.launcher_support import TERMINAL, Launcher, code_task, describe
from tests.integration.registry_support import Registry, task_node

CHAIN = "wf.chain"
NAP = "wf.nap"
EXECUTION_SUCCEEDED = "contrail.execution.phase_changed"


def local_only(reason: str) -> pytest.MarkDecorator:
    """Marks a fault test: it kills or stops processes, so it runs only on the local stack."""
    return pytest.mark.skipif(
        os.environ.get("CONTRAIL_TEST_STACK", "local") != "local", reason=reason
    )


def nap_input(tenths: int) -> str:
    """An input for ``nap`` that sleeps ``tenths`` tenths of a second, unique per call."""
    return f"{uuid.uuid4().hex[:6]}-{tenths}"


def chain_workflow(length: int) -> WorkflowSpec:
    """``wf.chain(name: str) -> str``: ``nap`` nodes ``n0 .. n<length-1>``, each fed by the last.

    ``nap`` answers ``rested <name>``, so every node sleeps as long as the first.
    """
    nodes = [task_node("n0", NAP, {"name": InputBinding(input="name")})]
    nodes += [
        task_node(f"n{i}", NAP, {"name": OutputBinding(node=f"n{i - 1}", output="o0")})
        for i in range(1, length)
    ]
    return WorkflowSpec(
        name=CHAIN,
        interface=TypedInterface(
            inputs={"name": Parameter(type=STR)}, outputs={"o0": Variable(type=STR)}
        ),
        nodes=nodes,
        outputs={"o0": OutputBinding(node=f"n{length - 1}", output="o0")},
    )


async def register_chain(registry: Registry, project: str, length: int) -> None:
    """Task ``wf.nap`` and workflow ``wf.chain`` of ``length`` nodes, version v1."""
    await registry.ok(ResourceType.TASK, project, "v1", code_task("nap", NAP))
    await registry.ok(ResourceType.WORKFLOW, project, "v1", chain_workflow(length))


# --- killing and restoring components ------------------------------------------------


def kill(component: str, sig: signal.Signals) -> int:
    """Send ``sig`` to ``component`` of the local stack; its pid."""
    pid = Stack().component(component).pid()
    assert pid is not None, f"{component} is not running"
    os.kill(pid, sig)
    return pid


async def wait_gone(component: str, timeout: float = 40.0) -> None:
    """Until ``component``'s process has exited and its ports are free.

    The ports are checked too: a killed multi-threaded process shows as a zombie
    (which ``pid()`` counts as gone) while its other threads still hold its
    sockets, and ``up`` would then refuse the port as taken.
    """
    target = Stack().component(component)

    def holding() -> dict[str, object]:
        ports = [f"{host}:{port}" for host, port in target.ports() if port_owner(host, port)]
        return {"pid": target.pid(), "ports in use": ports}

    await eventually_async(
        holding,
        lambda now: now == {"pid": None, "ports in use": []},
        timeout=timeout,
        what=f"{component} gone",
    )


async def restore() -> None:
    """Bring back what is dead (``contrail demo up``); healthy components are kept."""
    await asyncio.to_thread(Stack().up, False)


# --- reading an execution's events -----------------------------------------------------


class ExecutionStream:
    """``contrail.executions`` from the offsets it had when opened: a plain consumer.

    Open it before launching: an execution's events are all after those offsets,
    so reading from there sees what a consumer reading from the beginning sees.
    """

    def __init__(self, stack: StackSettings) -> None:
        self.stack = stack
        self.start: dict[TopicPartition, int] = {}

    async def open(self) -> None:
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._partitions(consumer)
            self.start = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = consumer.partitions_for_topic(EXECUTIONS)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(EXECUTIONS) or set()
        return [TopicPartition(EXECUTIONS, p) for p in sorted(partitions)]

    async def events(self, execution_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every record of ``execution_id`` (duplicates included), in log order.

        Reads until the execution's SUCCEEDED event and the end the topic had
        then, within ``timeout`` seconds.
        """
        key = execution_id.encode()
        deadline = time.monotonic() + timeout
        # A broker still settling after a restart fails the read: read again, from the start.
        return await eventually_async(
            lambda: self._read(key, deadline),
            timeout=timeout,
            interval=1.0,
            retry_on=(KafkaError,),
            what=f"{execution_id}'s events read",
        )

    async def _read(self, key: bytes, deadline: float) -> list[dict[str, Any]]:
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._partitions(consumer)
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.start.get(tp, 0))
            found: list[dict[str, Any]] = []
            end: dict[TopicPartition, int] | None = None

            async def read() -> tuple[bool, list[str]]:
                """Whether the topic is read to its end as of SUCCEEDED; what was seen."""
                nonlocal end
                batch = await consumer.getmany(timeout_ms=250)
                for messages in batch.values():
                    found.extend(json.loads(m.value) for m in messages if m.key == key and m.value)
                if end is None and any(is_execution_succeeded(e) for e in found):
                    end = await consumer.end_offsets(tps)
                reached = end is not None and all(
                    await asyncio.gather(*(_reached(consumer, tp, end[tp]) for tp in tps))
                )
                return reached, [describe(e) for e in found]

            await eventually_async(
                read,
                lambda progress: progress[0],
                timeout=max(deadline - time.monotonic(), 0.0),
                interval=0,
                retry_on=(),
                what=f"{key.decode()}: execution SUCCEEDED on {EXECUTIONS}, read to its end",
            )
            return found
        finally:
            await consumer.stop()


async def _reached(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
    return bool(await consumer.position(tp) >= offset)


def is_execution_succeeded(event: dict[str, Any]) -> bool:
    return bool(
        event.get("type") == EXECUTION_SUCCEEDED and event["data"].get("phase") == "SUCCEEDED"
    )


def dedupe(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One event per id (the first seen), by seq; a redelivered event must be identical."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        first = by_id.setdefault(event["id"], event)
        assert first == event, f"two different events share the id {event['id']}"
    return sorted(by_id.values(), key=lambda e: int(e["data"]["seq"]))


def assert_gap_free_to_success(events: list[dict[str, Any]]) -> None:
    """seq 0..n exactly once each, the last being execution SUCCEEDED."""
    seqs = [int(e["data"]["seq"]) for e in events]
    described = [describe(e) for e in events]
    assert seqs == list(range(len(events))), described
    assert described[-1] == "execution SUCCEEDED", described


def attempt_phases(events: list[dict[str, Any]], node: str) -> list[tuple[int, str]]:
    """``(attempt, phase)`` of ``node``'s attempts, in seq order."""
    return [
        (int(e["data"]["attempt"]), str(e["data"]["phase"]))
        for e in events
        if e["type"] == "contrail.task_attempt.phase_changed" and e["data"]["node_id"] == node
    ]


def attempt_event(node: str, attempt: int, phase: str) -> Callable[[dict[str, Any]], bool]:
    """A match for ``Tail.take``: the event of ``node``'s attempt ``attempt`` entering ``phase``."""

    def match(body: dict[str, Any]) -> bool:
        data = body.get("data") or {}
        return bool(
            body.get("type") == "contrail.task_attempt.phase_changed"
            and data.get("node_id") == node
            and data.get("attempt") == attempt
            and data.get("phase") == phase
        )

    return match


async def wait_finished(
    launcher: Launcher, execution: dict[str, Any], timeout: float = 90.0
) -> dict[str, Any]:
    """The execution once it has ended, through the API; a gateway answering 502 while
    the launcher restarts is waited out like a phase that has not ended yet."""
    url = f"/api/v1/executions/{execution['execution_id']}"

    async def current() -> dict[str, Any]:
        response = await launcher.client.get(url)
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )
        body: dict[str, Any] = response.json()
        return body

    return await eventually_async(
        current,
        lambda body: body["phase"] in TERMINAL,
        timeout=timeout,
        interval=0.25,
        retry_on=(httpx.TransportError, httpx.HTTPStatusError),
        what=f"{execution['execution_id']} ended",
    )
