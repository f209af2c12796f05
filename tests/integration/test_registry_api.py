"""The registry API through the gateway, into the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from shared.events.topics import REGISTRY
from shared.identifiers import DEFAULT_DOMAINS, ResourceType
from shared.literals import INT, STR
from shared.settings import StackSettings
from shared.specs import (
    EntityRef,
    InputBinding,
    Node,
    NodeKind,
    OutputBinding,
    Parameter,
    Schedule,
    TypedInterface,
    Variable,
    WorkflowSpec,
    canonical_json,
)
from tests.auth import auth_headers
from tests.integration.conftest import Consume, Record
from tests.integration.registry_support import (
    Registry,
    body,
    greeting_workflow,
    launch_plan,
    new_project,
    open_db,
    open_registry,
    outbox_events,
    stored_rows,
    task_node,
    task_spec,
)

pytestmark = pytest.mark.integration

TASK = ResourceType.TASK
WORKFLOW = ResourceType.WORKFLOW
LAUNCH_PLAN = ResourceType.LAUNCH_PLAN
SAY_HELLO = "workflows.example.say_hello"
LENGTH = "workflows.example.greeting_length"


@pytest.fixture
async def registry(stack: StackSettings) -> AsyncIterator[Registry]:
    async with open_registry(stack) as registry:
        yield registry


@pytest.fixture
async def db(stack: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    async with open_db(stack) as conn:
        yield conn


async def register_greeting(registry: Registry, project: str, version: str = "v1") -> None:
    await registry.ok(TASK, project, version, task_spec(SAY_HELLO))
    await registry.ok(TASK, project, version, task_spec(LENGTH, {"greeting": STR}, {"o0": INT}))
    await registry.ok(
        WORKFLOW, project, version, greeting_workflow("workflows.example.wf", SAY_HELLO, LENGTH)
    )


# --- projects ---------------------------------------------------------------------


async def test_a_project_is_created_once_and_refused_when_it_differs(registry: Registry) -> None:
    name = new_project()
    project = {"name": name, "description": "greetings", "domains": ["development", "production"]}

    created = await registry.client.post("/api/v1/projects", json=project)
    again = await registry.client.post("/api/v1/projects", json=project)
    different = await registry.client.post(
        "/api/v1/projects", json={**project, "domains": ["development"]}
    )
    got = await registry.client.get(f"/api/v1/projects/{name}")
    listed = await registry.client.get("/api/v1/projects", params={"limit": 500})

    assert created.status_code == 201, created.text
    assert created.json()["domains"] == ["development", "production"]
    assert again.status_code == 200
    assert again.json() == created.json()
    assert different.status_code == 409
    error = different.json()["error"]
    assert error["code"] == "conflict"
    assert any(detail["path"].startswith("domains") for detail in error["details"]), error
    assert got.status_code == 200
    assert got.json() == created.json()
    assert name in [item["name"] for item in listed.json()["items"]]


async def test_an_unknown_project_is_404(registry: Registry) -> None:
    response = await registry.client.get(f"/api/v1/projects/{new_project()}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_registering_into_a_missing_project_creates_it_with_its_event(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()

    await registry.ok(TASK, project, "v1", task_spec(SAY_HELLO))

    got = await registry.client.get(f"/api/v1/projects/{project}")
    assert got.status_code == 200
    assert got.json()["domains"] == list(DEFAULT_DOMAINS)
    types = [event["type"] for event in await outbox_events(db, project)]
    assert types == ["contrail.project.created", "contrail.task.registered"]


async def test_a_domain_the_project_lacks_is_refused(registry: Registry) -> None:
    project = new_project()
    await registry.client.post("/api/v1/projects", json={"name": project, "domains": ["dev"]})

    response = await registry.register(TASK, project, "v1", task_spec(SAY_HELLO), domain="prod")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_identifier"
    assert "prod" in error["message"]


# --- tasks ------------------------------------------------------------------------


async def test_a_task_is_registered_and_read_back_with_its_digest(registry: Registry) -> None:
    project = new_project()
    spec = task_spec(SAY_HELLO)

    response = await registry.register(TASK, project, "v1", spec)
    got = await registry.get(TASK, project, SAY_HELLO, "v1")

    assert response.status_code == 201, response.text
    digest = hashlib.sha256(canonical_json(spec)).hexdigest()
    assert response.json() == {
        "identifier": {
            "resource_type": "task",
            "project": project,
            "domain": "development",
            "name": SAY_HELLO,
            "version": "v1",
        },
        "digest": digest,
        "created": True,
    }
    assert response.headers["location"] == f"/api/v1/tasks/{project}/development/{SAY_HELLO}/v1"
    assert got.status_code == 200
    entity = got.json()
    assert entity["identifier"] == response.json()["identifier"]
    assert entity["digest"] == digest
    assert entity["spec"] == spec.model_dump(mode="json")
    assert entity["created_at"]


async def test_a_get_by_identifier_is_immutable_and_revalidates_with_304(
    registry: Registry,
) -> None:
    project = new_project()
    created = await registry.ok(TASK, project, "v1", task_spec(SAY_HELLO))

    got = await registry.get(TASK, project, SAY_HELLO, "v1")
    etag = got.headers["etag"]
    not_modified = await registry.get(
        TASK, project, SAY_HELLO, "v1", headers={"If-None-Match": etag}
    )
    other_tag = await registry.get(
        TASK, project, SAY_HELLO, "v1", headers={"If-None-Match": '"something-else"'}
    )

    assert etag == f'"{created["digest"]}"'
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert other_tag.status_code == 200


async def test_an_unregistered_identifier_is_404(registry: Registry) -> None:
    response = await registry.get(TASK, new_project(), SAY_HELLO, "v1")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_the_identical_spec_again_is_200_and_writes_nothing(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    await registry.ok(TASK, project, "v1", task_spec(SAY_HELLO))
    before = await outbox_events(db, project)

    again = await registry.register(TASK, project, "v1", task_spec(SAY_HELLO))

    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert await outbox_events(db, project) == before
    assert (await stored_rows(db, project))["tasks"] == 1


async def test_a_different_spec_under_the_same_identifier_is_409_naming_what_differs(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    await registry.ok(TASK, project, "v1", task_spec(SAY_HELLO))

    response = await registry.register(
        TASK, project, "v1", task_spec(SAY_HELLO, description="changed")
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert {"path": "description", "registered": "", "submitted": "changed"} in [
        {key: detail.get(key) for key in ("path", "registered", "submitted")}
        for detail in error["details"]
    ], error
    assert (await stored_rows(db, project))["tasks"] == 1


async def test_a_yaml_body_registers_like_json(registry: Registry) -> None:
    project = new_project()
    spec = task_spec(SAY_HELLO)
    document = yaml.safe_dump(body(project, SAY_HELLO, "v1", spec))

    response = await registry.client.post(
        "/api/v1/tasks", content=document, headers={"Content-Type": "application/yaml"}
    )
    as_json = await registry.register(TASK, project, "v1", spec)

    assert response.status_code == 201, response.text
    assert as_json.status_code == 200
    assert as_json.json()["digest"] == response.json()["digest"]


async def test_concurrent_registrations_of_one_identifier_create_it_once(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    spec = task_spec(SAY_HELLO)

    responses = await asyncio.gather(
        *(registry.register(TASK, project, "v1", spec) for _ in range(8))
    )

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    types = [event["type"] for event in await outbox_events(db, project)]
    assert types == ["contrail.project.created", "contrail.task.registered"]


# --- lists ------------------------------------------------------------------------


async def test_lists_filter_and_page_newest_first(registry: Registry) -> None:
    project = new_project()
    for version in ("v1", "v2", "v3", "v4", "v5"):
        await registry.ok(TASK, project, version, task_spec(SAY_HELLO))
    await registry.ok(TASK, project, "v1", task_spec(LENGTH))
    await registry.ok(TASK, project, "v1", task_spec(SAY_HELLO), domain="staging")

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {
            "project": project,
            "domain": "development",
            "name": SAY_HELLO,
            "limit": 2,
        }
        if token:
            params["token"] = token
        page = (await registry.client.get("/api/v1/tasks", params=params)).json()
        pages += 1
        seen += [item["identifier"]["version"] for item in page["items"]]
        assert all("spec" not in item for item in page["items"])
        token = page["next_token"]
        if token is None:
            break

    by_version = await registry.client.get(
        "/api/v1/tasks", params={"project": project, "version": "v1", "include_spec": "true"}
    )
    everything = await registry.client.get("/api/v1/tasks", params={"project": project})

    assert seen == ["v5", "v4", "v3", "v2", "v1"]
    assert pages == 3
    items = by_version.json()["items"]
    assert [(i["identifier"]["domain"], i["identifier"]["name"]) for i in items] == [
        ("staging", SAY_HELLO),
        ("development", LENGTH),
        ("development", SAY_HELLO),
    ]
    assert items[0]["spec"]["name"] == SAY_HELLO
    assert len(everything.json()["items"]) == 7


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/launch_plans", "/api/v1/projects"])
@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        base64.urlsafe_b64encode(b"e:5").decode(),  # the launcher's former format
        base64.urlsafe_b64encode(b'{"before": -1}').decode(),
    ],
)
async def test_a_page_token_that_was_not_issued_is_400(
    registry: Registry, path: str, token: str
) -> None:
    response = await registry.client.get(path, params={"token": token})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "page token" in error["message"]
    assert error["details"][0]["field"] == "token"


# --- workflows ----------------------------------------------------------------------


async def test_a_workflow_is_compiled_into_a_closure_of_its_tasks(registry: Registry) -> None:
    project = new_project()
    await register_greeting(registry, project)

    got = await registry.get(WORKFLOW, project, "workflows.example.wf", "v1")

    assert got.status_code == 200, got.text
    workflow = got.json()
    closure = workflow["closure"]
    assert closure["primary"]["identifier"]["name"] == "workflows.example.wf"
    assert closure["primary"]["order"] == ["n0", "n1"]
    assert closure["primary"]["upstream"]["n1"] == ["n0"]
    assert {task["identifier"]["name"] for task in closure["tasks"]} == {SAY_HELLO, LENGTH}
    assert got.headers["etag"] == f'"{workflow["digest"]}"'


async def test_a_sub_workflow_is_carried_in_the_closure(registry: Registry) -> None:
    project = new_project()
    await register_greeting(registry, project)
    outer = WorkflowSpec(
        name="workflows.example.outer",
        interface=TypedInterface(
            inputs={"who": Parameter(type=STR)}, outputs={"length": Variable(type=INT)}
        ),
        nodes=[
            Node(
                id="inner",
                kind=NodeKind.WORKFLOW,
                workflow=EntityRef(resource_type=WORKFLOW, name="workflows.example.wf"),
                inputs={"name": InputBinding(input="who")},
            )
        ],
        outputs={"length": OutputBinding(node="inner", output="o0")},
    )

    await registry.ok(WORKFLOW, project, "v1", outer)
    closure = (await registry.get(WORKFLOW, project, "workflows.example.outer", "v1")).json()[
        "closure"
    ]

    assert [w["identifier"]["name"] for w in closure["sub_workflows"]] == ["workflows.example.wf"]
    assert {t["identifier"]["name"] for t in closure["tasks"]} == {SAY_HELLO, LENGTH}


async def test_compile_errors_are_400_naming_node_and_input_and_store_nothing(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    await registry.ok(TASK, project, "v1", task_spec(SAY_HELLO))
    events_before = await outbox_events(db, project)
    broken = WorkflowSpec(
        name="workflows.broken",
        interface=TypedInterface(inputs={"count": Parameter(type=INT)}),
        nodes=[
            # an int bound to a str input
            task_node("n0", SAY_HELLO, {"name": InputBinding(input="count")}),
            # a task that is not registered
            task_node("n1", "workflows.missing", {}),
        ],
    )

    response = await registry.register(WORKFLOW, project, "v1", broken)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "compile_error"
    found = {(d["code"], d["node"], d["input"]) for d in error["details"]}
    assert ("type_mismatch", "n0", "name") in found, error
    assert any(code == "unknown_reference" and node == "n1" for code, node, _ in found), error
    assert all(set(d) == {"code", "node", "input", "message"} for d in error["details"])
    assert (await stored_rows(db, project))["workflows"] == 0
    assert await outbox_events(db, project) == events_before


async def test_a_cycle_is_a_compile_error(registry: Registry) -> None:
    project = new_project()
    await registry.ok(TASK, project, "v1", task_spec(LENGTH, {"greeting": STR}, {"o0": STR}))
    cyclic = WorkflowSpec(
        name="workflows.cyclic",
        interface=TypedInterface(),
        nodes=[
            task_node("a", LENGTH, {"greeting": OutputBinding(node="b", output="o0")}),
            task_node("b", LENGTH, {"greeting": OutputBinding(node="a", output="o0")}),
        ],
    )

    response = await registry.register(WORKFLOW, project, "v1", cyclic)

    assert response.status_code == 400
    assert "cycle" in {d["code"] for d in response.json()["error"]["details"]}


# --- launch plans ---------------------------------------------------------------------


async def test_a_launch_plan_needs_its_workflow_registered(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()

    response = await registry.register(
        LAUNCH_PLAN, project, "v1", launch_plan("nightly", "workflows.example.wf")
    )

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "workflows.example.wf" in error["message"]
    assert await stored_rows(db, project) == {
        "tasks": 0,
        "workflows": 0,
        "launch_plans": 0,
        "projects": 0,
    }


async def test_launch_plan_inputs_and_schedule_are_checked_against_the_workflow(
    registry: Registry,
) -> None:
    project = new_project()
    await register_greeting(registry, project)
    wrong = launch_plan(
        "nightly",
        "workflows.example.wf",
        fixed_inputs={"name": 3, "nope": "x"},
        schedule=Schedule(cron="not a cron"),
    )

    response = await registry.register(LAUNCH_PLAN, project, "v1", wrong)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "compile_error"
    inputs = {d["input"] for d in error["details"]}
    assert {"name", "nope"} <= inputs, error
    assert "invalid_schedule" in {d["code"] for d in error["details"]}


async def test_launch_plans_activate_one_version_at_a_time(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    await register_greeting(registry, project)
    plan = launch_plan("nightly", "workflows.example.wf", "v1", schedule=Schedule(cron="0 3 * * *"))
    for version in ("v1", "v2"):
        await registry.ok(LAUNCH_PLAN, project, version, plan)
    base = f"/api/v1/launch_plans/{project}/development/nightly"

    registered = await registry.get(LAUNCH_PLAN, project, "nightly", "v1")
    first = await registry.client.post(f"{base}/v1/activate")
    again = await registry.client.post(f"{base}/v1/activate")
    second = await registry.client.post(f"{base}/v2/activate")
    v1 = await registry.get(LAUNCH_PLAN, project, "nightly", "v1")
    active = await registry.client.get(
        "/api/v1/launch_plans", params={"project": project, "state": "ACTIVE"}
    )
    off = await registry.client.post(f"{base}/v2/deactivate")
    missing = await registry.client.post(f"{base}/v9/activate")

    assert registered.json()["state"] == "INACTIVE"
    assert registered.headers["cache-control"] == "no-cache"
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "ACTIVE"
    assert again.json()["state"] == "ACTIVE"
    assert second.json()["state"] == "ACTIVE"
    assert v1.json()["state"] == "INACTIVE"
    assert [i["identifier"]["version"] for i in active.json()["items"]] == ["v2"]
    assert off.json()["state"] == "INACTIVE"
    assert missing.status_code == 404
    changes = [
        (e["data"]["identifier"]["version"], e["data"]["state"])
        for e in await outbox_events(db, project)
        if e["type"] == "contrail.launch_plan.state_changed"
    ]
    assert changes == [
        ("v1", "ACTIVE"),
        ("v1", "INACTIVE"),
        ("v2", "ACTIVE"),
        ("v2", "INACTIVE"),
    ]


async def test_a_launch_plan_etag_follows_its_state(registry: Registry) -> None:
    project = new_project()
    await register_greeting(registry, project)
    await registry.ok(LAUNCH_PLAN, project, "v1", launch_plan("lp", "workflows.example.wf"))
    inactive = await registry.get(LAUNCH_PLAN, project, "lp", "v1")
    await registry.client.post(f"/api/v1/launch_plans/{project}/development/lp/v1/activate")

    stale = await registry.get(
        LAUNCH_PLAN, project, "lp", "v1", headers={"If-None-Match": inactive.headers["etag"]}
    )

    assert stale.status_code == 200
    assert stale.json()["state"] == "ACTIVE"
    assert stale.headers["etag"] != inactive.headers["etag"]


# --- events on Kafka -----------------------------------------------------------------


def _ours(project: str) -> Any:
    def matches(record: Record) -> bool:
        event = json.loads(record.value)
        data = event.get("data", {})
        return bool(
            data.get("project") == project or data.get("identifier", {}).get("project") == project
        )

    return matches


async def test_registry_events_reach_kafka_keyed_by_name(
    registry: Registry, consume: Consume
) -> None:
    project = new_project()
    await register_greeting(registry, project)
    await registry.ok(LAUNCH_PLAN, project, "v1", launch_plan("lp", "workflows.example.wf"))
    await registry.client.post(f"/api/v1/launch_plans/{project}/development/lp/v1/activate")
    identical = await registry.register(TASK, project, "v1", task_spec(SAY_HELLO))
    ours = _ours(project)

    records = await consume(
        REGISTRY, until=lambda rs: sum(1 for r in rs if ours(r)) >= 6, timeout=30
    )

    assert identical.status_code == 200  # and so no event
    mine = [r for r in records if ours(r)]
    events = [json.loads(r.value) for r in mine]
    # Kafka keeps order per key (one partition each), not across keys.
    assert sorted((e["type"], r.key) for e, r in zip(events, mine, strict=True)) == sorted(
        [
            ("contrail.project.created", project.encode()),
            ("contrail.task.registered", SAY_HELLO.encode()),
            ("contrail.task.registered", LENGTH.encode()),
            ("contrail.workflow.registered", b"workflows.example.wf"),
            ("contrail.launch_plan.registered", b"lp"),
            ("contrail.launch_plan.state_changed", b"lp"),
        ]
    )
    assert [e["type"] for e, r in zip(events, mine, strict=True) if r.key == b"lp"] == [
        "contrail.launch_plan.registered",
        "contrail.launch_plan.state_changed",
    ]
    for record, event in zip(mine, events, strict=True):
        assert record.headers["content-type"] == b"application/cloudevents+json"
        assert event["specversion"] == "1.0"
        assert event["source"] == "/contrail/registry"
        assert event["id"]
        assert event["time"]
    by_type = {e["type"]: e for e in events}
    task_event = next(
        e
        for e in events
        if e["type"] == "contrail.task.registered" and e["data"]["identifier"]["name"] == SAY_HELLO
    )
    identifier = task_event["data"]["identifier"]
    assert task_event["subject"] == (f"urn:contrail:task:{project}:development:{SAY_HELLO}:v1")
    assert identifier["version"] == "v1"
    assert len(task_event["data"]["digest"]) == 64
    assert by_type["contrail.project.created"]["data"]["domains"] == list(DEFAULT_DOMAINS)
    assert by_type["contrail.project.created"]["subject"] == f"urn:contrail:project:{project}"
    assert by_type["contrail.launch_plan.state_changed"]["data"]["state"] == "ACTIVE"
    assert len({e["id"] for e in events}) == 6


# --- the OpenAPI document ------------------------------------------------------------


async def test_the_openapi_document_is_served_through_the_gateway(
    stack: StackSettings,
) -> None:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=10, headers=auth_headers()
    ) as client:
        response = await client.get("/api/v1/registry/openapi.json")

    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in (
        "/api/v1/projects",
        "/api/v1/tasks",
        "/api/v1/workflows/{project}/{domain}/{name}/{version}",
        "/api/v1/launch_plans/{project}/{domain}/{name}/{version}/activate",
        "/api/v1/data_proxy/upload",
    ):
        assert path in paths, sorted(paths)
    register = paths["/api/v1/workflows"]["post"]
    assert register["summary"] == "Register a workflow"
    body_schema = register["requestBody"]["content"]["application/yaml"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/WorkflowRegistration"}
    schemas = document["components"]["schemas"]
    assert {"WorkflowRegistration", "WorkflowSpec", "WorkflowClosure"} <= set(schemas)
    for operations in paths.values():
        for operation in operations.values():
            assert operation.get("summary"), operation
