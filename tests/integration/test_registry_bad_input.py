"""The issue's bad input, as it reaches the registry API: clear 4xx, nothing stored in part."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.identifiers import ResourceType
from shared.settings import RegistrySettings, StackSettings
from tests.integration.registry_support import (
    Registry,
    body,
    greeting_workflow,
    new_project,
    open_db,
    open_registry,
    outbox_events,
    stored_rows,
    task_spec,
)

pytestmark = pytest.mark.integration

SAY_HELLO = "workflows.example.say_hello"
NOTHING = {"tasks": 0, "workflows": 0, "launch_plans": 0, "projects": 0}


@pytest.fixture
async def registry(stack: StackSettings) -> AsyncIterator[Registry]:
    async with open_registry(stack) as registry:
        yield registry


@pytest.fixture
async def db(stack: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    async with open_db(stack) as conn:
        yield conn


async def assert_nothing_stored(db: asyncpg.Connection, project: str) -> None:
    assert await stored_rows(db, project) == NOTHING
    assert await outbox_events(db, project) == []


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("project", "Upper-Case"),
        ("project", "-leading-dash"),
        ("domain", "has space"),
        ("domain", ""),
        ("name", "1starts-with-digit"),
        ("name", "slash/in/name"),
        ("version", ".dot-first"),
        ("version", "x" * 129),
    ],
)
async def test_an_invalid_identifier_part_is_named(
    registry: Registry, db: asyncpg.Connection, part: str, value: str
) -> None:
    project = new_project()
    document = body(project, SAY_HELLO, "v1", task_spec(SAY_HELLO))
    document["identifier"][part] = value
    if part == "name":
        document["spec"]["name"] = value

    response = await registry.client.post("/api/v1/tasks", json=document)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_identifier"
    assert error["message"].startswith(part), error
    assert [d["field"] for d in error["details"]] == [f"identifier.{part}"]
    await assert_nothing_stored(db, project)


async def test_an_invalid_identifier_in_a_path_is_named(registry: Registry) -> None:
    response = await registry.client.get("/api/v1/tasks/Bad_Project/development/x/v1")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_identifier"
    assert "project" in response.json()["error"]["message"]


async def test_a_spec_named_otherwise_than_its_identifier_is_refused(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    document = body(project, "workflows.other", "v1", task_spec(SAY_HELLO))

    response = await registry.client.post("/api/v1/tasks", json=document)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "spec.name"
    await assert_nothing_stored(db, project)


async def test_a_spec_field_that_fails_validation_is_named(registry: Registry) -> None:
    document = body(new_project(), SAY_HELLO, "v1", task_spec(SAY_HELLO))
    document["spec"]["retries"] = -1

    response = await registry.client.post("/api/v1/tasks", json=document)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "spec.retries" in [d["field"] for d in error["details"]]


async def test_a_body_over_the_spec_limit_is_413_before_parsing(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    limit = RegistrySettings().max_spec_bytes
    document = body(project, SAY_HELLO, "v1", task_spec(SAY_HELLO, description="x" * limit))

    response = await registry.client.post("/api/v1/tasks", json=document)

    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "too_large"
    await assert_nothing_stored(db, project)


async def test_a_task_spec_too_large_for_a_dispatch_is_413_naming_its_limit(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    limit = RegistrySettings().max_task_spec_bytes
    document = body(project, SAY_HELLO, "v1", task_spec(SAY_HELLO, description="x" * limit))

    response = await registry.client.post("/api/v1/tasks", json=document)

    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert "CONTRAIL_MAX_TASK_SPEC_BYTES" in error["message"]
    assert error["details"][0]["field"] == "spec"
    await assert_nothing_stored(db, project)


async def test_a_streamed_body_over_the_limit_is_413(registry: Registry) -> None:
    limit = RegistrySettings().max_spec_bytes

    async def chunks() -> AsyncIterator[bytes]:
        # Not JSON at all: the size is refused before anything is parsed.
        for _ in range(limit // 65536 + 2):
            yield b"{" * 65536

    response = await registry.client.post(
        "/api/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


async def test_malformed_json_is_named_by_line_and_column(registry: Registry) -> None:
    document = '{\n  "identifier": {"project": "p"},\n  "spec": {"name": "x",, }\n}'

    response = await registry.client.post(
        "/api/v1/tasks", content=document, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "line 3, column 24" in error["message"], error
    assert error["details"][0]["line"] == 3


async def test_malformed_yaml_is_named_by_line_and_column(registry: Registry) -> None:
    document = "identifier:\n  project: p\nspec: [unclosed\n  name: x\n"

    response = await registry.client.post(
        "/api/v1/workflows", content=document, headers={"Content-Type": "application/yaml"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "not valid YAML at line" in error["message"], error
    assert isinstance(error["details"][0]["line"], int)


async def test_a_body_neither_json_nor_yaml_is_415(registry: Registry) -> None:
    response = await registry.client.post(
        "/api/v1/tasks", content=b"name=x", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def _with_input_bound_twice(project: str) -> str:
    """A workflow body whose node n0 gives input ``name`` twice (JSON keeps only the last)."""
    document = body(
        project,
        "workflows.example.wf",
        "v1",
        greeting_workflow("workflows.example.wf", SAY_HELLO, "workflows.example.greeting_length"),
    )
    text = json.dumps(document)
    once = '"inputs": {"name": {"kind": "input", "input": "name"}}'
    assert once in text
    twice = (
        '"inputs": {"name": {"kind": "input", "input": "name"}, '
        '"name": {"kind": "literal", "value": "other"}}'
    )
    return text.replace(once, twice, 1)


async def test_an_input_bound_twice_in_json_is_a_compile_error(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()

    response = await registry.client.post(
        "/api/v1/workflows",
        content=_with_input_bound_twice(project),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "compile_error"
    detail = error["details"][0]
    assert (detail["code"], detail["node"], detail["input"]) == ("twice_bound_input", "n0", "name")
    await assert_nothing_stored(db, project)


async def test_an_input_bound_twice_in_yaml_is_a_compile_error(registry: Registry) -> None:
    project = new_project()
    document = f"""
identifier: {{project: {project}, domain: development, name: wf, version: v1}}
spec:
  name: wf
  interface: {{inputs: {{name: {{type: {{kind: str}}}}}}}}
  nodes:
    - id: n0
      kind: task
      task: {{resource_type: task, name: {SAY_HELLO}}}
      inputs:
        name: {{kind: input, input: name}}
        name: {{kind: literal, value: other}}
"""

    response = await registry.client.post(
        "/api/v1/workflows", content=document, headers={"Content-Type": "application/yaml"}
    )

    assert response.status_code == 400, response.text
    detail = response.json()["error"]["details"][0]
    assert (detail["code"], detail["node"], detail["input"]) == ("twice_bound_input", "n0", "name")


async def test_a_failed_workflow_registration_leaves_no_row_and_no_event(
    registry: Registry, db: asyncpg.Connection
) -> None:
    project = new_project()
    # Nothing is registered in the project, so both references are unknown.
    spec = greeting_workflow("workflows.example.wf", SAY_HELLO, "workflows.example.greeting_length")

    response = await registry.register(ResourceType.WORKFLOW, project, "v1", spec)

    assert response.status_code == 400
    assert "unknown_reference" in {d["code"] for d in response.json()["error"]["details"]}
    await assert_nothing_stored(db, project)


async def test_yaml_aliases_are_refused(registry: Registry) -> None:
    document = (
        "identifier: &id {project: p, domain: development, name: x, version: v1}\nspec: *id\n"
    )

    response = await registry.client.post(
        "/api/v1/tasks", content=document, headers={"Content-Type": "application/yaml"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert "aliases" in error["message"]
    assert error["details"][0]["line"] == 2
