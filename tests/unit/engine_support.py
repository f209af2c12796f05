"""Builders and an in-memory driver shared by the engine's tests (no tests of its own).

``Driver`` plays the adapters and the workers around ``decide``: it keeps the
state, collects commands, answers cache look-ups from a dict, and lets a test
either send signals one by one or run every dispatched attempt with the Python
function of its task (``run_all``). Every decision is checked on the way: the
events it emits carry the next seqs, and delivering the same signal again
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.launcher.domain import (
    Abort,
    AttemptAborted,
    AttemptStarted,
    AttemptSucceeded,
    CacheResult,
    Command,
    Decision,
    Dispatch,
    Emit,
    ExecutionState,
    LookupCache,
    MachineSettings,
    NodeState,
    Signal,
    Start,
    StoreCache,
    Terminate,
    create_execution,
    decide,
)
from services.registry.domain.compiler import compile_workflow
from shared.events.catalogue import (
    ExecutionPhaseChanged,
    NodePhaseChanged,
    TaskAttemptPhaseChanged,
    Trigger,
)
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.literals import INT, STR, ListType, LiteralType
from shared.phases import ExecutionPhase, TaskAttemptPhase
from shared.specs import (
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowClosure,
    WorkflowSpec,
)

C = TypeVar("C")

PROJECT, DOMAIN, VERSION = "demo", "development", "v1"
EXECUTION = ExecutionIdentifier(project=PROJECT, domain=DOMAIN, name="x1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ident(kind: ResourceType, name: str) -> Identifier:
    return Identifier(
        resource_type=kind, project=PROJECT, domain=DOMAIN, name=name, version=VERSION
    )


def task(
    name: str,
    inputs: dict[str, LiteralType | Parameter],
    outputs: dict[str, LiteralType],
    **settings: Any,
) -> TaskSpec:
    return TaskSpec(
        name=name,
        interface=TypedInterface(
            inputs={
                k: v if isinstance(v, Parameter) else Parameter(type=v) for k, v in inputs.items()
            },
            outputs={k: Variable(type=v) for k, v in outputs.items()},
        ),
        **settings,
    )


TASKS: dict[str, TaskSpec] = {
    "inc": task("inc", {"x": INT}, {"o": INT}),
    "add": task("add", {"a": INT, "b": Parameter(type=INT, default=0)}, {"o": INT}),
    "total": task("total", {"xs": ListType(item=INT)}, {"o": INT}),
    "say": task("say", {"name": STR}, {"greeting": STR}),
    "noop": task("noop", {}, {}),
}

FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "inc": lambda x: {"o": x + 1},
    "add": lambda a, b: {"o": a + b},
    "total": lambda xs: {"o": sum(xs)},
    "say": lambda name: {"greeting": f"hello {name}"},
    "noop": lambda: {},
}


# --- specs, as the SDK sends them ----------------------------------------------------------


def inp(name: str) -> dict[str, Any]:
    return {"kind": "input", "input": name}


def out(node: str, output: str = "o") -> dict[str, Any]:
    return {"kind": "output", "node": node, "output": output}


def lit(value: Any) -> dict[str, Any]:
    return {"kind": "literal", "value": value}


def call(node_id: str, name: str, /, **inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": "task",
        "task": {"resource_type": "task", "name": name},
        "inputs": inputs,
    }


def compare(left: dict[str, Any], op: str, right: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "comparison", "left": left, "op": op, "right": right}


def closure(
    nodes: list[dict[str, Any]],
    *,
    inputs: dict[str, LiteralType | Parameter] | None = None,
    outputs: dict[str, tuple[LiteralType, dict[str, Any]]] | None = None,
    tasks: dict[str, TaskSpec] | None = None,
    sub_workflows: dict[str, WorkflowClosure] | None = None,
    name: str = "wf",
    failure_policy: str = "fail_immediately",
) -> WorkflowClosure:
    """Compile a workflow of ``nodes`` (JSON, as the SDK sends it) with the registry's compiler."""
    spec = WorkflowSpec.model_validate(
        {
            "name": name,
            "interface": TypedInterface(
                inputs={
                    k: v if isinstance(v, Parameter) else Parameter(type=v)
                    for k, v in (inputs or {}).items()
                },
                outputs={k: Variable(type=t) for k, (t, _) in (outputs or {}).items()},
            ).model_dump(mode="json"),
            "nodes": nodes,
            "outputs": {k: b for k, (_, b) in (outputs or {}).items()},
            "failure_policy": failure_policy,
        }
    )
    every_task = {**TASKS, **(tasks or {})}
    return compile_workflow(
        ident(ResourceType.WORKFLOW, name),
        spec,
        {ident(ResourceType.TASK, k): v for k, v in every_task.items()},
        {ident(ResourceType.WORKFLOW, k): v for k, v in (sub_workflows or {}).items()},
    )


# --- the driver ----------------------------------------------------------------------------------


def describe(event: Any) -> str:
    """A compact spelling of an event: ``exec RUNNING``, ``n0 QUEUED``, ``n0#1 RUNNING``."""
    match event:
        case ExecutionPhaseChanged():
            return f"exec {event.phase.value}"
        case NodePhaseChanged():
            hit = " (cache hit)" if event.cache_hit else ""
            return f"{event.node_id} {event.phase.value}{hit}"
        case TaskAttemptPhaseChanged():
            return f"{event.node_id}#{event.attempt} {event.phase.value}"
    raise AssertionError(event)


class Driver:
    """One execution, driven in memory."""

    def __init__(
        self,
        wf: WorkflowClosure,
        inputs: dict[str, Any] | None = None,
        *,
        settings: MachineSettings | None = None,
        functions: dict[str, Callable[..., dict[str, Any]]] | None = None,
        check_duplicates: bool = True,
        labels: dict[str, str] | None = None,
        trigger: Trigger | None = None,
    ) -> None:
        self.settings = settings or MachineSettings()
        self.functions = {**FUNCTIONS, **(functions or {})}
        self.check_duplicates = check_duplicates
        self.clock = T0
        decision = create_execution(
            EXECUTION, wf, inputs or {}, self.clock, labels=labels, trigger=trigger
        )
        self.state: ExecutionState = decision.state
        self.commands: list[Command] = list(decision.commands)
        self.cache: dict[str, dict[str, Any]] = {}
        self.handled = 0
        self.history: list[tuple[Signal, datetime]] = []

    # -- sending signals --

    def send(self, signal: Signal) -> Decision:
        self.clock += timedelta(seconds=1)
        before = self.state
        decision = decide(before, signal, self.clock, self.settings)
        seqs = [event.seq for event in decision.events]
        assert seqs == list(range(before.next_seq, before.next_seq + len(seqs))), seqs
        assert decision.state.next_seq == before.next_seq + len(seqs)
        if self.check_duplicates:
            again = decide(decision.state, signal, self.clock, self.settings)
            assert again.commands == [], f"{signal!r} delivered twice: {again.commands}"
            assert again.state is decision.state
        self.state = decision.state
        self.commands.extend(decision.commands)
        self.history.append((signal, self.clock))
        return decision

    def start(self, recovered: dict[str, dict[str, Any]] | None = None) -> Decision:
        return self.send(Start(recovered=recovered or {}))

    # -- what was asked --

    @property
    def events(self) -> list[Any]:
        return [c.event for c in self.commands if isinstance(c, Emit)]

    def trace(self) -> list[str]:
        return [describe(event) for event in self.events]

    def of(self, kind: type[C]) -> list[C]:
        return [c for c in self.commands if isinstance(c, kind)]

    def dispatch_of(self, path: str, attempt: int | None = None) -> Dispatch:
        found = [
            c
            for c in self.of(Dispatch)
            if c.node_path == path and (attempt is None or c.attempt == attempt)
        ]
        assert found, f"no dispatch of {path}"
        return found[-1]

    # -- a worker --

    def run_attempt(
        self, path: str, attempt: int = 1, outputs: dict[str, Any] | None = None
    ) -> None:
        """Start the attempt on ``w1`` and succeed it (with its task's function by default)."""
        self.send(AttemptStarted(node_path=path, attempt=attempt, worker_id="w1"))
        if outputs is None:
            dispatch = self.dispatch_of(path, attempt)
            outputs = self.functions[dispatch.spec.name](**dispatch.inputs)
        self.send(AttemptSucceeded(node_path=path, attempt=attempt, outputs=outputs))

    def run_all(
        self,
        behaviour: Callable[[Dispatch], Iterable[Signal]] | None = None,
        *,
        limit: int = 100_000,
    ) -> None:
        """Carry out every command not handled yet, until there are none.

        Attempts run with their task's function unless ``behaviour`` gives the
        signals a dispatch leads to; cache look-ups are answered from ``cache``;
        terminated attempts are reported aborted.
        """
        steps = 0
        while self.handled < len(self.commands):
            command = self.commands[self.handled]
            self.handled += 1
            steps += 1
            assert steps < limit, "the execution does not converge"
            match command:
                case Dispatch():
                    if not self._still_queued(command.node_path, command.attempt):
                        continue  # the test ran it by hand, or it was terminated
                    if behaviour is not None:
                        for signal in behaviour(command):
                            self.send(signal)
                    else:
                        self.run_attempt(command.node_path, command.attempt)
                case LookupCache():
                    self.send(
                        CacheResult(
                            node_path=command.node_path, outputs=self.cache.get(command.cache_key)
                        )
                    )
                case StoreCache():
                    self.cache[command.cache_key] = command.outputs
                case Terminate():
                    self.send(AttemptAborted(node_path=command.node_path, attempt=command.attempt))
                case _:
                    pass

    def _still_queued(self, path: str, attempt: int) -> bool:
        node = self.state.nodes.get(path)
        return (
            node is not None
            and len(node.attempts) >= attempt
            and node.attempts[attempt - 1].phase is TaskAttemptPhase.QUEUED
        )

    def abort(self, cause: str = "stop it") -> Decision:
        return self.send(Abort(cause=cause))

    def node(self, path: str) -> NodeState:
        return self.state.nodes[path]

    def phase(self) -> ExecutionPhase:
        """The execution's phase now (a call, so that type checkers don't pin it)."""
        return self.state.phase
