"""Serialize a user's project: every task, workflow and launch plan, as specs.

``load_modules`` imports the project (see ``contrail.loader``); ``collect``
turns what those modules define into ``shared.specs`` models. The same code
always gives the same specs, byte for byte (``shared.specs.canonical_json``):
they hold no ids, timestamps, addresses or paths of this machine.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from contrail.errors import ContrailError
from contrail.launch_plan import LaunchPlan
from contrail.loader import UserCodeError, find_project_root, load_modules
from contrail.task import Task, describe
from contrail.workflow import Workflow
from shared.specs import LaunchPlanSpec, TaskSpec, WorkflowSpec

__all__ = ["Entities", "UserCodeError", "collect", "find_project_root", "load_modules"]


@dataclass(frozen=True)
class Entities:
    """The specs of a project, in the order they are registered."""

    tasks: dict[str, TaskSpec]
    """By name, sorted."""
    workflows: dict[str, WorkflowSpec]
    """By name, sub-workflows before their parents (otherwise sorted)."""
    launch_plans: dict[str, LaunchPlanSpec]
    """By name, sorted; every workflow's default launch plan included."""

    def __len__(self) -> int:
        return len(self.tasks) + len(self.workflows) + len(self.launch_plans)


def _spec_of(entity: Task[..., Any] | Workflow[..., Any]) -> Any:
    try:
        return entity.spec()
    except (ContrailError, ValidationError) as error:
        raise UserCodeError(f"{describe(entity.function)}: {error}") from None


def _check_importable(task: Task[..., Any]) -> None:
    """A worker finds the task as ``getattr(module, qualname)``: make sure that is this task."""
    fn = task.function
    found: object = sys.modules.get(fn.__module__)
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)
    if found is not task:
        raise UserCodeError(
            f"{describe(fn)}: a worker imports this task as {fn.__module__}.{fn.__qualname__}, "
            "which is not this task; define tasks at the top level of a module, under the "
            "function's own name"
        )


def collect(modules: Sequence[ModuleType]) -> Entities:
    """Every task, workflow and launch plan the modules define, plus what they reference.

    Tasks and workflows count when they are attributes of the module that defines
    them; launch plans when they are attributes of any of the modules. Each
    workflow's default launch plan is added.

    Raises:
        UserCodeError: an entity that can't be serialized (defined inside a function,
            or two different entities under one name); the message names its file and line.
    """
    tasks: dict[str, Task[..., Any]] = {}
    workflows: dict[str, Workflow[..., Any]] = {}
    plans: dict[str, LaunchPlan[Any]] = {}

    def add_workflow(wf: Workflow[..., Any]) -> None:
        known = workflows.get(wf.name)
        if known is wf:
            return
        if known is not None:
            raise UserCodeError(
                f"{describe(wf.function)}: another workflow is also named {wf.name} "
                f"({describe(known.function)})"
            )
        workflows[wf.name] = wf
        for ref in wf.references():
            if isinstance(ref, Workflow):
                add_workflow(ref)
            elif isinstance(ref, Task):
                add_task(ref)

    def add_task(t: Task[..., Any]) -> None:
        known = tasks.get(t.name)
        if known is t:
            return
        if known is not None:
            raise UserCodeError(
                f"{describe(t.function)}: another task is also named {t.name} "
                f"({describe(known.function)})"
            )
        tasks[t.name] = t

    for module in modules:
        for value in list(vars(module).values()):
            if isinstance(value, Task) and value.function.__module__ == module.__name__:
                add_task(value)
            elif isinstance(value, Workflow) and value.function.__module__ == module.__name__:
                add_workflow(value)
            elif isinstance(value, LaunchPlan):
                plans[value.name] = value
                add_workflow(value.workflow)
    for plan in list(plans.values()):
        add_workflow(plan.workflow)
    for wf in list(workflows.values()):
        default = LaunchPlan.get_or_create(wf)
        plans.setdefault(default.name, default)

    task_specs: dict[str, TaskSpec] = {}
    for name in sorted(tasks):
        _check_importable(tasks[name])
        task_specs[name] = _spec_of(tasks[name])

    workflow_specs: dict[str, WorkflowSpec] = {}
    visiting: set[str] = set()

    def visit(wf: Workflow[..., Any]) -> None:
        if wf.name in workflow_specs or wf.name in visiting:
            return
        visiting.add(wf.name)
        for ref in wf.references():
            if isinstance(ref, Workflow):
                visit(ref)
        workflow_specs[wf.name] = _spec_of(wf)

    for name in sorted(workflows):
        visit(workflows[name])

    plan_specs = {name: plans[name].spec() for name in sorted(plans)}
    return Entities(tasks=task_specs, workflows=workflow_specs, launch_plans=plan_specs)
