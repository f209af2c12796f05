"""What the execution benchmarks share: registration, launching, and watching events.

- ``register`` fast-registers a workflow of ``noop_workflows`` (its bundle is
  that one file) and returns the name and version to launch.
- ``Launches`` posts ``POST /api/v1/executions`` through the gateway, naming
  each execution itself so that the watch knows its key before the launch.
- ``EventWatch`` reads ``contrail.executions`` with a plain aiokafka consumer
  (no group, every partition, from the end) and stamps each event with the
  time this process received it (``time.perf_counter``). End-to-end figures
  use these receive stamps, not the events' ``time``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from contrail.remote import Conflict, Remote
from contrail.run import fast_register
from contrail.workflow import Workflow
from shared.events.catalogue import ExecutionPhaseChanged, TaskAttemptPhaseChanged
from shared.events.topics import ATTEMPTS, DISPATCH, EXECUTIONS
from shared.settings import StackSettings
from tests.auth import auth_headers

EPOCH_OFFSET = time.time() - time.perf_counter()
"""Add to a ``perf_counter`` stamp for epoch seconds (to compare with Kafka timestamps)."""
PROJECT = "bench"
DOMAIN = "development"
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary_ms(values: list[float]) -> str:
    """``values`` (seconds) as min / p50 / p90 / p95 / p99 / max in milliseconds."""
    if not values:
        return "no samples"
    parts = [
        f"min {min(values) * 1000:.1f}",
        *(f"p{int(q * 100)} {percentile(values, q) * 1000:.1f}" for q in (0.5, 0.9, 0.95, 0.99)),
        f"max {max(values) * 1000:.1f} ms",
    ]
    return " / ".join(parts) + f" (n={len(values)})"


def register(entity: Workflow[..., Any]) -> tuple[str, str]:
    """Fast-register ``entity``'s module into the bench project; its name and version."""
    settings = StackSettings()
    with Remote(settings.gateway_url, project=PROJECT, domain=DOMAIN) as remote:
        with contextlib.suppress(Conflict):
            remote.create_project(PROJECT)
        registered = fast_register(remote, entity, project=PROJECT, domain=DOMAIN)
    return registered.name, registered.version


def launcher_pid() -> int | None:
    """The stack's launcher process, if it runs."""
    from contrail.demo.stack import Stack

    return Stack().component("launcher").pid()


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of ``pid`` in MiB."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmHWM"], fields["VmRSS"]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds ``pid`` has used."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Seen:
    """One event as received: its type, phase, node, and when it arrived here."""

    seq: int
    type: str
    phase: str
    node_id: str | None
    received: float
    time: str
    produced: float
    """The record's Kafka timestamp (the relay's clock at send), epoch seconds."""


@dataclass(frozen=True)
class Hop:
    """A record of ``contrail.dispatch`` or ``contrail.attempts`` about a watched execution."""

    topic: str
    kind: str
    received: float
    produced: float
    """The record's Kafka timestamp (the producer's clock at send), epoch seconds."""


@dataclass
class _Waiter:
    test: Callable[[Seen], bool]
    future: asyncio.Future[Seen]


@dataclass
class Execution:
    """What the watch saw of one execution."""

    key: str
    events: dict[int, Seen] = field(default_factory=dict)
    hops: list[Hop] = field(default_factory=list)
    waiters: list[_Waiter] = field(default_factory=list)

    def first(self, test: Callable[[Seen], bool]) -> Seen | None:
        found = [e for e in self.events.values() if test(e)]
        return min(found, key=lambda e: e.received) if found else None


def is_attempt_running(event: Seen) -> bool:
    return event.type == TaskAttemptPhaseChanged.event_type and event.phase == "RUNNING"


def is_execution_done(event: Seen) -> bool:
    return event.type == ExecutionPhaseChanged.event_type and event.phase in TERMINAL


class EventWatch:
    """Every event of the executions it is told to watch, as this process received them."""

    def __init__(self, *, hops: bool = False) -> None:
        self._topics = [EXECUTIONS, DISPATCH, ATTEMPTS] if hops else [EXECUTIONS]
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.executions: dict[str, Execution] = {}
        self.received = 0

    async def start(self) -> None:
        settings = StackSettings()
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=5,
        )
        await consumer.start()
        for _ in range(600):  # without a group: every partition, once the metadata is known
            if {tp.topic for tp in consumer.assignment()} == set(self._topics):
                break
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():  # resolve the end offsets before anything launches
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name="event-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def watch(self, key: str) -> Execution:
        return self.executions.setdefault(key, Execution(key))

    def forget(self, key: str) -> None:
        self.executions.pop(key, None)

    def wait_for(self, key: str, test: Callable[[Seen], bool]) -> asyncio.Future[Seen]:
        """A future of the first event of ``key`` that passes ``test`` (maybe seen already)."""
        execution = self.watch(key)
        future: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
        seen = execution.first(test)
        if seen is not None:
            future.set_result(seen)
        else:
            execution.waiters.append(_Waiter(test, future))
        return future

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            received = time.perf_counter()
            for records in batch.values():
                for record in records:
                    self.received += 1
                    key = (record.key or b"").decode()
                    execution = self.executions.get(key)
                    if execution is None:
                        continue
                    if record.topic != EXECUTIONS:
                        kind = json.loads(record.value or b"{}").get("kind", "?")
                        execution.hops.append(
                            Hop(record.topic, str(kind), received, record.timestamp / 1000)
                        )
                        continue
                    self._seen(execution, record.value or b"", received, record.timestamp / 1000)

    def _seen(self, execution: Execution, value: bytes, received: float, produced: float) -> None:
        raw = json.loads(value)
        data = raw.get("data") or {}
        seq = data.get("seq")
        if not isinstance(seq, int) or seq in execution.events:
            return  # a redelivery
        event = Seen(
            seq=seq,
            type=str(raw.get("type")),
            phase=str(data.get("phase")),
            node_id=data.get("node_id"),
            received=received,
            time=str(raw.get("time")),
            produced=produced,
        )
        execution.events[seq] = event
        still: list[_Waiter] = []
        for waiter in execution.waiters:
            if waiter.future.done():
                continue
            if waiter.test(event):
                waiter.future.set_result(event)
            else:
                still.append(waiter)
        execution.waiters = still


class Launches:
    """``POST /api/v1/executions`` of one registered workflow, over one HTTP client."""

    def __init__(self, workflow: str, version: str, connections: int = 16) -> None:
        settings = StackSettings()
        self.workflow = workflow
        self.version = version
        self.client = httpx.AsyncClient(
            base_url=settings.gateway_url,
            timeout=30.0,
            headers=auth_headers(),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def close(self) -> None:
        await self.client.aclose()

    @staticmethod
    def new_key() -> tuple[str, str]:
        """A fresh execution name and its key."""
        name = "b" + uuid.uuid4().hex[:19]
        return name, f"{PROJECT}/{DOMAIN}/{name}"

    async def launch(self, name: str, inputs: dict[str, Any] | None = None) -> None:
        response = await self.client.post(
            "/api/v1/executions",
            json={
                "project": PROJECT,
                "domain": DOMAIN,
                "name": name,
                "workflow": {"name": self.workflow, "version": self.version},
                "inputs": inputs or {},
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"launch failed: {response.status_code} {response.text[:500]}")
