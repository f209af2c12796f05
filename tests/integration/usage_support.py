"""What the usage (metrics) tests share: the known mix of executions, the measures the
launcher's API implies, and the usage API client.

Holds no tests. The tasks run functions of ``launcher_support`` (no code bundle).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.metrics.bootstrap import price_table
from services.metrics.domain.pricing import GB, HOUR
from shared.events.catalogue import Resources, ResourceSpec
from shared.identifiers import ResourceType
from shared.literals import STR, ListType
from shared.settings import MetricsSettings, StackSettings
from shared.specs import (
    EntityRef,
    InputBinding,
    MapSpec,
    Node,
    NodeKind,
    OutputBinding,
    Parameter,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.auth import auth_headers
from tests.eventually import eventually_async
from tests.integration.launcher_support import Launcher, code_task, one_task_workflow
from tests.integration.registry_support import Registry, launch_plan

MIB = 2**20
TERMINAL = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
REQUESTS = Resources(
    requests=ResourceSpec(cpu=0.5, memory_bytes=256 * MIB),
    limits=ResourceSpec(cpu=1, memory_bytes=512 * MIB),
)
OOM_LIMITS = Resources(
    requests=ResourceSpec(cpu=0.25, memory_bytes=8 * MIB),
    limits=ResourceSpec(memory_bytes=8 * MIB),
)
"""Less than any Python process needs: the attempt is killed for memory."""


# --- the known mix -------------------------------------------------------------------------


def map_workflow(name: str, task: str) -> WorkflowSpec:
    """``name(names: list[str]) -> list[str]``: ``task`` mapped over ``names``."""
    return WorkflowSpec(
        name=name,
        interface=TypedInterface(
            inputs={"names": Parameter(type=ListType(item=STR))},
            outputs={"o0": Variable(type=ListType(item=STR))},
        ),
        nodes=[
            Node(
                id="m0",
                kind=NodeKind.MAP,
                map=MapSpec(task=EntityRef(resource_type=ResourceType.TASK, name=task)),
                inputs={"name": InputBinding(input="names")},
            )
        ],
        outputs={"o0": OutputBinding(node="m0", output="o0")},
    )


async def register_mix(registry: Registry, project: str) -> None:
    """wf.ok (cached), wf.retry (fails once), wf.fail, wf.oom, wf.map; a launch plan each."""
    tasks = [
        code_task("say_hello", "t.ok", resources=REQUESTS, cache=True, cache_version="1"),
        code_task("flaky", "t.retry", resources=REQUESTS, retries=1),
        code_task("always_fails", "t.fail", resources=REQUESTS),
        code_task("say_hello", "t.oom", resources=OOM_LIMITS),
        code_task("say_hello", "t.item", resources=REQUESTS),
    ]
    for spec in tasks:
        await registry.ok(ResourceType.TASK, project, "v1", spec)
    for workflow, task in [
        ("wf.ok", "t.ok"),
        ("wf.retry", "t.retry"),
        ("wf.fail", "t.fail"),
        ("wf.oom", "t.oom"),
    ]:
        await registry.ok(ResourceType.WORKFLOW, project, "v1", one_task_workflow(workflow, task))
    await registry.ok(ResourceType.WORKFLOW, project, "v1", map_workflow("wf.map", "t.item"))
    for workflow in ("wf.ok", "wf.retry", "wf.fail", "wf.oom", "wf.map"):
        await registry.ok(ResourceType.LAUNCH_PLAN, project, "v1", launch_plan(workflow, workflow))


async def run_mix(launcher: Launcher, project: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Launch the mix (wf.ok twice with the same input: the second a cache hit); until ended."""
    unique = uuid.uuid4().hex[:8]
    launches = [
        ("wf.ok", {"name": "same"}),
        ("wf.retry", {"name": f"retry-{unique}"}),
        ("wf.fail", {"name": "x"}),
        ("wf.oom", {"name": "x"}),
        ("wf.map", {"names": ["a", "b", "c"]}),
    ]
    executions = []
    for workflow, inputs in launches:
        executions.append(
            await launcher.launch(
                project, launch_plan={"name": workflow}, inputs=inputs, labels=labels
            )
        )
    for execution in executions:
        await launcher.wait(execution, TERMINAL, timeout=90)
    again = await launcher.launch(
        project, launch_plan={"name": "wf.ok"}, inputs={"name": "same"}, labels=labels
    )
    executions.append(await launcher.wait(again, TERMINAL, timeout=90))
    return [await launcher.get(execution) for execution in executions]


# --- what the launcher's API says --------------------------------------------------------------


@dataclass
class Expected:
    """The measures implied by the executions and attempts the launcher's API reports."""

    executions: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    attempts_succeeded: int = 0
    attempts_failed: int = 0
    retries: int = 0
    cache_hits: int = 0
    oom_kills: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cpu_reserved_seconds: float = 0.0
    memory_byte_seconds: float = 0.0
    memory_reserved_byte_seconds: float = 0.0
    cost: float = 0.0
    durations: list[float] = field(default_factory=list)
    by_workflow: dict[str, dict[str, int]] = field(default_factory=dict)

    COUNTS = (
        "executions",
        "succeeded",
        "failed",
        "attempts",
        "attempts_succeeded",
        "attempts_failed",
        "retries",
        "cache_hits",
        "oom_kills",
    )


async def expected_from_api(
    launcher: Launcher, project: str, executions: list[dict[str, Any]]
) -> Expected:
    prices = price_table(MetricsSettings())
    expected = Expected()
    for execution in executions:
        workflow = execution["workflow"]["name"] if execution.get("workflow") else ""
        per = expected.by_workflow.setdefault(workflow, {"executions": 0, "attempts": 0})
        per["executions"] += 1
        expected.executions += 1
        expected.succeeded += execution["phase"] == "SUCCEEDED"
        expected.failed += execution["phase"] in ("FAILED", "TIMED_OUT")
        if execution.get("duration_seconds") is not None:
            expected.durations.append(execution["duration_seconds"])
        for node in await launcher.nodes(execution):
            expected.cache_hits += bool(node["cache_hit"]) and node["phase"] == "SUCCEEDED"
            for attempt in node["attempts"]:
                if attempt["phase"] in ("QUEUED", "RUNNING"):
                    continue
                per["attempts"] += 1
                expected.attempts += 1
                expected.attempts_succeeded += attempt["phase"] == "SUCCEEDED"
                expected.attempts_failed += attempt["phase"] in (
                    "FAILED",
                    "RETRYABLE_FAILED",
                    "TIMED_OUT",
                )
                expected.retries += attempt["attempt"] > 1
                error = attempt.get("error") or {}
                expected.oom_kills += error.get("code") == "OOMKilled"
                used = attempt.get("resources_used") or {}
                wall = used.get("wall_seconds", 0.0)
                cpu = used.get("cpu_seconds", 0.0)
                peak = used.get("peak_memory_bytes", 0)
                requests = (attempt.get("resources_requested") or {}).get("requests") or {}
                expected.wall_seconds += wall
                expected.cpu_seconds += cpu
                cpu_reserved = requests["cpu"] * wall if requests.get("cpu") is not None else cpu
                memory_reserved = (
                    requests["memory_bytes"] * wall
                    if requests.get("memory_bytes") is not None
                    else peak * wall
                )
                expected.cpu_reserved_seconds += cpu_reserved
                expected.memory_byte_seconds += peak * wall
                expected.memory_reserved_byte_seconds += memory_reserved
                price = prices.price(project, execution["domain"])
                expected.cost += (
                    cpu_reserved / HOUR * price.cpu_hour
                    + memory_reserved / GB / HOUR * price.gb_hour
                )
    return expected


# --- the usage API ---------------------------------------------------------------------------


class Usage:
    """The usage API through the gateway."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"/api/v1/usage/{path}", params=params)

    async def summary(self, **params: Any) -> dict[str, Any]:
        response = await self.get("summary", **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def totals(self, project: str) -> dict[str, Any] | None:
        body = await self.summary(project=project, since="1d")
        rows: list[dict[str, Any]] = body["items"]
        return rows[0] if rows else None

    async def wait_totals(
        self, project: str, expected: Expected, timeout: float = 60.0
    ) -> dict[str, Any]:
        """The project's totals once their counts are those expected (fails showing the last)."""
        want = {name: getattr(expected, name) for name in Expected.COUNTS}

        def counts(row: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if row is None else {name: row[name] for name in Expected.COUNTS}

        row = await eventually_async(
            lambda: self.totals(project),
            lambda row: counts(row) == want,
            timeout=timeout,
            interval=0.25,
            retry_on=(httpx.TransportError, AssertionError),
            what=f"usage of {project} = {want}",
        )
        assert row is not None
        return row


def open_usage(stack: StackSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=auth_headers())
