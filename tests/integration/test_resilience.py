"""Executions survive dead components on the real stack (issue 4, "Dead components").

Each test kills a component of the local stack mid-execution (a worker with
SIGKILL, the launcher with SIGTERM or SIGKILL, the Kafka broker with SIGKILL),
brings it back as ``contrail demo up`` does, and checks that the execution
ends SUCCEEDED and that a plain consumer of ``contrail.executions`` sees each
``seq`` exactly once after deduplication by event id. Every test restores the
stack in ``finally``, so the tests after it find it healthy.
"""

from __future__ import annotations

import signal

import pytest

from shared.events.topics import EXECUTIONS
from shared.settings import StackSettings
from tests.integration.launcher_support import describe, open_launcher, tail
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
    local_only("kills and restarts processes of the local stack"),
]

NODES = 3


async def test_a_worker_killed_mid_task_is_replaced_by_a_new_attempt(
    stack: StackSettings,
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_chain(registry, project, NODES)
    stream = ExecutionStream(stack)
    await stream.open()
    async with open_launcher(stack) as launcher:
        try:
            async with tail(stack, EXECUTIONS, project) as live:
                execution = await launcher.launch(
                    project, workflow={"name": CHAIN}, inputs={"name": nap_input(60)}
                )
                running = await live.take(attempt_event("n0", 1, "RUNNING"), timeout=30)
            killed = kill("worker", signal.SIGKILL)
            assert running["data"]["worker_id"].endswith(f"-{killed}")
            await wait_gone("worker")
            await restore()
            done = await wait_finished(launcher, execution)
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
    assert lost["data"]["error"]["kind"] == "SYSTEM"
    assert lost["data"]["error"]["code"] == "WorkerLost"
    rerun = next(e for e in events if describe(e) == "attempt n0#2 RUNNING")
    assert rerun["data"]["worker_id"] != running["data"]["worker_id"]
    for node in ("n1", "n2"):
        assert attempt_phases(events, node) == [(1, "QUEUED"), (1, "RUNNING"), (1, "SUCCEEDED")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_a_restarted_launcher_resumes_mid_task_and_between_nodes(
    stack: StackSettings, sig: signal.Signals
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_chain(registry, project, NODES)
    stream = ExecutionStream(stack)
    await stream.open()
    async with open_launcher(stack) as launcher:
        try:
            async with tail(stack, EXECUTIONS, project) as live:
                execution = await launcher.launch(
                    project, workflow={"name": CHAIN}, inputs={"name": nap_input(30)}
                )
                # Mid-task: the attempt ends while the launcher is down.
                await live.take(attempt_event("n0", 1, "RUNNING"), timeout=30)
                kill("launcher", sig)
                await wait_gone("launcher")
                await restore()
                # Between nodes: n1's success is stored, n2 may not be dispatched yet.
                await live.take(attempt_event("n1", 1, "SUCCEEDED"), timeout=60)
                kill("launcher", sig)
                await wait_gone("launcher")
                await restore()
            done = await wait_finished(launcher, execution)
        finally:
            await restore()
    assert done["phase"] == "SUCCEEDED", done
    events = dedupe(await stream.events(execution["execution_id"]))
    assert_gap_free_to_success(events)
    for node in ("n0", "n1", "n2"):
        assert attempt_phases(events, node) == [(1, "QUEUED"), (1, "RUNNING"), (1, "SUCCEEDED")]


async def test_a_restarted_kafka_broker_loses_nothing(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_chain(registry, project, NODES)
    stream = ExecutionStream(stack)
    await stream.open()
    async with open_launcher(stack) as launcher:
        try:
            async with tail(stack, EXECUTIONS, project) as live:
                execution = await launcher.launch(
                    project, workflow={"name": CHAIN}, inputs={"name": nap_input(40)}
                )
                await live.take(attempt_event("n1", 1, "RUNNING"), timeout=30)
            # One kill: other sessions share this broker. n1 ends while it is down.
            kill("kafka", signal.SIGKILL)
            await wait_gone("kafka")
            await restore()
            done = await wait_finished(launcher, execution)
        finally:
            await restore()
    assert done["phase"] == "SUCCEEDED", done
    events = dedupe(await stream.events(execution["execution_id"]))
    assert_gap_free_to_success(events)
    for node in ("n0", "n2"):
        assert attempt_phases(events, node) == [(1, "QUEUED"), (1, "RUNNING"), (1, "SUCCEEDED")]
    # n1's worker kept running through the outage; if its heartbeats could not be
    # delivered in time the engine may have declared it lost and run it again.
    assert attempt_phases(events, "n1")[-1][1] == "SUCCEEDED"
