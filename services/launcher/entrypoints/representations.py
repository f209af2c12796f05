"""The launcher API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalogue import ExecutionError, Resources, ResourceUsage
from shared.identifiers import Identifier


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityChoiceBody(_Body):
    name: str = Field(min_length=1, examples=["workflows.example.wf"])
    version: str | None = Field(default=None, description="The newest version when omitted.")


class CreateExecution(_Body):
    """Exactly one of ``launch_plan``, ``workflow`` (its default launch plan) or ``task``."""

    project: str = Field(examples=["flytesnacks"])
    domain: str = Field(examples=["development"])
    name: str | None = Field(
        default=None, description="Unique per project and domain; generated when absent."
    )
    launch_plan: EntityChoiceBody | None = None
    workflow: EntityChoiceBody | None = None
    task: EntityChoiceBody | None = None
    inputs: dict[str, Any] = {}
    labels: dict[str, str] = {}


class NewName(_Body):
    name: str | None = None


class AbortBody(_Body):
    cause: str = Field(default="aborted by the API", max_length=2000)


class Execution(BaseModel):
    execution_id: str = Field(description="project/domain/name: the Kafka key of its events.")
    project: str
    domain: str
    name: str
    phase: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None
    error: ExecutionError | None = None
    workflow: Identifier
    launch_plan: Identifier | None = None
    labels: dict[str, str] = {}
    created_at: datetime
    started_at: datetime | None = None
    updated_at: datetime
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    relaunched_from: str | None = None
    recovered_from: str | None = None
    scheduled_at: datetime | None = Field(
        default=None, description="The cron tick this execution was created for, if scheduled."
    )
    url: str


class Created(BaseModel):
    execution: Execution
    url: str


class ExecutionPage(BaseModel):
    items: list[Execution]
    next_token: str | None


class Attempt(BaseModel):
    attempt: int
    phase: str
    worker_id: str | None = None
    error: ExecutionError | None = None
    resources_requested: Resources | None = None
    resources_used: ResourceUsage | None = None
    log_uri: str | None = None
    queued_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class NodeExecution(BaseModel):
    node_path: str
    kind: str
    task: str | None = Field(
        default=None, description="The name of the task a task or map node runs."
    )
    recovered: bool = Field(
        default=False, description="Its outputs were reused from an earlier execution (recover)."
    )
    phase: str | None = Field(description="Null: the node has not started.")
    map_index: int | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    cache_hit: bool = False
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: ExecutionError | None = None
    attempts: list[Attempt] = []


class NodeList(BaseModel):
    items: list[NodeExecution]
