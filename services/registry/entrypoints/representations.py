"""The registry API's request and response bodies, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from shared.events.catalogue import LaunchPlanState
from shared.identifiers import DEFAULT_DOMAINS, Identifier, ResourceType
from shared.specs import LaunchPlanSpec, TaskSpec, WorkflowClosure, WorkflowSpec


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- registration -----------------------------------------------------------------


class IdentifierFields(_Body):
    """Where to register: ``resource_type`` is implied by the endpoint."""

    project: str = Field(examples=["flytesnacks"])
    domain: str = Field(examples=["development"])
    name: str = Field(examples=["workflows.example.say_hello"])
    version: str = Field(examples=["v1"])
    resource_type: ResourceType | None = Field(
        default=None, description="Optional; when given, it must be the endpoint's."
    )


class TaskRegistration(_Body):
    identifier: IdentifierFields
    spec: TaskSpec


class WorkflowRegistration(_Body):
    identifier: IdentifierFields
    spec: WorkflowSpec


class LaunchPlanRegistration(_Body):
    identifier: IdentifierFields
    spec: LaunchPlanSpec


class Registered(BaseModel):
    """``created`` is false when the identical spec was registered already."""

    identifier: Identifier
    digest: str = Field(description="sha256 of the spec's canonical JSON, hex.")
    created: bool


# --- entities ---------------------------------------------------------------------


class _Entity(BaseModel):
    identifier: Identifier
    digest: str
    created_at: datetime


class Task(_Entity):
    spec: TaskSpec


class Workflow(_Entity):
    spec: WorkflowSpec
    closure: WorkflowClosure


class LaunchPlan(_Entity):
    spec: LaunchPlanSpec
    state: LaunchPlanState


class TaskItem(_Entity):
    spec: TaskSpec | None = Field(default=None, description="With include_spec=true.")


class WorkflowItem(_Entity):
    spec: WorkflowSpec | None = Field(default=None, description="With include_spec=true.")


class LaunchPlanItem(_Entity):
    spec: LaunchPlanSpec | None = Field(default=None, description="With include_spec=true.")
    state: LaunchPlanState


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(BaseModel, Generic[ItemT]):
    """Newest first; pass ``next_token`` as ``token`` for the next page (null: no more)."""

    items: list[ItemT]
    next_token: str | None


class TaskPage(Page[TaskItem]):
    pass


class WorkflowPage(Page[WorkflowItem]):
    pass


class LaunchPlanPage(Page[LaunchPlanItem]):
    pass


# --- projects ---------------------------------------------------------------------


class ProjectCreate(_Body):
    name: str = Field(examples=["flytesnacks"])
    description: str = ""
    domains: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAINS), min_length=1)


class Project(BaseModel):
    name: str
    description: str
    domains: list[str]
    created_at: datetime


class ProjectPage(Page[Project]):
    pass


# --- data proxy -------------------------------------------------------------------


class UploadRequest(_Body):
    project: str
    domain: str
    digest: str = Field(description="SHA-256 of the bytes, 64 hex characters.")
    size: NonNegativeInt = Field(description="Length of the bytes.")
    filename: str = "bundle.tgz"


class UploadLocation(BaseModel):
    """PUT the bytes to ``upload_url`` with ``headers``; S3 refuses any other bytes."""

    uri: str = Field(description="s3:// URI of the object, addressed by its digest.")
    upload_url: str = Field(
        description="Presigned PUT, valid for an hour; signed with the checksum and size."
    )
    headers: dict[str, str] = Field(
        description="Signed headers to send with the PUT: x-amz-checksum-sha256, content-length."
    )
    exists: bool = Field(description="The object is stored already; nothing to upload.")


class DownloadLocation(BaseModel):
    url: str = Field(description="Presigned GET, valid for an hour.")
