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

import importlib
from typing import TYPE_CHECKING, Any

from contrail.conditional import conditional
from contrail.environment import TaskEnvironment
from contrail.errors import (
    ArgumentError,
    Conflict,
    ContrailError,
    ExecutionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    RemoteError,
    ServerError,
    ServerUnavailable,
    TooLarge,
    Unauthenticated,
    WaitTimeout,
)
from contrail.files import Directory, File
from contrail.launch_plan import CronSchedule, LaunchPlan
from contrail.map import MapTask, map_task
from contrail.notifications import Email, MSTeams, NotificationError, PagerDuty, Slack, Webhook
from contrail.promise import node_of
from contrail.resources import Resources, ResourcesError
from contrail.task import DefinitionError, InputError, OutputError, Task, task
from contrail.types import TypeEngineError
from contrail.workflow import Workflow, workflow
from shared.phases import ExecutionPhase
from shared.specs import FailurePolicy

if TYPE_CHECKING:
    from contrail.bundle import ArchiveError, BundleError
    from contrail.config import ConfigError
    from contrail.loader import UserCodeError
    from contrail.registration import RegistrationFailed
    from contrail.remote import Remote
    from contrail.run import Run, RunNotDone

__version__ = "0.1.0"

__all__ = [
    "ArchiveError",
    "ArgumentError",
    "BundleError",
    "ConfigError",
    "Conflict",
    "ContrailError",
    "CronSchedule",
    "DefinitionError",
    "Directory",
    "Email",
    "ExecutionFailed",
    "ExecutionPhase",
    "FailurePolicy",
    "File",
    "Forbidden",
    "InputError",
    "InvalidRequest",
    "LaunchPlan",
    "MSTeams",
    "MapTask",
    "NotFound",
    "NotificationError",
    "OutputError",
    "PagerDuty",
    "RegistrationFailed",
    "Remote",
    "RemoteError",
    "Resources",
    "ResourcesError",
    "Run",
    "RunNotDone",
    "ServerError",
    "ServerUnavailable",
    "Slack",
    "Task",
    "TaskEnvironment",
    "TooLarge",
    "TypeEngineError",
    "Unauthenticated",
    "UserCodeError",
    "WaitTimeout",
    "Webhook",
    "Workflow",
    "__version__",
    "conditional",
    "map_task",
    "node_of",
    "task",
    "workflow",
]


_LAZY = {
    # The HTTP client pulls in httpx; import it (and the rest) only for those who use it.
    "Remote": "contrail.remote",
    "Run": "contrail.run",
    "RunNotDone": "contrail.run",
    "RegistrationFailed": "contrail.registration",
    "ConfigError": "contrail.config",
    "UserCodeError": "contrail.loader",
    "BundleError": "contrail.bundle",
    "ArchiveError": "contrail.bundle",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'contrail' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
