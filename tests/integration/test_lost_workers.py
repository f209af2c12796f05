"""Dead workers' attempts are retried on the real stack (issue 9, holes 1 and 4).

- Under a steady load (a second worker and a stream of launches, so that the
  engine's consumer group always has reports to read), a worker SIGKILLed
  mid-task is declared lost and its attempt retried within the heartbeat
  timeout and a few seconds: the engine judges a silent attempt by how far it
  has read that attempt's partition, not by the whole group's lag.
- A worker SIGKILLed after it took a dispatch but before the attempt's code
  ran (held there by the test-only ``CONTRAIL_WORKER_TEST_PAUSE_AFTER_TAKE_SECONDS``)
  does not leave the attempt QUEUED forever: a worker reports an attempt
  started, and heartbeats it, before it commits the dispatch's offset, so the
  engine declares it lost like any other.

Each test starts a second worker process like the stack's (its log in the
test's folder) and kills whichever worker runs the attempt under test; the
stack's worker is restored in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker

from contrail.demo.stack import Stack
from services.launcher.adapters.report_backlog import ReportProgress, partition_of
from shared.dispatch import ATTEMPTS, AttemptReport, ReportKind
from shared.events.topics import EXECUTIONS
from shared.identifiers import ExecutionIdentifier
from shared.settings import LauncherSettings, StackSettings
from tests.eventually import eventually_async
from tests.integration.launcher_support import Launcher, describe, open_launcher, tail
from tests.integration.registry_support import new_project, open_registry
from tests.integration.resilience_support import (
    CHAIN,
    ExecutionStream,
    assert_gap_free_to_success,
    attempt_event,
    attempt_phases,
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
    local_only("starts and kills worker processes of the local stack"),
]

HEARTBEAT_TIMEOUT = LauncherSettings().heartbeat_timeout_seconds
"""The stack's launcher runs with the default: a silent attempt's worker is lost after this."""
RECLAIM_SLACK = 10.0
"""What "within seconds" allows beyond the timeout: checks, a batch of reports, a dispatch."""


async def test_the_engine_knows_the_partition_of_an_executions_reports(
    stack: StackSettings, broker: KafkaBroker, topic: str
) -> None:
    """Workers' reports (published as the worker does, keyed by execution) land where
    ``partition_of`` says: the lost-worker rule reads that partition's progress."""
    keys = [f"p-{i}/development/e{i}" for i in range(40)]
    for key in keys:
        await broker.publish(b"{}", topic, key=key.encode())
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: dict[str, int] = {}

        async def read() -> dict[str, int]:
            for records in (await consumer.getmany(timeout_ms=250)).values():
                found.update({r.key.decode(): r.partition for r in records if r.key})
            return found

        await eventually_async(read, lambda f: len(f) == len(keys), timeout=20)
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()
    assert len(partitions) > 1
    assert found == {key: partition_of(key, partitions) for key in keys}


async def test_a_partition_is_read_through_once_its_group_has_committed_it_all(
    stack: StackSettings, broker: KafkaBroker, topic: str
) -> None:
    """The lost-worker rule's view of a partition without lag, through the real Kafka."""
    keys = [f"p-{i}/development/e{i}" for i in range(20)]
    for key in keys:
        await broker.publish(b"{}", topic, key=key.encode())
    group = f"test-{uuid.uuid4().hex[:8]}"
    unread = ReportProgress(stack, f"{group}-idle", topic)
    read = ReportProgress(stack, group, topic)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: list[str] = []

        async def read_all() -> int:
            for records in (await consumer.getmany(timeout_ms=250)).values():
                seen.extend(r.key.decode() for r in records if r.key)
            return len(seen)

        await eventually_async(read_all, lambda n: n == len(keys), timeout=20)
        await consumer.commit()
        before = datetime.now(UTC)
        nothing_read = await unread.read_through()
        all_read = await read.read_through()
    finally:
        await consumer.stop()
        await unread.close()
        await read.close()
    assert [nothing_read(key) for key in keys] == [None] * len(keys)
    through = [all_read(key) for key in keys]
    assert all(t is not None and t >= before for t in through), through


class WorkerProcess:
    """One more worker like the stack's (``python -m services.launcher.worker``).

    Its JSON log goes to ``log``; ``extra_env`` adds settings.
    """

    def __init__(self, log: Path, **extra_env: str) -> None:
        self.log = log
        self.extra_env = extra_env
        self.process: subprocess.Popen[bytes] | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[WorkerProcess]:
        component = Stack().component("worker")
        env = {**component.env(), **self.extra_env}  # type: ignore[attr-defined]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                component.argv(),  # type: ignore[attr-defined]
                cwd=component.cwd(),  # type: ignore[attr-defined]
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            yield self
        finally:
            self.kill()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_records(self, message: str) -> list[dict[str, Any]]:
        """The JSON log records whose message is ``message``."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("message") == message:
                    found.append(record)
        return found


def runs_on(worker_id: str, pid: int) -> bool:
    """Whether ``worker_id`` (``<host>-<pid>``) names the process ``pid``."""
    return worker_id.rsplit("-", 1)[-1] == str(pid)


@contextlib.asynccontextmanager
async def steady_load(
    stack: StackSettings, launcher: Launcher, project: str
) -> AsyncIterator[list[dict[str, Any]]]:
    """Reports keep flowing to the engine until the block ends, on every partition.

    A one-node chain of a short nap is launched every tenth of a second (each
    attempt sends its own reports), and a stale worker heartbeats attempts the
    engine no longer runs, a few hundred a second: the engine's consumer group
    is never without unread reports for long (with the old rule, "no lag in
    the whole group", a dead worker was then never declared lost).
    """
    launched: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def launch_forever() -> None:
        while not stop.is_set():
            launched.append(
                await launcher.launch(
                    project, workflow={"name": CHAIN}, inputs={"name": nap_input(2)}
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    async def stale_heartbeats() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=5)
        await producer.start()
        try:
            seq = 0
            while not stop.is_set():
                seq += 1
                for i in range(15):
                    execution = ExecutionIdentifier(
                        project=project, domain="development", name=f"gone{seq % 50}x{i}"
                    )
                    beat = AttemptReport(
                        kind=ReportKind.HEARTBEAT,
                        execution=execution,
                        node_path="n0",
                        attempt=1,
                        worker_id="stale-worker-1",
                        heartbeat_seq=seq,
                    )
                    await producer.send(ATTEMPTS, beat.to_json(), key=execution.key.encode())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)
        finally:
            await producer.stop()

    tasks = [asyncio.create_task(launch_forever()), asyncio.create_task(stale_heartbeats())]
    try:
        yield launched
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_worker_killed_under_a_steady_load_is_declared_lost_within_seconds(
    stack: StackSettings, tmp_path: Path
) -> None:
    load_project, project = new_project(), new_project()
    async with open_registry(stack) as registry:
        await register_chain(registry, load_project, 1)
        await register_chain(registry, project, 1)
    stream = ExecutionStream(stack)
    await stream.open()
    second = WorkerProcess(tmp_path / "second-worker.log")
    async with open_launcher(stack) as launcher:
        try:
            with second.running():
                async with steady_load(stack, launcher, load_project) as launched:
                    async with tail(stack, EXECUTIONS, project) as live:
                        execution = await launcher.launch(
                            project, workflow={"name": CHAIN}, inputs={"name": nap_input(150)}
                        )
                        running = await live.take(attempt_event("n0", 1, "RUNNING"), timeout=60)
                        worker_id = running["data"]["worker_id"]
                        if runs_on(worker_id, second.pid):
                            second.kill()
                        else:
                            kill("worker", signal.SIGKILL)
                            await wait_gone("worker")
                        # The load keeps running, so the engine's group never runs out of
                        # reports to read; the retry must come all the same.
                        await live.take(
                            attempt_event("n0", 2, "QUEUED"),
                            timeout=HEARTBEAT_TIMEOUT + RECLAIM_SLACK,
                        )
                    assert len(launched) > 10, "the load did not run"
                await restore()
                done = await wait_finished(launcher, execution, timeout=120)
        finally:
            await restore()
    assert done["phase"] == "SUCCEEDED", done
    events = dedupe(await stream.events(execution["execution_id"]))
    assert_gap_free_to_success(events)
    assert attempt_phases(events, "n0") == [
        (1, "QUEUED"),
        (1, "RUNNING"),
        (1, "RETRYABLE_FAILED"),
        (2, "QUEUED"),
        (2, "RUNNING"),
        (2, "SUCCEEDED"),
    ]
    lost = next(e for e in events if describe(e) == "attempt n0#1 RETRYABLE_FAILED")
    assert lost["data"]["error"]["code"] == "WorkerLost", lost


PAUSED = "test-only pause after taking an attempt"


async def test_a_worker_killed_between_taking_and_starting_an_attempt_is_declared_lost(
    stack: StackSettings, tmp_path: Path
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_chain(registry, project, 1)
    stream = ExecutionStream(stack)
    await stream.open()
    paused = WorkerProcess(
        tmp_path / "paused-worker.log", CONTRAIL_WORKER_TEST_PAUSE_AFTER_TAKE_SECONDS="600"
    )
    executions: dict[str, dict[str, Any]] = {}
    async with open_launcher(stack) as launcher:

        async def launch_until_taken() -> list[dict[str, Any]]:
            # Dispatches go to the partitions of both workers: launch until the
            # paused one holds an attempt.
            execution = await launcher.launch(
                project, workflow={"name": CHAIN}, inputs={"name": nap_input(3)}
            )
            executions[execution["execution_id"]] = execution
            return paused.log_records(PAUSED)

        with paused.running():
            taken = await eventually_async(
                launch_until_taken,
                timeout=90,
                interval=0.5,
                what="an attempt taken by the paused worker",
            )
            paused.kill()
        done = [await wait_finished(launcher, e, timeout=90) for e in executions.values()]
    assert [d["phase"] for d in done] == ["SUCCEEDED"] * len(done), done
    for record in taken:
        execution_id, node, attempt = record["attempt_id"].rsplit("/", 2)
        assert (node, attempt) == ("n0", "1"), record
        events = dedupe(await stream.events(execution_id))
        assert_gap_free_to_success(events)
        assert attempt_phases(events, "n0") == [
            (1, "QUEUED"),
            (1, "RUNNING"),
            (1, "RETRYABLE_FAILED"),
            (2, "QUEUED"),
            (2, "RUNNING"),
            (2, "SUCCEEDED"),
        ]
        # Taking is starting: attempt 1 ran (its code not yet loaded) on the paused worker.
        first = next(e for e in events if describe(e) == "attempt n0#1 RUNNING")
        assert runs_on(first["data"]["worker_id"], paused.pid), first
        lost = next(e for e in events if describe(e) == "attempt n0#1 RETRYABLE_FAILED")
        assert lost["data"]["error"]["code"] == "WorkerLost", lost
