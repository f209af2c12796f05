"""The worker on the real stack: the test plays the engine.

It uploads a code bundle to S3 at its digest key, publishes ``AttemptDispatch``
records to ``contrail.dispatch`` with a plain producer, and reads the worker's
``AttemptReport`` records from ``contrail.attempts`` with a plain consumer,
keeping those of its own execution. The worker is the one ``contrail demo up``
runs from this tree (restart it after changing its code).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contrail.bundle import deterministic_tar
from services.launcher.worker.bundle_cache import BundleCache
from services.launcher.worker.storage import parse_s3_uri
from shared.dispatch import (
    ATTEMPTS,
    CONTROL,
    DISPATCH,
    AttemptControl,
    AttemptDispatch,
    AttemptReport,
    ControlKind,
    ReportKind,
)
from shared.events.catalogue import ErrorKind, Resources, ResourceSpec
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.literals import FLOAT, INT, STR
from shared.s3 import ObjectStore
from shared.settings import StackSettings
from shared.specs import CodeLocation, Parameter, TaskSpec, TypedInterface, Variable
from tests.eventually import eventually_async
from tests.integration.conftest import Consume, Record

pytestmark = pytest.mark.integration

MIB = 1 << 20
PROJECT, DOMAIN = "worker-tests", "development"
TERMINAL = {ReportKind.SUCCEEDED, ReportKind.FAILED, ReportKind.TIMED_OUT, ReportKind.ABORTED}

TASKS = """
import sys
import time


def slow_add(a: int, b: int, seconds: float) -> int:
    print(f"adding {a} and {b}", flush=True)
    print("a line on stderr", file=sys.stderr, flush=True)
    time.sleep(seconds)
    return a + b


def explode(message: str) -> int:
    def inner() -> None:
        raise ValueError(message)

    inner()
    return 0


def hog(mib: int) -> int:
    chunks = []
    for _ in range(mib):
        chunks.append(bytearray(1 << 20))
        time.sleep(0.002)
    return len(chunks)


def nap(seconds: float) -> int:
    print("napping", flush=True)
    time.sleep(seconds)
    return 0
"""


@pytest.fixture(scope="module")
def store(stack: StackSettings) -> ObjectStore:
    return ObjectStore(stack)


@pytest.fixture(scope="module")
def bundle_uri(store: ObjectStore) -> str:
    """A tarball of a ``worker_loop_tasks`` package at its digest key."""
    tarball = deterministic_tar(
        [
            ("worker_loop_tasks/__init__.py", b"", 0o644),
            ("worker_loop_tasks/tasks.py", TASKS.encode(), 0o644),
        ]
    )
    digest = hashlib.sha256(tarball).hexdigest()
    key = f"bundles/{PROJECT}/{DOMAIN}/{digest}/bundle.tgz"
    store.put(key, tarball)
    return f"s3://{store.bucket}/{key}"


@pytest.fixture
async def producer(stack: StackSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


def execution() -> ExecutionIdentifier:
    return ExecutionIdentifier(project=PROJECT, domain=DOMAIN, name=f"w{uuid.uuid4().hex[:16]}")


def dispatch(
    bundle: str | None,
    function: str,
    inputs: dict[str, Any],
    *,
    inputs_types: dict[str, Any],
    memory_bytes: int | None = None,
    timeout_seconds: float | None = None,
) -> AttemptDispatch:
    spec = TaskSpec(
        name=f"worker_loop_tasks.tasks.{function}",
        interface=TypedInterface(
            inputs={name: Parameter(type=t) for name, t in inputs_types.items()},
            outputs={"o0": Variable(type=INT)},
        ),
        code=CodeLocation(module="worker_loop_tasks.tasks", function=function, bundle=bundle),
        resources=Resources(limits=ResourceSpec(memory_bytes=memory_bytes)),
        timeout_seconds=timeout_seconds,
    )
    trace_id = uuid.uuid4().hex
    return AttemptDispatch(
        execution=execution(),
        node_path="n0",
        attempt=1,
        task=Identifier(
            resource_type=ResourceType.TASK,
            project=PROJECT,
            domain=DOMAIN,
            name=spec.name,
            version="v1",
        ),
        spec=spec,
        inputs=inputs,
        traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
    )


async def send(producer: AIOKafkaProducer, message: AttemptDispatch | AttemptControl) -> None:
    topic = DISPATCH if isinstance(message, AttemptDispatch) else CONTROL
    await producer.send_and_wait(topic, message.to_json(), key=message.execution.key.encode())


def mine(records: list[Record], sent: AttemptDispatch) -> list[tuple[Record, AttemptReport]]:
    key = sent.execution.key.encode()
    return [(r, AttemptReport.model_validate_json(r.value)) for r in records if r.key == key]


async def reports(
    consume: Consume,
    sent: AttemptDispatch,
    until: Callable[[list[AttemptReport]], bool] | None = None,
    timeout: float = 60,
) -> list[tuple[Record, AttemptReport]]:
    """The worker's reports about ``sent``, read until ``until`` holds (default: a terminal one)."""

    def done(rs: list[AttemptReport]) -> bool:
        return until(rs) if until else any(r.kind in TERMINAL for r in rs)

    records = await consume(
        ATTEMPTS, until=lambda rs: done([r for _, r in mine(rs, sent)]), timeout=timeout
    )
    return mine(records, sent)


def kinds(found: list[tuple[Record, AttemptReport]]) -> list[ReportKind]:
    return [r.kind for _, r in found]


def terminal(found: list[tuple[Record, AttemptReport]]) -> AttemptReport:
    ends = [r for _, r in found if r.kind in TERMINAL]
    assert len(ends) == 1, kinds(found)
    return ends[0]


# --- the happy path -------------------------------------------------------------------


async def test_an_attempt_reports_started_heartbeats_and_its_outputs(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str, store: ObjectStore
) -> None:
    sent = dispatch(
        bundle_uri,
        "slow_add",
        {"a": 2, "b": 3, "seconds": 4.5},
        inputs_types={"a": INT, "b": INT, "seconds": FLOAT},
    )
    await send(producer, sent)

    found = await reports(consume, sent)

    order = kinds(found)
    assert order[0] is ReportKind.STARTED, order
    assert order[-1] is ReportKind.SUCCEEDED, order
    assert order.count(ReportKind.HEARTBEAT) >= 1, order
    assert set(order[1:-1]) == {ReportKind.HEARTBEAT}, order
    started, end = found[0][1], terminal(found)
    assert started.worker_id
    assert started.worker_id == end.worker_id
    assert started.log_uri == end.log_uri
    assert end.log_uri is not None
    assert end.log_uri.endswith(f"logs/{PROJECT}/{DOMAIN}/{sent.execution.name}/n0/1")
    heartbeats = [r.heartbeat_seq for _, r in found if r.kind is ReportKind.HEARTBEAT]
    assert heartbeats == sorted(heartbeats)
    assert heartbeats[0] == 1
    assert end.outputs == {"o0": 5}
    assert end.usage is not None
    assert end.usage.wall_seconds >= 4.5
    assert end.usage.peak_memory_bytes > 0
    # Every report is keyed by the execution and carries the dispatch's trace.
    trace_id = (sent.traceparent or "").split("-")[1]
    for record, message in found:
        assert record.key == sent.execution.key.encode()
        assert message.traceparent is not None
        assert message.traceparent.split("-")[1] == trace_id
        assert record.headers["traceparent"].decode().split("-")[1] == trace_id
    # The logs are in S3 under log_uri.
    _, prefix = parse_s3_uri(end.log_uri)
    assert store.get(f"{prefix}/stdout").decode() == "adding 2 and 3\n"
    assert "a line on stderr" in store.get(f"{prefix}/stderr").decode()


async def test_a_running_attempts_logs_reach_s3_before_it_ends(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str, store: ObjectStore
) -> None:
    sent = dispatch(bundle_uri, "nap", {"seconds": 12.0}, inputs_types={"seconds": FLOAT})
    await send(producer, sent)
    found = await reports(consume, sent, until=lambda rs: bool(rs))
    log_uri = found[0][1].log_uri
    assert log_uri is not None
    _, prefix = parse_s3_uri(log_uri)

    # The worker copies logs every 3 s while the attempt runs, and the nap lasts 12 s.
    stdout = await eventually_async(
        lambda: store.get(f"{prefix}/stdout"),
        timeout=9,
        interval=0.5,
        what="the running attempt's stdout in S3",
    )
    assert stdout == b"napping\n"
    assert kinds(await reports(consume, sent))[-1] is ReportKind.SUCCEEDED


# --- how attempts fail ------------------------------------------------------------------


async def test_a_raising_task_fails_with_its_exception_and_traceback(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str
) -> None:
    sent = dispatch(bundle_uri, "explode", {"message": "no way"}, inputs_types={"message": STR})
    await send(producer, sent)

    end = terminal(await reports(consume, sent))

    assert end.kind is ReportKind.FAILED
    assert end.error is not None
    assert end.error.kind is ErrorKind.USER
    assert "ValueError" in end.error.message
    assert "no way" in end.error.message
    assert end.error.traceback_tail
    assert "raise ValueError(message)" in end.error.traceback_tail
    assert not end.oom
    assert end.usage is not None


async def test_a_huge_exception_message_is_cut_to_fit_the_report(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str
) -> None:
    huge = "no way " * 70_000  # 490 KB: a report must stay far below Kafka's 1 MB
    sent = dispatch(bundle_uri, "explode", {"message": huge}, inputs_types={"message": STR})
    await send(producer, sent)

    end = terminal(await reports(consume, sent))

    assert end.kind is ReportKind.FAILED
    assert end.error is not None
    assert end.error.kind is ErrorKind.USER
    assert "ValueError: no way no way" in end.error.message
    assert "characters cut; the full text is in stderr" in end.error.message
    assert len(end.error.message) < 17 * 1024
    assert end.error.traceback_tail is not None
    assert len(end.error.traceback_tail) < 17 * 1024


async def test_a_task_past_its_memory_limit_fails_out_of_memory(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str
) -> None:
    sent = dispatch(
        bundle_uri,
        "hog",
        {"mib": 400},
        inputs_types={"mib": INT},
        memory_bytes=150 * MIB,
    )
    await send(producer, sent)

    end = terminal(await reports(consume, sent))

    assert end.kind is ReportKind.FAILED
    assert end.oom
    assert end.error is not None
    assert end.error.code == "OOMKilled"
    assert end.usage is not None
    assert end.usage.peak_memory_bytes >= 150 * MIB


async def test_a_task_past_its_timeout_times_out(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str
) -> None:
    sent = dispatch(
        bundle_uri, "nap", {"seconds": 30.0}, inputs_types={"seconds": FLOAT}, timeout_seconds=1.5
    )
    await send(producer, sent)

    found = await reports(consume, sent, timeout=30)

    end = terminal(found)
    assert end.kind is ReportKind.TIMED_OUT
    assert end.usage is not None
    assert 1.5 <= end.usage.wall_seconds < 10
    assert kinds(found)[0] is ReportKind.STARTED


async def test_a_terminate_on_the_control_topic_aborts_the_attempt(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str
) -> None:
    sent = dispatch(bundle_uri, "nap", {"seconds": 60.0}, inputs_types={"seconds": FLOAT})
    await send(producer, sent)
    await reports(consume, sent, until=lambda rs: any(r.kind is ReportKind.STARTED for r in rs))

    await send(
        producer,
        AttemptControl(
            kind=ControlKind.TERMINATE,
            execution=sent.execution,
            node_path=sent.node_path,
            attempt=sent.attempt,
            reason="the test aborts it",
        ),
    )
    found = await reports(consume, sent, timeout=30)

    end = terminal(found)
    assert end.kind is ReportKind.ABORTED
    assert end.usage is not None
    assert end.usage.wall_seconds < 30


async def test_a_missing_bundle_fails_the_attempt_with_a_system_error(
    consume: Consume, producer: AIOKafkaProducer, store: ObjectStore
) -> None:
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    uri = f"s3://{store.bucket}/bundles/{PROJECT}/{DOMAIN}/{digest}/bundle.tgz"
    sent = dispatch(uri, "nap", {"seconds": 0.0}, inputs_types={"seconds": FLOAT})
    await send(producer, sent)

    found = await reports(consume, sent)

    # Taken means started: the bundle is fetched within the attempt.
    assert kinds(found) == [ReportKind.STARTED, ReportKind.FAILED]
    end = terminal(found)
    assert end.error is not None
    assert end.error.kind is ErrorKind.SYSTEM
    assert end.error.code == "BundleUnavailable"
    assert uri in end.error.message


async def test_bundles_unused_for_long_leave_the_cache_and_come_back_on_use(
    store: ObjectStore, bundle_uri: str, tmp_path: Path
) -> None:
    cache = BundleCache(store, tmp_path / "cache")
    folder = await cache.folder(bundle_uri)
    assert (folder / "worker_loop_tasks" / "tasks.py").is_file()
    warm = tmp_path / "cache" / ("e" * 64)
    warm.mkdir()
    week_ago = time.time() - 8 * 24 * 3600
    for path in (folder, warm):
        os.utime(path, (week_ago, week_ago))

    # Both unused for a week; the one a warm interpreter holds stays.
    assert cache.purge(7 * 24 * 3600, keep=[warm]) == [folder.name]
    assert not folder.exists()
    assert warm.is_dir()
    assert cache.purge(7 * 24 * 3600) == [warm.name]

    again = await cache.folder(bundle_uri)
    assert again == folder
    assert (again / "worker_loop_tasks" / "tasks.py").is_file()
    assert cache.purge(7 * 24 * 3600) == []


async def test_a_dispatch_sent_again_after_its_attempt_ended_is_not_run_again(
    consume: Consume, producer: AIOKafkaProducer, bundle_uri: str
) -> None:
    """The launcher's outbox sends a dispatch again when PostgreSQL dies between sending it
    and marking it sent (the chaos run found such attempts run twice): the worker that ran
    the attempt ignores the copy, even once the attempt is over."""
    sent = dispatch(bundle_uri, "nap", {"seconds": 0.0}, inputs_types={"seconds": FLOAT})
    await send(producer, sent)
    assert terminal(await reports(consume, sent)).kind is ReportKind.SUCCEEDED

    # The copy, then another attempt of the same execution: the same partition, read in order.
    await send(producer, sent)
    after = sent.model_copy(update={"node_path": "n1"})
    await send(producer, after)
    found = await reports(
        consume,
        sent,
        until=lambda rs: any(r.kind in TERMINAL and r.node_path == "n1" for r in rs),
    )

    first = [r.kind for _, r in found if r.node_path == "n0" and r.kind is not ReportKind.HEARTBEAT]
    assert first == [ReportKind.STARTED, ReportKind.SUCCEEDED]
    assert [r.kind for _, r in found if r.node_path == "n1"][-1] is ReportKind.SUCCEEDED
