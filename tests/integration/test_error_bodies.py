"""The one error model on the real stack: every service answers one error body.

``{"error": {code, message, details}}``: the registry, the launcher, the
notifier and the metrics service all get the same handler from
``shared.service``; each error carries its own status. (The interface's
inputs come back from the registry by name, so problems are in that order.)
"""

from __future__ import annotations

import httpx
import pytest

from shared.identifiers import ResourceType
from shared.literals import INT, STR, ListType
from shared.settings import StackSettings
from shared.specs import InputBinding, Parameter, TypedInterface, WorkflowSpec
from tests.auth import auth_headers
from tests.integration.launcher_support import code_task, open_launcher
from tests.integration.registry_support import (
    launch_plan,
    new_project,
    open_registry,
    task_node,
)

pytestmark = pytest.mark.integration


async def _register(project: str, stack: StackSettings) -> None:
    """``wf.errs(xs: list[int], n: int, region: str)``; launch plan ``wf.errs.lp`` fixes region."""
    workflow = WorkflowSpec(
        name="wf.errs",
        interface=TypedInterface(
            inputs={
                "xs": Parameter(type=ListType(item=INT)),
                "n": Parameter(type=INT),
                "region": Parameter(type=STR, default="eu", required=False),
            },
            outputs={},
        ),
        nodes=[task_node("n0", "wf.say_hello", {"name": InputBinding(input="region")})],
    )
    async with open_registry(stack) as registry:
        await registry.ok(
            ResourceType.TASK, project, "v1", code_task("say_hello", "wf.say_hello", outputs={})
        )
        await registry.ok(ResourceType.WORKFLOW, project, "v1", workflow)
        plan = launch_plan("wf.errs.lp", "wf.errs", fixed_inputs={"region": "eu"})
        await registry.ok(ResourceType.LAUNCH_PLAN, project, "v1", plan)


async def test_the_registry_answers_each_error_with_its_status_and_the_one_body(
    stack: StackSettings,
) -> None:
    project = new_project()
    broken = WorkflowSpec(
        name="wf.broken",
        interface=TypedInterface(inputs={"name": Parameter(type=STR)}, outputs={}),
        nodes=[task_node("n0", "wf.nowhere", {"name": InputBinding(input="nope")})],
    )
    async with open_registry(stack) as registry:
        missing = await registry.get(ResourceType.TASK, project, "wf.none", "v1")
        rejected = await registry.register(ResourceType.WORKFLOW, project, "v1", broken)
        media = await registry.client.post(
            "/api/v1/tasks", content=b"name: x", headers={"content-type": "text/plain"}
        )

    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "code": "not_found",
            "message": f"task urn:contrail:task:{project}:development:wf.none:v1 is not registered",
        }
    }
    assert rejected.status_code == 400, rejected.text
    error = rejected.json()["error"]
    assert error["code"] == "compile_error"
    assert error["details"], error
    assert all(set(d) == {"code", "node", "input", "message"} for d in error["details"])
    assert media.status_code == 415
    assert media.json()["error"]["code"] == "unsupported_media_type"


async def test_the_launcher_lists_every_bad_input_in_one_400(stack: StackSettings) -> None:
    project = new_project()
    await _register(project, stack)
    async with open_launcher(stack) as launcher:
        response = await launcher.create(
            project,
            launch_plan={"name": "wf.errs.lp", "version": "v1"},
            inputs={"xs": [1, "two", 3, "four"], "colour": "red", "region": "us"},
        )

    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": {
            "code": "invalid_inputs",
            "message": "the inputs of wf.errs.lp are invalid (5 problems)",
            "details": [
                {
                    "input": "colour",
                    "code": "unknown_input",
                    "message": "unknown input 'colour' (inputs: n, xs)",
                },
                {
                    "input": "region",
                    "code": "fixed_input",
                    "message": "'region' is fixed by the launch plan",
                },
                {"input": "n", "code": "missing_input", "message": "missing required input 'n'"},
                {
                    "input": "xs",
                    "code": "type_mismatch",
                    "message": "[1]: expected int, got str 'two'",
                },
                {
                    "input": "xs",
                    "code": "type_mismatch",
                    "message": "[3]: expected int, got str 'four'",
                },
            ],
        }
    }


async def test_the_launcher_answers_each_error_with_its_status(stack: StackSettings) -> None:
    project = new_project()
    await _register(project, stack)
    async with open_launcher(stack) as launcher:
        client = launcher.client
        target = {"launch_plan": {"name": "wf.errs.lp", "version": "v1"}}
        good = {"xs": [1], "n": 2}
        created = await launcher.launch(project, name="taken", inputs=good, **target)
        taken = await launcher.create(project, name="taken", inputs=good, **target)
        bad_name = await launcher.create(project, name="Not Valid", inputs=good, **target)
        no_target = await launcher.create(
            project, launch_plan={"name": "wf.none", "version": "v1"}, inputs=good
        )
        no_execution = await client.get(f"/api/v1/executions/{project}/development/nope")
        no_relaunch = await client.post(f"/api/v1/executions/{project}/development/nope/relaunch")
        no_attempt = await client.get(
            f"/api/v1/executions/{created['execution_id']}/nodes/n9/attempts/1/logs"
        )
        bad_token = await client.get("/api/v1/executions", params={"token": "zzz"})

    def answer(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]["code"]

    assert answer(taken) == (409, "conflict")
    assert answer(bad_name) == (400, "invalid_request")
    assert bad_name.json()["error"]["details"][0]["field"] == "execution_name"
    assert answer(no_target) == (404, "not_found")
    assert answer(no_execution) == (404, "not_found")
    assert answer(no_relaunch) == (404, "not_found")
    assert no_relaunch.json()["error"]["message"] == f"no execution {project}/development/nope"
    assert answer(no_attempt) == (404, "not_found")
    assert answer(bad_token) == (400, "invalid_request")
    assert bad_token.json()["error"]["details"][0]["field"] == "token"


@pytest.mark.parametrize("service", ["registry", "launcher", "notifier", "metrics"])
async def test_every_service_answers_an_unknown_route_with_the_one_body(
    stack: StackSettings, service: str
) -> None:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers()
    ) as client:
        response = await client.get(f"/api/v1/{service}/api/v1/no/such/route")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}
