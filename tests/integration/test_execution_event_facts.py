"""On the real stack, the events on contrail.executions say what the notifier and the
metrics service need besides the phase: the execution's labels and trigger, its times
and duration, and each attempt's times and resources (docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from shared.events.catalogue import Resources, ResourceSpec
from shared.events.topics import EXECUTIONS
from shared.identifiers import ResourceType
from shared.settings import StackSettings
from tests.integration.launcher_support import (
    TERMINAL,
    code_task,
    execution_ended,
    execution_events,
    one_task_workflow,
    open_launcher,
    tail,
)
from tests.integration.registry_support import launch_plan, new_project, open_registry

pytestmark = pytest.mark.integration

RESOURCES = Resources(
    requests=ResourceSpec(cpu=0.25, memory_bytes=128 * 2**20),
    limits=ResourceSpec(cpu=1, memory_bytes=512 * 2**20),
)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def check_execution_events(
    events: list[dict[str, Any]], document: dict[str, Any], trigger: dict[str, Any]
) -> None:
    """Each execution.phase_changed event carries the labels, the trigger and the times
    that the API shows for the execution; the terminal one its duration."""
    changes = [e["data"] for e in events if e["type"] == "contrail.execution.phase_changed"]
    assert [c["phase"] for c in changes] == ["QUEUED", "RUNNING", "SUCCEEDED"], changes
    created, started, ended = (
        at(document["created_at"]),
        at(document["started_at"]),
        at(document["ended_at"]),
    )
    for change in changes:
        assert change["labels"] == document["labels"]
        assert change["trigger"] == trigger
        assert at(change["queued_at"]) == created
    queued, running, succeeded = changes
    assert "started_at" not in queued
    assert "ended_at" not in queued
    assert at(running["started_at"]) == started
    assert "ended_at" not in running
    assert "duration_seconds" not in running
    assert at(succeeded["started_at"]) == started
    assert at(succeeded["ended_at"]) == ended
    assert succeeded["duration_seconds"] == pytest.approx(document["duration_seconds"])
    assert started is not None
    assert ended is not None
    assert succeeded["duration_seconds"] == pytest.approx((ended - started).total_seconds())


def check_attempt_events(events: list[dict[str, Any]], attempt: dict[str, Any]) -> None:
    """The attempt's events carry its times as the API shows them, and requests and limits."""
    changes = [e["data"] for e in events if e["type"] == "contrail.task_attempt.phase_changed"]
    assert [c["phase"] for c in changes] == ["QUEUED", "RUNNING", "SUCCEEDED"], changes
    for change in changes:
        assert change["resources_requested"] == RESOURCES.model_dump(mode="json")
        assert change["launch_plan"]["name"] == "wf.hello"
        assert at(change["queued_at"]) == at(attempt["queued_at"])
    queued, running, succeeded = changes
    assert "started_at" not in queued
    assert at(running["started_at"]) == at(attempt["started_at"])
    assert at(succeeded["started_at"]) == at(attempt["started_at"])
    assert at(succeeded["ended_at"]) == at(attempt["ended_at"])
    assert succeeded["resources_used"]["wall_seconds"] >= 0


async def test_launch_and_relaunch_events_carry_labels_trigger_and_times(
    stack: StackSettings,
) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        task = code_task("say_hello", "wf.say_hello", resources=RESOURCES)
        await registry.ok(ResourceType.TASK, project, "v1", task)
        workflow = one_task_workflow("wf.hello", "wf.say_hello")
        await registry.ok(ResourceType.WORKFLOW, project, "v1", workflow)
        lp = launch_plan("wf.hello", "wf.hello", labels={"team": "ml", "tier": "gold"})
        await registry.ok(ResourceType.LAUNCH_PLAN, project, "v1", lp)
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        first = await launcher.launch(
            project,
            launch_plan={"name": "wf.hello"},
            inputs={"name": "facts"},
            labels={"tier": "silver", "run": "r1"},
        )
        first_done = await launcher.wait(first, TERMINAL)
        response = await launcher.client.post(
            f"/api/v1/executions/{first['execution_id']}/relaunch", json={}
        )
        assert response.status_code == 201, response.text
        second = response.json()["execution"]
        second_done = await launcher.wait(second, TERMINAL)
        records = await events.drain(until=execution_ended(second["execution_id"]))
        [first_node] = await launcher.nodes(first)
        [second_node] = await launcher.nodes(second)

    labels = {"team": "ml", "tier": "silver", "run": "r1"}
    assert first_done["labels"] == labels
    assert second_done["labels"] == labels
    first_events = execution_events(records, first["execution_id"])
    second_events = execution_events(records, second["execution_id"])
    # Node and attempt events carry the labels too.
    assert {tuple(sorted(e["data"]["labels"].items())) for e in first_events + second_events} == {
        tuple(sorted(labels.items()))
    }
    check_execution_events(first_events, first_done, {"kind": "user"})
    source = {"project": project, "domain": "development", "name": first["name"]}
    check_execution_events(second_events, second_done, {"kind": "relaunch", "source": source})
    check_attempt_events(first_events, first_node["attempts"][0])
    check_attempt_events(second_events, second_node["attempts"][0])


async def test_recover_names_the_execution_it_recovers(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        task = code_task("always_fails", "wf.say_hello", resources=RESOURCES)
        await registry.ok(ResourceType.TASK, project, "v1", task)
        workflow = one_task_workflow("wf.hello", "wf.say_hello")
        await registry.ok(ResourceType.WORKFLOW, project, "v1", workflow)
        await registry.ok(
            ResourceType.LAUNCH_PLAN, project, "v1", launch_plan("wf.hello", "wf.hello")
        )
    async with open_launcher(stack) as launcher, tail(stack, EXECUTIONS, project) as events:
        failed = await launcher.launch(project, launch_plan={"name": "wf.hello"})
        failed_done = await launcher.wait(failed, TERMINAL)
        response = await launcher.client.post(
            f"/api/v1/executions/{failed['execution_id']}/recover", json={}
        )
        assert response.status_code == 201, response.text
        recovered = response.json()["execution"]
        await launcher.wait(recovered, TERMINAL)
        records = await events.drain(until=execution_ended(recovered["execution_id"]))

    assert failed_done["phase"] == "FAILED"
    ended = [
        e["data"]
        for e in execution_events(records, failed["execution_id"])
        if e["type"] == "contrail.execution.phase_changed" and e["data"]["phase"] == "FAILED"
    ]
    assert len(ended) == 1
    assert ended[0]["trigger"] == {"kind": "user"}
    assert ended[0]["duration_seconds"] == pytest.approx(failed_done["duration_seconds"])
    assert ended[0]["error"]["code"]
    source = {"project": project, "domain": "development", "name": failed["name"]}
    triggers = [
        e["data"]["trigger"]
        for e in execution_events(records, recovered["execution_id"])
        if e["type"] == "contrail.execution.phase_changed"
    ]
    assert len(triggers) >= 3
    assert triggers == [{"kind": "recover", "source": source}] * len(triggers)
