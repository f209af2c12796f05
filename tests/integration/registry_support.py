"""What the registry's integration tests share: spec builders, an API client, database probes.

Holds no tests. Specs are built from ``shared.specs`` directly (not through the
SDK), and every test registers into a project of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from shared.events import topics
from shared.identifiers import ResourceType
from shared.literals import INT, STR, LiteralType
from shared.settings import StackSettings
from shared.specs import (
    CodeLocation,
    EntityRef,
    InputBinding,
    LaunchPlanSpec,
    Node,
    NodeKind,
    OutputBinding,
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.auth import auth_headers

KIND_PATHS = {
    ResourceType.TASK: "tasks",
    ResourceType.WORKFLOW: "workflows",
    ResourceType.LAUNCH_PLAN: "launch_plans",
}


def new_project() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


def task_spec(
    name: str,
    inputs: dict[str, LiteralType] | None = None,
    outputs: dict[str, LiteralType] | None = None,
    description: str = "",
) -> TaskSpec:
    inputs = {"name": STR} if inputs is None else inputs
    outputs = {"o0": STR} if outputs is None else outputs
    return TaskSpec(
        name=name,
        interface=TypedInterface(
            inputs={key: Parameter(type=t) for key, t in inputs.items()},
            outputs={key: Variable(type=t) for key, t in outputs.items()},
        ),
        image="python:3.11-slim",
        code=CodeLocation(module="workflows.example", function=name.rsplit(".", 1)[-1]),
        description=description,
    )


def task_node(node_id: str, task: str, inputs: dict[str, Any]) -> Node:
    return Node(
        id=node_id,
        kind=NodeKind.TASK,
        task=EntityRef(resource_type=ResourceType.TASK, name=task),
        inputs=inputs,
    )


def greeting_workflow(name: str, say_hello: str, length: str) -> WorkflowSpec:
    """``wf(name: str) -> int``: say_hello(name) then greeting_length(greeting)."""
    return WorkflowSpec(
        name=name,
        interface=TypedInterface(
            inputs={"name": Parameter(type=STR, default="union", required=False)},
            outputs={"o0": Variable(type=INT)},
        ),
        nodes=[
            task_node("n0", say_hello, {"name": InputBinding(input="name")}),
            task_node("n1", length, {"greeting": OutputBinding(node="n0", output="o0")}),
        ],
        outputs={"o0": OutputBinding(node="n1", output="o0")},
    )


def launch_plan(
    name: str, workflow: str, workflow_version: str | None = None, **fields: Any
) -> LaunchPlanSpec:
    """A launch plan of ``workflow`` (of the launch plan's own version unless given)."""
    ref = EntityRef(resource_type=ResourceType.WORKFLOW, name=workflow, version=workflow_version)
    return LaunchPlanSpec(name=name, workflow=ref, **fields)


def body(
    project: str, name: str, version: str, spec: Any, domain: str = "development"
) -> dict[str, Any]:
    spec_json = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else spec
    return {
        "identifier": {"project": project, "domain": domain, "name": name, "version": version},
        "spec": spec_json,
    }


class Registry:
    """The registry API through the gateway."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(
        self, kind: ResourceType, project: str, version: str, spec: Any, domain: str = "development"
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/{KIND_PATHS[kind]}",
            json=body(project, spec.name, version, spec, domain),
        )

    async def ok(
        self, kind: ResourceType, project: str, version: str, spec: Any, domain: str = "development"
    ) -> dict[str, Any]:
        response = await self.register(kind, project, version, spec, domain)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def get(
        self,
        kind: ResourceType,
        project: str,
        name: str,
        version: str,
        domain: str = "development",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        path = f"/api/v1/{KIND_PATHS[kind]}/{project}/{domain}/{name}/{version}"
        return await self.client.get(path, headers=headers)


@asynccontextmanager
async def open_registry(stack: StackSettings) -> AsyncIterator[Registry]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers()
    ) as client:
        yield Registry(client)


@asynccontextmanager
async def open_db(stack: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection, to look at what the registry stored (and did not)."""
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def stored_rows(db: asyncpg.Connection, project: str) -> dict[str, int]:
    """How many rows of ``project`` each registry table holds."""
    counts: dict[str, int] = {}
    for table in ("tasks", "workflows", "launch_plans"):
        counts[table] = await db.fetchval(
            f"SELECT count(*) FROM registry.{table} WHERE project = $1", project
        )
    counts["projects"] = await db.fetchval(
        "SELECT count(*) FROM registry.projects WHERE name = $1", project
    )
    return counts


async def outbox_events(db: asyncpg.Connection, project: str) -> list[dict[str, Any]]:
    """The registry's events on ``contrail.registry`` about ``project``, oldest first.

    The audit entries the registry writes to its outbox (``contrail.audit``) are not among them.
    """
    rows = await db.fetch(
        """SELECT value FROM registry.outbox
           WHERE topic = $2
             AND (convert_from(value, 'UTF8')::jsonb -> 'data' -> 'identifier' ->> 'project' = $1
                  OR convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'project' = $1)
           ORDER BY id""",
        project,
        topics.REGISTRY,
    )
    return [json.loads(row["value"]) for row in rows]
