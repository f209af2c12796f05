"""Launching executions: from a launch plan, a workflow or a task; relaunch; recover.

The closure comes from the registry (over HTTP), inputs are validated against
its interface with the launch plan's defaults and fixed inputs, and the
execution is stored QUEUED with its first event and started in the same
transaction: its events leave QUEUED (seq 0), RUNNING (seq 1), ... in order,
and the first attempts are dispatched without another hop through Kafka.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.launcher.adapters.executions import ExecutionExists
from services.launcher.adapters.registry import EntityNotFound, RegistryClient
from services.launcher.domain import ExecutionState, Literals, Start, create_execution
from services.launcher.service_layer import audit
from services.launcher.service_layer.engine import Engine, now
from services.launcher.service_layer.errors import (
    ExecutionNotFound,
    InputsTooLarge,
    InvalidInputs,
    LaunchError,
    NameTaken,
    TargetNotFound,
    check_names,
)
from shared.events.catalogue import Trigger, TriggerKind
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.literals import value_errors
from shared.phases import NodePhase
from shared.specs import (
    CompiledTask,
    CompiledWorkflow,
    EntityRef,
    InputBinding,
    Node,
    NodeKind,
    OutputBinding,
    WorkflowClosure,
    WorkflowSpec,
)


@dataclass(frozen=True)
class EntityChoice:
    name: str
    version: str | None = None


@dataclass(frozen=True)
class LaunchRequest:
    project: str
    domain: str
    name: str | None = None
    launch_plan: EntityChoice | None = None
    workflow: EntityChoice | None = None
    task: EntityChoice | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    trigger: Trigger = field(default_factory=Trigger)


@dataclass(frozen=True)
class Target:
    """What runs: the closure, the launch plan (if any) and its input rules."""

    closure: WorkflowClosure
    launch_plan: Identifier | None = None
    default_inputs: Mapping[str, Any] = field(default_factory=dict)
    fixed_inputs: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


_ALPHABET = string.ascii_lowercase + string.digits


def generated_name() -> str:
    """20 lowercase characters, ``[a-z][a-z0-9]{19}``."""
    return secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(_ALPHABET) for _ in range(19)
    )


def task_closure(task: CompiledTask) -> WorkflowClosure:
    """A one-node workflow that runs ``task``: its inputs and outputs are the task's."""
    interface = task.spec.interface
    node = Node(
        id="n0",
        kind=NodeKind.TASK,
        task=EntityRef(
            resource_type=ResourceType.TASK,
            name=task.identifier.name,
            project=task.identifier.project,
            domain=task.identifier.domain,
            version=task.identifier.version,
        ),
        inputs={name: InputBinding(input=name) for name in interface.inputs},
    )
    spec = WorkflowSpec(
        name=task.identifier.name,
        interface=interface,
        nodes=[node],
        outputs={name: OutputBinding(node="n0", output=name) for name in interface.outputs},
    )
    identifier = task.identifier.model_copy(update={"resource_type": ResourceType.WORKFLOW})
    primary = CompiledWorkflow(identifier=identifier, spec=spec, order=["n0"], upstream={"n0": []})
    return WorkflowClosure(primary=primary, tasks=[task])


def resolve_inputs(target: Target, given: Mapping[str, Any]) -> Literals:
    """The execution's inputs: given, else the launch plan's default, else the workflow's.

    Raises ``InvalidInputs`` listing every problem at once, one detail per
    problem naming its input: unknown names, fixed inputs given, missing
    required inputs, values of the wrong type (each wrong part of a value).
    """
    interface = target.closure.primary.spec.interface.inputs
    problems: list[dict[str, Any]] = []

    def problem(name: str, code: str, message: str) -> None:
        problems.append({"input": name, "code": code, "message": message})

    settable = ", ".join(n for n in interface if n not in target.fixed_inputs) or "none"
    for name in given:
        if name not in interface:
            problem(name, "unknown_input", f"unknown input '{name}' (inputs: {settable})")
        elif name in target.fixed_inputs:
            problem(name, "fixed_input", f"'{name}' is fixed by the launch plan")
    values: Literals = {}
    for name, param in interface.items():
        if name in target.fixed_inputs:
            values[name] = target.fixed_inputs[name]
        elif name in given:
            values[name] = given[name]
            for message in value_errors(param.type, given[name]):
                problem(name, "type_mismatch", message)
        elif name in target.default_inputs:
            values[name] = target.default_inputs[name]
        elif param.default is not None or not param.required:
            values[name] = param.default
        else:
            problem(name, "missing_input", f"missing required input '{name}'")
    if problems:
        what = (target.launch_plan or target.closure.primary.identifier).name
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise InvalidInputs(f"the inputs of {what} are invalid ({count})", problems)
    return values


def execution_key(project: str, domain: str, name: str) -> str:
    """The key of execution ``project/domain/name``; ``ExecutionNotFound`` when it names none."""
    try:
        return ExecutionIdentifier(project=project, domain=domain, name=name).key
    except ValueError as exc:
        raise ExecutionNotFound(f"no execution {project}/{domain}/{name}") from exc


class Launcher:
    """Creates executions and starts them."""

    def __init__(
        self,
        engine: Engine,
        registry: RegistryClient,
        *,
        max_inputs_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.max_inputs_bytes = max_inputs_bytes
        self.engine = engine
        self.uow_factory = engine.uow_factory
        self.registry = registry

    async def target(self, request: LaunchRequest) -> Target:
        chosen = [c for c in (request.launch_plan, request.workflow, request.task) if c]
        if len(chosen) != 1:
            raise LaunchError("give exactly one of launch_plan, workflow or task")
        project, domain = request.project, request.domain
        try:
            if request.launch_plan is not None:
                return await self._launch_plan_target(
                    project, domain, request.launch_plan.name, request.launch_plan.version
                )
            if request.workflow is not None:
                identifier, closure = await self.registry.workflow(
                    project, domain, request.workflow.name, request.workflow.version
                )
                try:
                    # The default launch plan is named like the workflow.
                    return await self._launch_plan_target(
                        project, domain, identifier.name, identifier.version
                    )
                except EntityNotFound:
                    return Target(closure=closure)
            assert request.task is not None
            task = await self.registry.task(
                project, domain, request.task.name, request.task.version
            )
            return Target(closure=task_closure(task))
        except EntityNotFound as exc:
            raise TargetNotFound(str(exc)) from exc

    async def _launch_plan_target(
        self, project: str, domain: str, name: str, version: str | None
    ) -> Target:
        identifier, spec = await self.registry.launch_plan(project, domain, name, version)
        ref = spec.workflow.resolve(identifier.project, identifier.domain, identifier.version)
        _, closure = await self.registry.workflow(ref.project, ref.domain, ref.name, ref.version)
        return Target(
            closure=closure,
            launch_plan=identifier,
            default_inputs=spec.default_inputs,
            fixed_inputs=spec.fixed_inputs,
            labels=spec.labels,
        )

    async def launch(self, request: LaunchRequest) -> ExecutionState:
        check_names(project=request.project, domain=request.domain, execution_name=request.name)
        target = await self.target(request)
        inputs = resolve_inputs(target, request.inputs)
        size = len(json.dumps(inputs, separators=(",", ":")).encode())
        if size > self.max_inputs_bytes:
            raise InputsTooLarge(
                f"the inputs are {size} bytes as JSON; an execution accepts at most "
                f"{self.max_inputs_bytes} (pass large data as a File or Directory)",
                [{"size": size, "limit": self.max_inputs_bytes}],
            )
        return await self.create(
            request.project,
            request.domain,
            request.name,
            target.closure,
            inputs,
            target.launch_plan,
            {**target.labels, **request.labels},
            trigger=request.trigger,
        )

    async def create(
        self,
        project: str,
        domain: str,
        name: str | None,
        closure: WorkflowClosure,
        inputs: Literals,
        launch_plan: Identifier | None,
        labels: Mapping[str, str],
        *,
        trigger: Trigger | None = None,
        recovered: dict[str, Literals] | None = None,
    ) -> ExecutionState:
        """Store the execution QUEUED with its first event, and start it, in one transaction.

        ``trigger`` says what launched it (a user, by default).
        """
        check_names(project=project, domain=domain, execution_name=name)
        execution = ExecutionIdentifier(
            project=project, domain=domain, name=name or generated_name()
        )
        at = now()
        created = create_execution(
            execution, closure, inputs, at, launch_plan, labels=labels, trigger=trigger
        )
        engine = self.engine
        async with self.uow_factory() as uow:
            try:
                await uow.executions.insert(created.state)
            except ExecutionExists as exc:
                raise NameTaken(
                    f"an execution named '{execution.name}' exists in {project}/{domain}"
                ) from exc
            # create_execution's event (seq 0) goes first, then those of Start.
            await engine.carry_out(uow, created.state, created.commands, at)
            outcome, _ = await engine.decide_and_store(
                uow, created.state, 0, Start(recovered=recovered or {}), at
            )
            if (entry := audit.launched(created.state)) is not None:
                await uow.outbox.add([entry])
            await uow.commit()
        return outcome.state

    async def previous(self, project: str, domain: str, name: str) -> ExecutionState:
        key = execution_key(project, domain, name)
        async with self.uow_factory() as uow:
            locked = await uow.executions.lock(key)
        if locked is None:
            raise ExecutionNotFound(f"no execution {key}")
        return locked.state

    async def relaunch(
        self, project: str, domain: str, name: str, new_name: str | None
    ) -> ExecutionState:
        old = await self.previous(project, domain, name)
        return await self.create(
            project,
            domain,
            new_name,
            old.closure,
            old.inputs,
            old.launch_plan,
            old.labels,
            trigger=Trigger(kind=TriggerKind.RELAUNCH, source=old.execution),
        )

    async def recover(
        self, project: str, domain: str, name: str, new_name: str | None
    ) -> ExecutionState:
        old = await self.previous(project, domain, name)
        recovered = {
            path: dict(node.outputs)
            for path, node in old.nodes.items()
            if node.phase is NodePhase.SUCCEEDED and node.outputs is not None
        }
        return await self.create(
            project,
            domain,
            new_name,
            old.closure,
            old.inputs,
            old.launch_plan,
            old.labels,
            trigger=Trigger(kind=TriggerKind.RECOVER, source=old.execution),
            recovered=recovered,
        )
