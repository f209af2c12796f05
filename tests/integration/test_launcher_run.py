"""Executions run to the end on the real stack: the launcher's engine and the workers."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from shared.events.topics import DISPATCH, EXECUTIONS
from shared.settings import StackSettings
from tests.eventually import eventually_async
from tests.integration.launcher_support import (
    TERMINAL,
    describe,
    execution_ended,
    execution_events,
    open_launcher,
    register_one_task,
    register_two_tasks,
    restart_launcher,
    tail,
)
from tests.integration.registry_support import new_project, open_registry

pytestmark = pytest.mark.integration

ONE_TASK_EVENTS = [
    "execution QUEUED",
    "execution RUNNING",
    "node n0 QUEUED",
    "attempt n0#1 QUEUED",
    "attempt n0#1 RUNNING",
    "node n0 RUNNING",
    "attempt n0#1 SUCCEEDED",
    "node n0 SUCCEEDED",
    "execution SUCCEEDED",
]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def test_one_task_workflow_succeeds_with_every_event_in_order(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project)
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        execution = await launcher.launch(
            project, launch_plan={"name": "wf.hello"}, inputs={"name": "you"}
        )
        assert execution["phase"] in ("QUEUED", "RUNNING")
        done = await launcher.wait(execution, TERMINAL)
        assert done["phase"] == "SUCCEEDED", done
        assert done["outputs"] == {"o0": "hello you"}
        records = await events.drain(until=execution_ended(execution["execution_id"]))
        nodes = await launcher.nodes(execution)
        attempt = nodes[0]["attempts"][0]
        logs = await launcher.client.get(
            f"/api/v1/executions/{execution['execution_id']}/nodes/n0/attempts/1/logs"
        )
    mine = execution_events(records, execution["execution_id"])
    assert [describe(e) for e in mine] == ONE_TASK_EVENTS
    assert [e["data"]["seq"] for e in mine] == list(range(len(ONE_TASK_EVENTS)))
    assert len({e["id"] for e in mine}) == len(mine)
    first = mine[0]
    assert first["source"] == "/contrail/launcher"
    assert first["subject"].startswith("urn:contrail:execution:")
    running = mine[4]["data"]
    assert running["worker_id"]
    assert running["log_uri"].startswith("s3://contrail/logs/")
    assert mine[6]["data"]["resources_used"]["wall_seconds"] >= 0
    assert attempt["worker_id"] == running["worker_id"]
    assert logs.status_code == 200
    assert "saying hello to you" in logs.text


async def test_two_task_workflow_passes_outputs_downstream(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_two_tasks(registry, project)
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(
            project, workflow={"name": "wf.greet"}, inputs={"name": "ada"}
        )
        done = await launcher.wait(execution, TERMINAL)
        assert done["phase"] == "SUCCEEDED", done
        assert done["outputs"] == {"o0": len("hello ada")}
        nodes = await launcher.nodes(execution)
        assert [(n["node_path"], n["phase"]) for n in nodes] == [
            ("n0", "SUCCEEDED"),
            ("n1", "SUCCEEDED"),
        ]
        assert nodes[1]["inputs"] == {"greeting": "hello ada"}


async def test_inputs_too_large_for_kafka_travel_through_s3(stack: StackSettings) -> None:
    """2 MiB in and out: the dispatches carry ``inputs_uri``; the outputs come back."""
    project = new_project()
    big = "ada" * (700 * 1024)
    async with open_registry(stack) as registry:
        await register_two_tasks(registry, project)
    async with open_launcher(stack) as launcher, tail(stack, DISPATCH, project) as dispatches:
        execution = await launcher.launch(
            project, workflow={"name": "wf.greet"}, inputs={"name": big}
        )
        done = await launcher.wait(execution, TERMINAL)
        # Both dispatches were on the topic before the execution could end.
        sent = await dispatches.drain(until=lambda records: len(records) >= 2)
    assert done["phase"] == "SUCCEEDED", done
    assert done["outputs"] == {"o0": len(f"hello {big}")}
    assert sorted(d["node_path"] for d in sent) == ["n0", "n1"]
    for dispatch in sent:
        assert dispatch["inputs"] == {}
        assert dispatch["inputs_uri"].startswith(f"s3://{stack.s3_bucket}/inputs/{project}/")


async def test_a_task_runs_as_a_one_node_workflow(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project)
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(
            project, task={"name": "wf.say_hello", "version": "v1"}, inputs={"name": "t"}
        )
        assert execution["launch_plan"] is None
        done = await launcher.wait(execution, TERMINAL)
        assert done["phase"] == "SUCCEEDED", done
        assert done["outputs"] == {"o0": "hello t"}


async def test_a_failed_attempt_is_retried(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project, function="flaky", retries=1)
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        name = unique("r")
        execution = await launcher.launch(
            project, workflow={"name": "wf.hello"}, inputs={"name": name}
        )
        done = await launcher.wait(execution, TERMINAL)
        assert done["phase"] == "SUCCEEDED", done
        records = await events.drain(until=execution_ended(execution["execution_id"]))
    mine = execution_events(records, execution["execution_id"])
    assert [describe(e) for e in mine] == [
        "execution QUEUED",
        "execution RUNNING",
        "node n0 QUEUED",
        "attempt n0#1 QUEUED",
        "attempt n0#1 RUNNING",
        "node n0 RUNNING",
        "attempt n0#1 RETRYABLE_FAILED",
        "attempt n0#2 QUEUED",
        "attempt n0#2 RUNNING",
        "attempt n0#2 SUCCEEDED",
        "node n0 SUCCEEDED",
        "execution SUCCEEDED",
    ]
    assert mine[6]["data"]["error"]["kind"] == "USER"
    assert [e["data"]["seq"] for e in mine] == list(range(12))


async def test_exhausted_retries_fail_the_execution(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project, function="always_fails")
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(project, launch_plan={"name": "wf.hello"})
        done = await launcher.wait(execution, TERMINAL)
        assert done["phase"] == "FAILED"
        assert done["error"]["kind"] == "USER"
        assert done["error"]["message"].startswith("[n0]")
        assert "no luck for world" in done["error"]["message"]


async def test_abort_terminates_the_running_attempt(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project, function="nap")
    async with open_launcher(stack) as launcher:
        # A 60 s nap: longer than the wait below, so only a terminated attempt can end in time.
        execution = await launcher.launch(
            project, launch_plan={"name": "wf.hello"}, inputs={"name": "x-600"}
        )
        url = f"/api/v1/executions/{execution['execution_id']}"
        # Abort only once the attempt runs on a worker: stopping it there is what is tested.
        [node] = await eventually_async(
            lambda: launcher.nodes(execution),
            lambda nodes: [a["phase"] for n in nodes for a in n["attempts"]] == ["RUNNING"],
            what="attempt n0#1 RUNNING",
        )
        assert node["attempts"][0]["worker_id"]
        assert (await launcher.get(execution))["phase"] == "RUNNING"

        response = await launcher.client.post(f"{url}/abort", json={"cause": "enough"})
        assert response.status_code == 202, response.text
        # A running attempt has to be stopped by its worker first.
        assert response.json()["phase"] == "ABORTING"
        done = await launcher.wait(execution, TERMINAL, timeout=30)
        assert done["phase"] == "ABORTED", done
        assert done["error"]["code"] == "Aborted"
        assert "enough" in done["error"]["message"]
        [node] = await launcher.nodes(execution)
        assert node["phase"] == "ABORTED", node
        [attempt] = node["attempts"]
        # Ended by its worker, which reported it aborted (a nap left to run would succeed).
        assert attempt["phase"] == "ABORTED", attempt
        assert attempt["ended_at"] is not None
        assert attempt["error"]["code"] == "Aborted", attempt

        again = await launcher.client.post(f"{url}/abort", json={"cause": "twice"})
        assert again.status_code == 202
        assert (await launcher.get(execution))["error"]["message"] == done["error"]["message"]


async def test_relaunch_runs_the_same_inputs(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project)
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(
            project, launch_plan={"name": "wf.hello"}, inputs={"name": "again"}, labels={"a": "b"}
        )
        await launcher.wait(execution, TERMINAL)
        response = await launcher.client.post(
            f"/api/v1/executions/{execution['execution_id']}/relaunch", json={"name": "second"}
        )
        assert response.status_code == 201, response.text
        second = response.json()["execution"]
        assert second["name"] == "second"
        assert second["relaunched_from"] == execution["execution_id"]
        assert second["inputs"] == {"name": "again"}
        assert second["labels"] == {"a": "b"}
        done = await launcher.wait(second, TERMINAL)
        assert done["outputs"] == {"o0": "hello again"}


async def test_recover_reuses_the_outputs_of_succeeded_nodes(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_two_tasks(registry, project, second="flaky_length")
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        name = unique("c")
        execution = await launcher.launch(
            project, workflow={"name": "wf.greet"}, inputs={"name": name}
        )
        failed = await launcher.wait(execution, TERMINAL)
        assert failed["phase"] == "FAILED"
        response = await launcher.client.post(
            f"/api/v1/executions/{execution['execution_id']}/recover", json={}
        )
        assert response.status_code == 201, response.text
        recovered = response.json()["execution"]
        assert recovered["recovered_from"] == execution["execution_id"]
        done = await launcher.wait(recovered, TERMINAL)
        assert done["phase"] == "SUCCEEDED", done
        assert done["outputs"] == {"o0": len(f"hello {name}")}
        records = await events.drain(until=execution_ended(recovered["execution_id"]))
    mine = execution_events(records, recovered["execution_id"])
    described = [describe(e) for e in mine]
    assert "node n0 SUCCEEDED" in described
    assert not any(d.startswith("attempt n0") for d in described)
    assert "attempt n1#1 SUCCEEDED" in described


async def test_a_cached_task_runs_once(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project, cache=True)
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        first = await launcher.launch(
            project, launch_plan={"name": "wf.hello"}, inputs={"name": "c"}
        )
        await launcher.wait(first, TERMINAL)
        second = await launcher.launch(
            project, launch_plan={"name": "wf.hello"}, inputs={"name": "c"}
        )
        done = await launcher.wait(second, TERMINAL)
        assert done["phase"] == "SUCCEEDED"
        assert done["outputs"] == {"o0": "hello c"}
        records = await events.drain(until=execution_ended(second["execution_id"]))
        nodes = await launcher.nodes(second)
    mine = execution_events(records, second["execution_id"])
    assert [describe(e) for e in mine] == [
        "execution QUEUED",
        "execution RUNNING",
        "node n0 QUEUED",
        "node n0 SUCCEEDED",
        "execution SUCCEEDED",
    ]
    assert mine[3]["data"]["cache_hit"] is True
    assert nodes[0]["cache_hit"] is True
    assert nodes[0]["attempts"] == []


@pytest.mark.skipif(
    os.environ.get("CONTRAIL_TEST_STACK", "local") != "local",
    reason="restarts the local stack's launcher",
)
async def test_a_restarted_launcher_resumes(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project, function="nap")
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        execution = await launcher.launch(
            project, workflow={"name": "wf.hello"}, inputs={"name": "r-20"}
        )
        await asyncio.to_thread(restart_launcher)
        done = await launcher.wait(execution, TERMINAL, timeout=60)
        assert done["phase"] == "SUCCEEDED", done
        records = await events.drain(until=execution_ended(execution["execution_id"]))
    mine = execution_events(records, execution["execution_id"])
    by_id = {e["id"]: e for e in mine}
    assert [describe(e) for e in sorted(by_id.values(), key=lambda e: e["data"]["seq"])] == (
        ONE_TASK_EVENTS
    )
    seqs = sorted(e["data"]["seq"] for e in by_id.values())
    assert seqs == list(range(len(ONE_TASK_EVENTS)))
