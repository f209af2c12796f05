"""The executions API's answers: creating from each target, bad input, get and list."""

from __future__ import annotations

import base64

import pytest

from shared.identifiers import ResourceType
from shared.literals import INT, STR
from shared.settings import StackSettings
from shared.specs import InputBinding, Parameter, TypedInterface, WorkflowSpec
from tests.integration.launcher_support import (
    code_task,
    open_launcher,
    register_one_task,
)
from tests.integration.registry_support import launch_plan, new_project, open_registry, task_node

pytestmark = pytest.mark.integration


async def register_typed(project: str, stack: StackSettings) -> None:
    """``wf.typed(name: str, count: int, fixed: str)`` with a launch plan fixing ``fixed``."""
    workflow = WorkflowSpec(
        name="wf.typed",
        interface=TypedInterface(
            inputs={
                "name": Parameter(type=STR),
                "count": Parameter(type=INT),
                "fixed": Parameter(type=STR, default="f", required=False),
            },
            outputs={},
        ),
        nodes=[task_node("n0", "wf.say_hello", {"name": InputBinding(input="name")})],
    )
    async with open_registry(stack) as registry:
        task = code_task("say_hello", "wf.say_hello", outputs={})
        await registry.ok(ResourceType.TASK, project, "v1", task)
        await registry.ok(ResourceType.WORKFLOW, project, "v1", workflow)
        plan = launch_plan(
            "wf.typed.lp", "wf.typed", default_inputs={"count": 3}, fixed_inputs={"fixed": "x"}
        )
        await registry.ok(ResourceType.LAUNCH_PLAN, project, "v1", plan)


async def test_bad_inputs_are_each_listed(stack: StackSettings) -> None:
    project = new_project()
    await register_typed(project, stack)
    async with open_launcher(stack) as launcher:
        response = await launcher.create(
            project,
            launch_plan={"name": "wf.typed.lp"},
            inputs={"count": "three", "fixed": "y", "nope": 1},
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_inputs"
        problems = {(d["input"], d["message"].split(" ")[0]) for d in error["details"]}
        assert {d["input"] for d in error["details"]} == {"count", "fixed", "nope", "name"}
        assert len(error["details"]) == 4, problems


async def test_inputs_past_the_limit_are_413_and_create_nothing(stack: StackSettings) -> None:
    project = new_project()
    await register_typed(project, stack)
    async with open_launcher(stack) as launcher:
        response = await launcher.create(
            project,
            name="too-big",
            launch_plan={"name": "wf.typed.lp"},
            inputs={"name": "x" * (11 * 1024 * 1024)},
        )
        assert response.status_code == 413, response.text[:500]
        error = response.json()["error"]
        assert error["code"] == "inputs_too_large"
        assert error["details"][0]["limit"] == 10 * 1024 * 1024
        assert error["details"][0]["size"] > error["details"][0]["limit"]
        missing = await launcher.client.get(f"/api/v1/executions/{project}/development/too-big")
        assert missing.status_code == 404


async def test_defaults_come_from_the_launch_plan_then_the_workflow(stack: StackSettings) -> None:
    project = new_project()
    await register_typed(project, stack)
    async with open_launcher(stack) as launcher:
        execution = await launcher.launch(
            project, launch_plan={"name": "wf.typed.lp", "version": "v1"}, inputs={"name": "n"}
        )
        assert execution["inputs"] == {"name": "n", "count": 3, "fixed": "x"}
        direct = await launcher.launch(
            project, workflow={"name": "wf.typed"}, inputs={"name": "n", "count": 1}
        )
        assert direct["inputs"] == {"name": "n", "count": 1, "fixed": "f"}
        assert direct["launch_plan"] is None


async def test_unknown_targets_are_404_and_a_taken_name_409(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project)
    async with open_launcher(stack) as launcher:
        for target in (
            {"launch_plan": {"name": "nope"}},
            {"workflow": {"name": "wf.hello", "version": "v9"}},
            {"task": {"name": "nope"}},
        ):
            response = await launcher.create(project, **target)
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
        both = await launcher.create(
            project, launch_plan={"name": "wf.hello"}, task={"name": "wf.say_hello"}
        )
        assert both.status_code == 400
        await launcher.launch(project, name="mine", launch_plan={"name": "wf.hello"})
        taken = await launcher.create(project, name="mine", launch_plan={"name": "wf.hello"})
        assert taken.status_code == 409
        missing = await launcher.client.get(f"/api/v1/executions/{project}/development/nothere")
        assert missing.status_code == 404


async def test_get_and_list_with_filters_and_pages(stack: StackSettings) -> None:
    project = new_project()
    async with open_registry(stack) as registry:
        await register_one_task(registry, project)
    async with open_launcher(stack) as launcher:
        created = [
            await launcher.launch(
                project, name=f"e{i}", launch_plan={"name": "wf.hello"}, labels={"i": str(i)}
            )
            for i in range(5)
        ]
        one = await launcher.get(created[0])
        assert one["name"] == "e0"
        assert one["labels"] == {"i": "0"}
        assert one["workflow"]["name"] == "wf.hello"
        assert one["url"].endswith(f"/console/projects/{project}/domains/development/executions/e0")
        names: list[str] = []
        token = None
        while True:
            params: dict[str, str | int] = {"project": project, "limit": 2}
            if token:
                params["token"] = token
            page = (await launcher.client.get("/api/v1/executions", params=params)).json()
            names += [item["name"] for item in page["items"]]
            token = page["next_token"]
            if token is None:
                break
        assert names == ["e4", "e3", "e2", "e1", "e0"]
        by_workflow = await launcher.client.get(
            "/api/v1/executions", params={"project": project, "workflow": "other"}
        )
        assert by_workflow.json()["items"] == []
        by_lp = await launcher.client.get(
            "/api/v1/executions",
            params={"project": project, "launch_plan": "wf.hello", "limit": 10},
        )
        assert len(by_lp.json()["items"]) == 5


@pytest.mark.parametrize(
    "token",
    [
        "zzz",
        base64.urlsafe_b64encode(b"e:5").decode(),  # the launcher's former format
        base64.urlsafe_b64encode(b'{"before": "5"}').decode(),
    ],
)
async def test_a_page_token_that_was_not_issued_is_400_naming_it(
    stack: StackSettings, token: str
) -> None:
    async with open_launcher(stack) as launcher:
        bad = await launcher.client.get("/api/v1/executions", params={"token": token})

    assert bad.status_code == 400, bad.text
    error = bad.json()["error"]
    assert error["code"] == "invalid_request"
    assert "page token" in error["message"]
    assert error["details"][0]["field"] == "token"
