"""Contrail's SDK: typed tasks and workflows, launch plans, and local runs.

::

    from contrail import task, workflow

    @task
    def say_hello(name: str) -> str:
        return f"Hello, {name}!"

    @workflow
    def wf(name: str = "union") -> str:
        return say_hello(name=name)

    wf(name="x")  # runs here: "Hello, x!"

``contrail register`` serializes what a project defines and registers it;
``contrail run FILE ENTITY --input value`` runs one task or workflow here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contrail.conditional import conditional
from contrail.environment import TaskEnvironment
from contrail.files import Directory, File
from contrail.launch_plan import CronSchedule, LaunchPlan
from contrail.map import MapTask, map_task
from contrail.notifications import Email, MSTeams, PagerDuty, Slack, Webhook
from contrail.promise import node_of
from contrail.resources import Resources
from contrail.task import (
    ContrailError,
    DefinitionError,
    ExecutionFailed,
    InputError,
    OutputError,
    Task,
    task,
)
from contrail.workflow import Workflow, workflow
from shared.phases import ExecutionPhase
from shared.specs import FailurePolicy

if TYPE_CHECKING:
    from contrail.remote import Remote
    from contrail.run import Run

__version__ = "0.1.0"

__all__ = [
    "ContrailError",
    "CronSchedule",
    "DefinitionError",
    "Directory",
    "Email",
    "ExecutionFailed",
    "ExecutionPhase",
    "FailurePolicy",
    "File",
    "InputError",
    "LaunchPlan",
    "MSTeams",
    "MapTask",
    "OutputError",
    "PagerDuty",
    "Remote",
    "Resources",
    "Run",
    "Slack",
    "Task",
    "TaskEnvironment",
    "Webhook",
    "Workflow",
    "__version__",
    "conditional",
    "map_task",
    "node_of",
    "task",
    "workflow",
]


def __getattr__(name: str) -> Any:
    # The HTTP client pulls in httpx; import it only for those who use it.
    if name == "Remote":
        from contrail.remote import Remote

        return Remote
    if name == "Run":
        from contrail.run import Run

        return Run
    raise AttributeError(f"module 'contrail' has no attribute {name!r}")
