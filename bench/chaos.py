"""Chaos run: a steady mixed load while components of the local stack are SIGKILLed.

Launches one-task, chain and map executions at a steady rate (some failing by
design), with a notifier subscription sending every failure to a webhook
receiver this process starts on 127.0.0.1 and a launch plan emailing the
failures of one workflow to Mailpit. Every ``--fault-interval`` to
``--fault-interval`` + 5 seconds it SIGKILLs one component chosen by
``random.Random(seed)`` and brings it back as ``contrail demo up`` does. After
the load, once the stack is healthy and the executions have settled, it checks
that nothing was lost:

- every launched execution ended in its expected phase (SUCCEEDED, or FAILED by design);
- every ``seq`` of every execution is on ``contrail.executions`` once deduplicated by
  event id (two records with one id must be identical), ending in that phase;
- no record about the run's executions reached a dead-letter topic;
- no task code ran more often than the engine recorded attempts for it (the tasks
  leave a mark per run: ``tests/integration/chaos_tasks.py``), and no attempt has
  two RUNNING events;
- every expected alert is delivered once: one webhook per failed execution, one
  email per failed execution of the emailing launch plan, each at its receiver once;
- the usage totals of the metrics service equal the attempts the launcher reports.

It acts on the stack that ``CONTRAIL_*`` names (``StackSettings``): the shared one by
default, or a second one (``CONTRAIL_HOME`` and every port, see docs/reliability.md).

    .venv/bin/python bench/chaos.py --duration 180 --rate 20 --seed 1
    .venv/bin/python bench/chaos.py --duration 60 --faults 3 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from contrail.demo.stack import Stack
from shared.events.topics import EXECUTIONS
from shared.identifiers import ResourceType
from shared.literals import STR
from shared.phases import ExecutionPhase
from shared.settings import StackSettings
from shared.specs import (
    ChannelKind,
    CodeLocation,
    InputBinding,
    Notification,
    OutputBinding,
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
)
from tests.integration import chaos_tasks
from tests.integration.launcher_support import Launcher
from tests.integration.notifier_support import Receiver
from tests.integration.registry_support import Registry, launch_plan, task_node, task_spec
from tests.integration.resilience_support import restore, wait_gone
from tests.integration.test_postgres_outage import DeadLetters
from tests.integration.usage_support import Expected, Usage, expected_from_api, map_workflow
from tests.mailpit import Mailpit

COMPONENTS = ("launcher", "worker", "registry", "notifier", "metrics", "kafka", "postgres", "minio")
DOMAIN = "development"
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}
EXECUTION_PHASE = "contrail.execution.phase_changed"
ATTEMPT_PHASE = "contrail.task_attempt.phase_changed"
LAUNCH_GIVE_UP_SECONDS = 120.0


@dataclass(frozen=True)
class Kind:
    """One workflow of the mix: its launch plan, share of launches and expected phase."""

    name: str
    weight: int
    phase: str
    emails: bool = False

    def inputs(self, run: str, execution: str) -> dict[str, Any]:
        if self.name == "map":
            return {"names": [f"{run}.{execution}.{i}" for i in range(3)]}
        return {"name": f"{run}.{execution}"}


KINDS = {
    k.name: k
    for k in (
        Kind("one", 35, "SUCCEEDED"),
        Kind("chain", 25, "SUCCEEDED"),
        Kind("map", 20, "SUCCEEDED"),
        Kind("fail", 10, "FAILED", emails=True),
        Kind("chainfail", 10, "FAILED"),
    )
}


def kind_of(execution: str) -> Kind:
    return KINDS[execution.split("-", 1)[0]]


# --- what the run registers ------------------------------------------------------------------


def _task(function: str) -> TaskSpec:
    spec = task_spec(f"chaos.{function}")
    code = CodeLocation(module=chaos_tasks.__name__, function=function)
    return spec.model_copy(update={"code": code, "image": None})


def _chain(name: str, tasks: Sequence[str]) -> WorkflowSpec:
    nodes = [task_node("n0", tasks[0], {"name": InputBinding(input="name")})]
    nodes += [
        task_node(f"n{i}", task, {"name": OutputBinding(node=f"n{i - 1}", output="o0")})
        for i, task in enumerate(tasks[1:], start=1)
    ]
    return WorkflowSpec(
        name=name,
        interface=TypedInterface(
            inputs={"name": Parameter(type=STR)}, outputs={"o0": Variable(type=STR)}
        ),
        nodes=nodes,
        outputs={"o0": OutputBinding(node=f"n{len(tasks) - 1}", output="o0")},
    )


async def register(registry: Registry, project: str, email: str) -> None:
    for function in ("step", "fail"):
        await registry.ok(ResourceType.TASK, project, "v1", _task(function))
    workflows = {
        "one": _chain("chaos.one", ["chaos.step"]),
        "chain": _chain("chaos.chain", ["chaos.step"] * 3),
        "map": map_workflow("chaos.map", "chaos.step"),
        "fail": _chain("chaos.fail", ["chaos.fail"]),
        "chainfail": _chain("chaos.chainfail", ["chaos.step", "chaos.fail"]),
    }
    for kind, workflow in workflows.items():
        await registry.ok(ResourceType.WORKFLOW, project, "v1", workflow)
        notifications = []
        if KINDS[kind].emails:
            notifications = [
                Notification(
                    phases=[ExecutionPhase.FAILED], channel=ChannelKind.EMAIL, recipients=[email]
                )
            ]
        plan = launch_plan(kind, workflow.name, notifications=notifications)
        await registry.ok(ResourceType.LAUNCH_PLAN, project, "v1", plan)


def auth_headers() -> dict[str, str]:
    """The stack's credential (``tests.auth``) once the stack has one; none before."""
    try:
        module = importlib.import_module("tests.auth")
    except ImportError:
        return {}
    return dict(module.auth_headers())


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Load:
    """Launches at a steady rate; each launch is retried (same name) until 201 or 409."""

    client: httpx.AsyncClient
    project: str
    run: str
    rate: float
    rng: random.Random
    launched: dict[str, float] = field(default_factory=dict)
    """Execution name -> when it was launched (seconds since the start)."""
    given_up: list[str] = field(default_factory=list)
    retried: int = 0

    def new_name(self) -> str:
        kind = self.rng.choices(list(KINDS), weights=[k.weight for k in KINDS.values()])[0]
        return f"{kind}-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:16]}"

    async def launch(self, name: str, began: float, slots: asyncio.Semaphore) -> None:
        kind = kind_of(name)
        body = {
            "project": self.project,
            "domain": DOMAIN,
            "name": name,
            "launch_plan": {"name": kind.name, "version": "v1"},
            "inputs": kind.inputs(self.run, name),
        }
        deadline = time.monotonic() + LAUNCH_GIVE_UP_SECONDS
        try:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    response = await self.client.post("/api/v1/executions", json=body)
                    if response.status_code in (201, 409):  # 409: an earlier try got through
                        self.launched[name] = time.monotonic() - began
                        return
                if time.monotonic() > deadline:
                    self.given_up.append(name)
                    return
                self.retried += 1
                await asyncio.sleep(0.5)
        finally:
            slots.release()

    async def run_for(self, seconds: float, began: float, max_in_flight: int = 48) -> float:
        """Launch for ``seconds``; the seconds it took to hand out every launch."""
        tasks: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(max_in_flight)
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < seconds:
            due = start + i / self.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await slots.acquire()  # the stack is not keeping up: launch slower
            task = asyncio.create_task(self.launch(self.new_name(), began, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.gather(*tasks)
        return time.monotonic() - start


# --- the faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    component: str
    at: float
    """Seconds since the start."""
    gone_after: float
    """Seconds from the kill until its process was gone and its ports free."""
    back_after: float
    """Seconds from the kill until ``contrail demo up`` had the whole stack healthy again."""
    when: datetime
    """The kill, on the wall clock (to compare with the services' timestamps)."""


async def restore_until_healthy(timeout: float = 600.0) -> None:
    """``contrail demo up`` until every component is healthy (another session's ``up``
    may hold the lock, a restarted component may need a second try)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            began = time.monotonic()
            await restore()
            took = time.monotonic() - began
            if await asyncio.to_thread(Stack().is_healthy):
                return
            print(f"  demo up ({took:.1f} s) left the stack unhealthy; again", file=sys.stderr)
        except Exception as error:
            if time.monotonic() > deadline:
                raise
            print(f"  demo up failed ({error}); again", file=sys.stderr)
        if time.monotonic() > deadline:
            raise TimeoutError("the stack is not healthy after the faults")
        await asyncio.sleep(2)


async def inject(component: str, began: float, console: Console) -> Fault:
    """SIGKILL ``component``, wait until it is gone, and bring the stack back."""
    at, when = time.monotonic(), datetime.now(UTC)
    console.log(f"SIGKILL {component}")
    pid = Stack().component(component).pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await wait_gone(component, timeout=90)
    gone = time.monotonic() - at
    await restore_until_healthy()
    fault = Fault(component, at - began, gone, time.monotonic() - at, when)
    console.log(
        f"{component} gone after {gone:.1f} s, stack healthy after {fault.back_after:.1f} s"
    )
    return fault


async def faults(
    rng: random.Random,
    components: Sequence[str],
    count: int,
    interval: float,
    seconds: float,
    began: float,
    console: Console,
) -> list[Fault]:
    """Up to ``count`` faults while the load runs, ``interval`` to ``interval`` + 5 s apart.

    Kills keep to their schedule: one may come while ``contrail demo up`` is still
    bringing back the component killed before it (it then restarts both).
    """
    injected: list[asyncio.Task[Fault]] = []
    # Every component once, in an order of the seed's, before any twice.
    order: list[str] = []
    at = began + interval + rng.uniform(0, 5)
    while len(injected) < count and at < began + seconds:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if not order:
            order = rng.sample(list(components), len(components))
        injected.append(asyncio.create_task(inject(order.pop(0), began, console)))
        at += interval + rng.uniform(0, 5)
    return list(await asyncio.gather(*injected))


# --- what the services say --------------------------------------------------------------------


async def get_json(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    """GET through the gateway, waiting out a service that is still coming back."""
    for _ in range(120):
        with contextlib.suppress(httpx.TransportError):
            response = await client.get(url, params=params)
            if response.status_code == 200:
                return response.json()
            if response.status_code < 500:
                response.raise_for_status()
        await asyncio.sleep(1)
    raise TimeoutError(f"GET {url} kept failing")


async def list_executions(client: httpx.AsyncClient, project: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"project": project, "limit": 500}
        if token:
            params["token"] = token
        page = await get_json(client, "/api/v1/executions", **params)
        found.update({item["name"]: item for item in page["items"]})
        token = page.get("next_token")
        if not token:
            return found


async def settled(
    client: httpx.AsyncClient, project: str, names: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """The run's executions once every launched one has ended, or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        current = await list_executions(client, project)
        open_ = [n for n in names if current.get(n, {}).get("phase") not in TERMINAL]
        if not open_ or time.monotonic() > deadline:
            return current
        await asyncio.sleep(2)


async def deliveries(client: httpx.AsyncClient, rule: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"rule": rule, "limit": 500}
        if token:
            params["token"] = token
        page = await get_json(client, "/api/v1/deliveries", **params)
        found.extend(page["items"])
        token = page.get("next_token")
        if not token:
            return found


# --- reading contrail.executions --------------------------------------------------------------


class Stream:
    """``contrail.executions`` from the end offsets it had when opened (no group)."""

    def __init__(self, stack: StackSettings, prefix: str) -> None:
        self.stack = stack
        self.prefix = prefix.encode()
        self.start: dict[TopicPartition, int] = {}
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.read = 0

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(EXECUTIONS) or set()
        return [TopicPartition(EXECUTIONS, p) for p in sorted(partitions)]

    async def open(self) -> None:
        consumer = self._consumer()
        await consumer.start()
        try:
            self.start = await consumer.end_offsets(await self._partitions(consumer))
        finally:
            await consumer.stop()

    async def read_until(self, complete: Any, timeout: float) -> None:
        """Read from the start offsets to the end, again and again, until ``complete(records)``
        or the deadline (events still in an outbox arrive meanwhile)."""
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = await self._partitions(consumer)
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.start.get(tp, 0))
            deadline = time.monotonic() + timeout
            while True:
                end = await consumer.end_offsets(tps)
                while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                    for messages in (await consumer.getmany(timeout_ms=500)).values():
                        for m in messages:
                            self.read += 1
                            if m.key and m.key.startswith(self.prefix) and m.value:
                                self.records[m.key.decode()].append(json.loads(m.value))
                if complete(self.records) or time.monotonic() > deadline:
                    return
                await asyncio.sleep(1)
        finally:
            await consumer.stop()


def check_events(
    records: list[dict[str, Any]], phase: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The execution's events deduplicated by id and in seq order; what is wrong, if anything."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in records:
        first = by_id.setdefault(event["id"], event)
        if first != event:
            return [], f"two different events share the id {event['id']}"
    events = sorted(by_id.values(), key=lambda e: int(e["data"]["seq"]))
    seqs = [int(e["data"]["seq"]) for e in events]
    if seqs != list(range(len(events))):
        missing = sorted(set(range(max(seqs, default=-1) + 1)) - set(seqs))
        doubled = [s for s, n in Counter(seqs).items() if n > 1]
        return events, f"seqs missing {missing[:10]} doubled {doubled[:10]} of {len(seqs)}"
    last = events[-1] if events else None
    if last is None or last["type"] != EXECUTION_PHASE or last["data"]["phase"] != phase:
        shown = f"{last['type']} {last['data'].get('phase')}" if last else "nothing"
        return events, f"the last event is {shown}, not execution {phase}"
    return events, None


def events_complete(names: set[str], project: str) -> Any:
    def complete(records: dict[str, list[dict[str, Any]]]) -> bool:
        for name in names:
            found = records.get(f"{project}/{DOMAIN}/{name}") or []
            if not any(
                e["type"] == EXECUTION_PHASE and e["data"]["phase"] in TERMINAL for e in found
            ):
                return False
        return True

    return complete


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Result:
    seed: int
    duration: float
    rate: float
    faults: list[Fault] = field(default_factory=list)
    launched: int = 0
    given_up: int = 0
    launch_retries: int = 0
    achieved_rate: float = 0.0
    settle_seconds: float = 0.0
    checked: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    events: int = 0
    duplicates: int = 0
    attempts: int = 0
    lost_worker_retries: int = 0
    runs: int = 0
    accounted: int = 0
    accounted_counts: dict[str, Any] = field(default_factory=dict)
    expected_counts: dict[str, Any] = field(default_factory=dict)
    alerts_expected: int = 0
    alerts_delivered: int = 0
    alerts_duplicated: int = 0
    alerts_resent_after_kill: int = 0
    dead_letters: int = 0
    lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost


async def run(
    *,
    duration: float = 180.0,
    rate: float = 20.0,
    seed: int = 1,
    faults_max: int = 100,
    fault_interval: float = 15.0,
    components: Sequence[str] = COMPONENTS,
    settle_timeout: float = 300.0,
    console: Console | None = None,
) -> Result:
    """One chaos run on the stack ``StackSettings`` names; the stack is healthy afterwards."""
    console = console or Console(stderr=True)
    stack = StackSettings()
    rng = random.Random(seed)
    run_id = f"r{uuid.uuid4().hex[:10]}"
    project = f"chaos-{run_id}"
    email = f"{run_id}@example.com"
    result = Result(seed=seed, duration=duration, rate=rate)
    await restore_until_healthy()
    receiver = Receiver()
    headers = auth_headers()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=15, headers=headers, limits=limits
    ) as client:
        try:
            await register(Registry(client), project, email)
            response = await client.post(
                "/api/v1/subscriptions",
                json={
                    "project": project,
                    "phases": ["FAILED"],
                    "channels": [{"kind": "webhook", "target": f"{receiver.url}/{run_id}"}],
                },
            )
            assert response.status_code == 201, response.text
            subscription = response.json()["id"]
            stream = Stream(stack, f"{project}/")
            await stream.open()
            dead_letters = DeadLetters(stack)
            await dead_letters.open()
            console.log(
                f"run {run_id}: project {project}, seed {seed}, {rate:g}/s for {duration:g} s"
            )

            began = time.monotonic()
            load = Load(client, project, run_id, rate, random.Random(seed + 1))
            injected = asyncio.create_task(
                faults(rng, components, faults_max, fault_interval, duration, began, console)
            )
            try:
                launching = await load.run_for(duration, began)
            finally:
                result.faults = await injected
            result.launched = len(load.launched)
            result.given_up = len(load.given_up)
            result.launch_retries = load.retried
            result.achieved_rate = result.launched / launching
            console.log(
                f"load done: {result.launched} launched ({result.achieved_rate:.1f}/s), "
                f"{result.given_up} given up, {len(result.faults)} faults"
            )

            await restore_until_healthy()
            settle_began = time.monotonic()
            names = set(load.launched)
            executions = await settled(client, project, names, settle_timeout)
            result.settle_seconds = time.monotonic() - settle_began
            console.log(f"settled after {result.settle_seconds:.1f} s")
            await check_run(
                result, client, stack, project, run_id, email, subscription, receiver,
                stream, dead_letters, names, executions, settle_timeout,
            )  # fmt: skip
        finally:
            receiver.close()
            await restore_until_healthy()
            with contextlib.suppress(FileNotFoundError):
                chaos_tasks.marks_file(run_id).unlink()
    return result


async def check_run(
    result: Result,
    client: httpx.AsyncClient,
    stack: StackSettings,
    project: str,
    run_id: str,
    email: str,
    subscription: str,
    receiver: Receiver,
    stream: Stream,
    dead_letters: DeadLetters,
    names: set[str],
    executions: dict[str, dict[str, Any]],
    timeout: float,
) -> None:
    lost = result.lost
    # Launches whose answer was lost but which exist (the project is the run's own) too.
    names = names | set(executions)
    result.checked = len(names)

    # 1. Every execution ended in its expected phase.
    for name in sorted(names):
        execution = executions.get(name)
        phase = execution["phase"] if execution else "missing"
        result.phases[phase] += 1
        if phase != kind_of(name).phase:
            lost.append(f"{name}: {phase}, expected {kind_of(name).phase}")

    # 2. Every seq on contrail.executions, none missing after dedup by id.
    await stream.read_until(events_complete(names, project), timeout=min(timeout, 120))
    events: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(names):
        records = stream.records.get(f"{project}/{DOMAIN}/{name}", [])
        checked, wrong = check_events(records, kind_of(name).phase)
        events[name] = checked
        result.events += len(checked)
        result.duplicates += len(records) - len(checked)
        if wrong:
            lost.append(f"{name}: events: {wrong}")
    for line in await dead_letters.since_open(f"{project}/".encode()):
        result.dead_letters += 1
        lost.append(f"dead-lettered: {line}")

    # 3. No attempt ran twice except those recorded as retried after a lost worker.
    nodes: dict[str, list[dict[str, Any]]] = {}
    sem = asyncio.Semaphore(8)

    async def fetch(name: str) -> None:
        async with sem:
            page = await get_json(client, f"/api/v1/executions/{project}/{DOMAIN}/{name}/nodes")
            nodes[name] = page["items"]

    await asyncio.gather(*(fetch(n) for n in names if n in executions))
    marks = Counter(
        chaos_tasks.execution_of(line)
        for line in chaos_tasks.marks_file(run_id).read_text().splitlines()
        if line
    )
    result.runs = sum(marks.values())
    for name, items in nodes.items():
        attempts = [a for node in items for a in node["attempts"]]
        started = [a for a in attempts if a["phase"] != "QUEUED"]
        result.attempts += len(started)
        result.lost_worker_retries += sum(
            (a.get("error") or {}).get("code") == "WorkerLost" for a in attempts
        )
        if marks[name] > len(started):
            lost.append(f"{name}: task code ran {marks[name]} times for {len(started)} attempts")
        running = Counter(
            (e["data"]["node_id"], e["data"].get("map_index"), e["data"]["attempt"])
            for e in events.get(name, [])
            if e["type"] == ATTEMPT_PHASE and e["data"]["phase"] == "RUNNING"
        )
        twice = [key for key, n in running.items() if n > 1]
        if twice:
            lost.append(f"{name}: attempts RUNNING twice: {twice}")

    # 4. Every expected alert delivered once, at its receiver once.
    failed = {n for n in names if executions.get(n, {}).get("phase") == "FAILED"}
    emailed = {n for n in failed if kind_of(n).emails}
    rules = {subscription: failed, f"lp:{project}/{DOMAIN}/fail@v1#0": emailed}
    result.alerts_expected = len(failed) + len(emailed)
    deadline = time.monotonic() + timeout
    while True:
        found = {rule: await deliveries(client, rule) for rule in rules}
        sent = sum(d["status"] == "sent" for items in found.values() for d in items)
        if sent >= result.alerts_expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    for rule, wanted in rules.items():
        by_execution = Counter(d["execution"].rsplit("/", 1)[-1] for d in found[rule])
        for name in sorted(wanted):
            if by_execution[name] != 1:
                lost.append(f"{name}: {by_execution[name]} deliveries of rule {rule}")
        for name in sorted(set(by_execution) - wanted):
            lost.append(f"{name}: an alert of rule {rule} it should not have")
        for d in found[rule]:
            if d["status"] != "sent":
                lost.append(f"delivery {d['id']} ({d['channel']}) is {d['status']}")
    deliveries_found = found[subscription] + found[f"lp:{project}/{DOMAIN}/fail@v1#0"]
    webhook_ids = [d["id"] for d in found[subscription]]
    email_ids = [d["id"] for d in found[f"lp:{project}/{DOMAIN}/fail@v1#0"]]
    keys = Counter(r.headers.get("idempotency-key") for r in receiver.requests)
    with Mailpit(stack.mailpit_url) as inbox:
        emails = await asyncio.to_thread(inbox.search, f"to:{email}", 10_000)
    message_ids = Counter(e.message_id for e in emails)
    arrived = [keys[i] for i in webhook_ids] + [message_ids[f"{i}@contrail"] for i in email_ids]
    result.alerts_delivered = sum(n >= 1 for n in arrived)
    result.alerts_duplicated = sum(n > 1 for n in arrived)
    notifier_killed = [f.when for f in result.faults if f.component == "notifier"]
    for delivery, n in zip(deliveries_found, arrived, strict=True):
        if n > 1 and unrecorded_when_killed(delivery, notifier_killed):
            # Sent by a notifier killed before it could record the send: what the
            # Idempotency-Key and the Message-ID are for. Not sent twice within what was recorded.
            result.alerts_resent_after_kill += 1
        elif n != 1:
            lost.append(f"delivery {delivery['id']} ({delivery['channel']}) arrived {n} times")

    # 5. Usage totals equal the attempts the launcher reports.
    ended = [executions[n] for n in names if n in executions]
    expected = await expected_from_api(_Known(client, nodes), project, ended)
    result.expected_counts = {k: getattr(expected, k) for k in Expected.COUNTS}
    usage = Usage(client)
    row: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError, AssertionError):
            row = await usage.totals(project)
        counts = {k: row[k] for k in Expected.COUNTS} if row else {}
        if counts == result.expected_counts or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    result.accounted_counts = counts
    result.accounted = int(counts.get("attempts", 0))
    if counts != result.expected_counts:
        lost.append(f"usage {counts} != launcher {result.expected_counts}")


def unrecorded_when_killed(delivery: dict[str, Any], notifier_killed: list[datetime]) -> bool:
    """Whether a notifier was killed between the delivery's making and its recorded send."""
    made = datetime.fromisoformat(delivery["created_at"])
    sent = datetime.fromisoformat(delivery["sent_at"] or delivery["updated_at"])
    return any(made <= killed <= sent for killed in notifier_killed)


class _Known(Launcher):
    """The launcher API, with the nodes already read."""

    def __init__(self, client: httpx.AsyncClient, nodes: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(client)
        self.known = nodes

    async def nodes(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        return self.known[execution["name"]]


# --- the report -------------------------------------------------------------------------------


def table(result: Result) -> Table:
    out = Table(title=f"chaos run, seed {result.seed}", show_header=True)
    out.add_column("measure")
    out.add_column("value")
    faults = ", ".join(
        f"{f.component} @{f.at:.0f}s (back {f.back_after:.0f}s)" for f in result.faults
    )
    out.add_row("faults injected", f"{len(result.faults)}: {faults or 'none'}")
    out.add_row(
        "load",
        f"{result.launched} launched in {result.duration:g} s: {result.achieved_rate:.1f}/s "
        f"(asked {result.rate:g}/s); {result.launch_retries} launch retries, "
        f"{result.given_up} given up",
    )
    out.add_row("settled after the load", f"{result.settle_seconds:.1f} s")
    phases = ", ".join(f"{p} {n}" for p, n in sorted(result.phases.items()))
    out.add_row("executions checked", f"{result.checked} ({phases})")
    out.add_row(
        "events checked",
        f"{result.events} (+{result.duplicates} redelivered records), "
        f"{result.dead_letters} dead-lettered",
    )
    out.add_row(
        "attempts",
        f"{result.attempts} recorded, {result.runs} runs of task code, "
        f"{result.lost_worker_retries} retried after a lost worker",
    )
    out.add_row(
        "alerts",
        f"{result.alerts_expected} expected, {result.alerts_delivered} delivered, "
        f"{result.alerts_duplicated} duplicated ({result.alerts_resent_after_kill} of them "
        "sent by a notifier killed before it recorded the send)",
    )
    out.add_row("attempts vs accounted", f"{result.attempts} vs {result.accounted}")
    if result.lost:
        shown = "\n".join(result.lost[:30])
        more = f"\n... and {len(result.lost) - 30} more" if len(result.lost) > 30 else ""
        out.add_row("lost", f"[red]{len(result.lost)}:\n{shown}{more}[/red]")
    else:
        out.add_row("lost", "[green]0[/green]")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=20.0, help="executions launched a second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", type=int, default=100, help="most faults injected")
    parser.add_argument(
        "--fault-interval", type=float, default=15.0, help="seconds between faults (+0..5)"
    )
    parser.add_argument(
        "--components", default=",".join(COMPONENTS), help="comma-separated, to choose from"
    )
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(
            duration=args.duration,
            rate=args.rate,
            seed=args.seed,
            faults_max=args.faults,
            fault_interval=args.fault_interval,
            components=[c for c in args.components.split(",") if c],
            settle_timeout=args.settle_timeout,
        )
    )
    Console().print(table(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
