"""What the launcher's integration tests share: task functions the stack's workers run,
a topic tail, a worker played by the test, registration, and the API client.

Holds no tests. The tasks registered here have no code bundle: the local
stack's workers run from the repository's root and import them from this
module (``tests.integration.launcher_support``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.identifiers import ResourceType
from shared.literals import INT, STR, LiteralType
from shared.settings import StackSettings
from shared.specs import (
    CodeLocation,
    InputBinding,
    LaunchPlanSpec,
    OutputBinding,
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.auth import auth_headers
from tests.eventually import eventually_async
from tests.integration.registry_support import Registry, launch_plan, task_node, task_spec

REPO = Path(__file__).resolve().parents[2]
CONTRAIL = str(Path(sys.executable).parent / "contrail")


# --- task code the workers run --------------------------------------------------------

TASK_MODULE = "tests.integration.launcher_support"
# The phases an execution ends in.
TERMINAL = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")


def say_hello(name: str) -> str:
    print(f"saying hello to {name}")
    return f"hello {name}"


def length(greeting: str) -> int:
    return len(greeting)


def flaky(name: str) -> str:
    """Fails the first time it sees ``name`` (on this machine), then succeeds."""
    marker = Path(tempfile.gettempdir()) / f"contrail-flaky-{name}"
    if not marker.exists():
        marker.touch()
        raise ValueError(f"first try for {name}")
    return f"ok {name}"


def flaky_length(greeting: str) -> int:
    """Fails the first time it sees ``greeting``, then returns its length."""
    flaky(greeting.replace(" ", "_"))
    return len(greeting)


def always_fails(name: str) -> str:
    raise ValueError(f"no luck for {name}")


def nap(name: str) -> str:
    """Sleeps as many tenths of a second as ``name`` says after its dash (``x-30``: 3 s)."""
    time.sleep(int(name.rsplit("-", 1)[-1]) / 10)
    return f"rested {name}"


class Records(list[dict[str, Any]]):
    """JSON records of a topic; shown by what they say (``attempt n0#1 RUNNING``) in a failure."""

    def __repr__(self) -> str:
        return repr([_summary(record) for record in self])


def _summary(record: dict[str, Any]) -> Any:
    try:
        return f"{record['data']['execution']['name']} {describe(record)}"
    except (KeyError, TypeError):
        return record


class Tail:
    """Records of one topic from the moment it is opened, those keyed under a project."""

    def __init__(self, stack: StackSettings, topic: str, project: str) -> None:
        self.topic = topic
        self.prefix = f"{project}/".encode()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.kafka_bootstrap, group_id=None, enable_auto_commit=False
        )
        self.buffer: list[tuple[bytes, bytes]] = []

    async def start(self) -> None:
        await self.consumer.start()
        partitions = self.consumer.partitions_for_topic(self.topic)
        if partitions is None:
            await self.consumer._client.force_metadata_update()
            partitions = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def _fill(self, timeout_ms: int) -> None:
        batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        for messages in batch.values():
            for m in messages:
                if m.key is not None and m.key.startswith(self.prefix) and m.value:
                    self.buffer.append((m.key, m.value))

    def _bodies(self) -> Records:
        return Records(json.loads(value) for _, value in self.buffer)

    async def take(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        """The first (JSON) record that matches, removed from the buffer."""

        async def records() -> list[dict[str, Any]]:
            if not any(match(body) for body in self._bodies()):
                await self._fill(200)
            return self._bodies()

        bodies = await eventually_async(
            records,
            lambda bodies: any(match(body) for body in bodies),
            timeout=timeout,
            interval=0,
            what=f"a matching record on {self.topic}",
        )
        index = next(i for i, body in enumerate(bodies) if match(body))
        del self.buffer[index]
        return bodies[index]

    async def drain(
        self, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """The buffer and what arrives until ``until(records)`` holds; the buffer is then empty."""

        async def records() -> list[dict[str, Any]]:
            await self._fill(100)
            return self._bodies()

        bodies = await eventually_async(
            records, until, timeout=timeout, interval=0, what=f"the awaited records on {self.topic}"
        )
        self.buffer.clear()
        return bodies


@asynccontextmanager
async def tail(stack: StackSettings, topic: str, project: str) -> AsyncIterator[Tail]:
    t = Tail(stack, topic, project)
    await t.start()
    try:
        yield t
    finally:
        await t.stop()


# --- registering small workflows ------------------------------------------------------


def code_task(
    function: str,
    name: str | None = None,
    inputs: dict[str, LiteralType] | None = None,
    outputs: dict[str, LiteralType] | None = None,
    **fields: Any,
) -> TaskSpec:
    """A task running ``function`` of this module (``wf.<function>`` unless ``name``)."""
    spec = task_spec(
        name or f"wf.{function}",
        {"name": STR} if inputs is None else inputs,
        {"o0": STR} if outputs is None else outputs,
    )
    code = CodeLocation(module=TASK_MODULE, function=function)
    return spec.model_copy(update={"code": code, "image": None, **fields})


def hello_task(
    name: str = "wf.say_hello",
    *,
    function: str = "say_hello",
    retries: int = 0,
    cache: bool = False,
) -> TaskSpec:
    return code_task(function, name, retries=retries, cache=cache, cache_version="1")


def one_task_workflow(
    name: str, task: str, inputs: dict[str, LiteralType] | None = None
) -> WorkflowSpec:
    """``name(name: str = "world") -> str``: one task node ``n0``."""
    return WorkflowSpec(
        name=name,
        interface=TypedInterface(
            inputs={"name": Parameter(type=STR, default="world", required=False)},
            outputs={"o0": Variable(type=STR)},
        ),
        nodes=[task_node("n0", task, {"name": InputBinding(input="name")})],
        outputs={"o0": OutputBinding(node="n0", output="o0")},
    )


def two_task_workflow(name: str, hello: str, length: str) -> WorkflowSpec:
    """``name(name: str, times: int) -> int``: hello(name) then length(greeting)."""
    return WorkflowSpec(
        name=name,
        interface=TypedInterface(
            inputs={
                "name": Parameter(type=STR),
                "times": Parameter(type=INT, default=1, required=False),
            },
            outputs={"o0": Variable(type=INT)},
        ),
        nodes=[
            task_node("n0", hello, {"name": InputBinding(input="name")}),
            task_node("n1", length, {"greeting": OutputBinding(node="n0", output="o0")}),
        ],
        outputs={"o0": OutputBinding(node="n1", output="o0")},
    )


async def register_one_task(
    registry: Registry,
    project: str,
    version: str = "v1",
    *,
    function: str = "say_hello",
    retries: int = 0,
    cache: bool = False,
    lp: LaunchPlanSpec | None = None,
) -> None:
    """Task ``wf.say_hello`` (running ``function``), workflow ``wf.hello``, its launch plan."""
    task = hello_task(function=function, retries=retries, cache=cache)
    await registry.ok(ResourceType.TASK, project, version, task)
    await registry.ok(
        ResourceType.WORKFLOW, project, version, one_task_workflow("wf.hello", "wf.say_hello")
    )
    await registry.ok(
        ResourceType.LAUNCH_PLAN, project, version, lp or launch_plan("wf.hello", "wf.hello")
    )


async def register_two_tasks(
    registry: Registry, project: str, version: str = "v1", second: str = "length"
) -> None:
    """Tasks ``wf.say_hello`` and ``wf.length`` (running ``second``), workflow ``wf.greet``."""
    await registry.ok(ResourceType.TASK, project, version, hello_task())
    length_task = code_task(second, "wf.length", {"greeting": STR}, {"o0": INT})
    await registry.ok(ResourceType.TASK, project, version, length_task)
    workflow = two_task_workflow("wf.greet", "wf.say_hello", "wf.length")
    await registry.ok(ResourceType.WORKFLOW, project, version, workflow)
    await registry.ok(
        ResourceType.LAUNCH_PLAN, project, version, launch_plan("wf.greet", "wf.greet")
    )


# --- the launcher API -------------------------------------------------------------------


class Launcher:
    """The launcher API through the gateway."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create(self, project: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            "/api/v1/executions", json={"project": project, "domain": "development", **body}
        )

    async def launch(self, project: str, **body: Any) -> dict[str, Any]:
        response = await self.create(project, **body)
        assert response.status_code == 201, response.text
        execution: dict[str, Any] = response.json()["execution"]
        return execution

    async def get(self, execution: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/executions/{execution['execution_id']}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def nodes(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/v1/executions/{execution['execution_id']}/nodes")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def wait(
        self, execution: dict[str, Any], phases: tuple[str, ...], timeout: float = 20.0
    ) -> dict[str, Any]:
        return await eventually_async(
            lambda: self.get(execution),
            lambda current: current["phase"] in phases,
            timeout=timeout,
            what=f"{execution['execution_id']} in {phases}",
        )


@asynccontextmanager
async def open_launcher(stack: StackSettings) -> AsyncIterator[Launcher]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers()
    ) as client:
        yield Launcher(client)


def execution_events(records: list[dict[str, Any]], execution_id: str) -> list[dict[str, Any]]:
    """The events of one execution, by seq."""
    mine = [
        r
        for r in records
        if "/".join(r["data"]["execution"][k] for k in ("project", "domain", "name"))
        == execution_id
    ]
    return sorted(mine, key=lambda r: int(r["data"]["seq"]))


def describe(event: dict[str, Any]) -> str:
    """``execution QUEUED``, ``node n0 RUNNING``, ``attempt n0#1 SUCCEEDED``."""
    data = event["data"]
    if event["type"] == "contrail.execution.phase_changed":
        return f"execution {data['phase']}"
    if event["type"] == "contrail.node.phase_changed":
        return f"node {data['node_id']} {data['phase']}"
    return f"attempt {data['node_id']}#{data['attempt']} {data['phase']}"


def execution_ended(execution_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    """A condition for ``Tail.drain``: the records hold the execution's terminal phase."""

    def has_ended(records: list[dict[str, Any]]) -> bool:
        return any(
            event["type"] == "contrail.execution.phase_changed"
            and event["data"]["phase"] in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
            for event in execution_events(records, execution_id)
        )

    return has_ended


def restart_launcher() -> None:
    """Kill the launcher process of the local stack and bring it back."""
    status = subprocess.run(
        [CONTRAIL, "demo", "status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in status.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["launcher"] and len(parts) > 1 and parts[1].isdigit():
            subprocess.run(["kill", parts[1]], check=False)
            break
    subprocess.run(
        [CONTRAIL, "demo", "up"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=180,
    )
