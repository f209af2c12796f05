"""The event type catalogue: every payload that Contrail publishes.

Each class names its CloudEvents ``type``. The JSON Schemas that teams in other
languages consume are generated from these classes (``python -m shared.events``).
"""

from __future__ import annotations

import types
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt

from shared.events.envelope import CloudEvent, EventData, peek_type
from shared.identifiers import ExecutionIdentifier, Identifier
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase

# --- registry -----------------------------------------------------------------


class EntityRegistered(EventData):
    """A task, workflow or launch plan was registered (stored, immutable)."""

    identifier: Identifier
    digest: str = Field(description="sha256 of the stored spec, hex.")


class TaskRegistered(EntityRegistered):
    event_type: ClassVar[str] = "contrail.task.registered"


class WorkflowRegistered(EntityRegistered):
    event_type: ClassVar[str] = "contrail.workflow.registered"


class LaunchPlanRegistered(EntityRegistered):
    event_type: ClassVar[str] = "contrail.launch_plan.registered"


class LaunchPlanState(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class LaunchPlanStateChanged(EventData):
    """A launch plan was activated or deactivated (its schedule runs only when active)."""

    event_type: ClassVar[str] = "contrail.launch_plan.state_changed"

    identifier: Identifier
    state: LaunchPlanState


class ProjectCreated(EventData):
    event_type: ClassVar[str] = "contrail.project.created"

    project: str
    domains: list[str]


# --- executions ---------------------------------------------------------------


class ExecutionEventData(EventData):
    """What every execution event carries: where it belongs and its place in order."""

    execution: ExecutionIdentifier
    workflow: Identifier | None = None
    launch_plan: Identifier | None = None
    seq: NonNegativeInt = Field(
        description="Per execution, gap-free and increasing from 0 across all its events."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="The execution's labels: its launch plan's, overridden by the launch "
        "request's. The same on every event of the execution.",
    )


class TriggerKind(StrEnum):
    """What launched an execution."""

    USER = "user"
    SCHEDULE = "schedule"
    RELAUNCH = "relaunch"
    RECOVER = "recover"


class Trigger(BaseModel):
    """What launched an execution, and on whose behalf."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TriggerKind = TriggerKind.USER
    principal: str | None = Field(
        default=None, description="Who launched it; null until Contrail authenticates callers."
    )
    scheduled_at: datetime | None = Field(
        default=None, description="schedule: the tick of the schedule it was launched for."
    )
    source: ExecutionIdentifier | None = Field(
        default=None, description="relaunch, recover: the execution it was made from."
    )


class ErrorKind(StrEnum):
    USER = "USER"
    SYSTEM = "SYSTEM"


class ExecutionError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ErrorKind
    code: str = Field(description="Machine-readable reason, e.g. OOMKilled, Timeout, UserError.")
    message: str
    traceback_tail: str | None = None


class ResourceSpec(BaseModel):
    """Requested or limited CPU (cores) and memory (bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: NonNegativeFloat | None = None
    memory_bytes: NonNegativeInt | None = None


class Resources(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: ResourceSpec = ResourceSpec()
    limits: ResourceSpec = ResourceSpec()


class ResourceUsage(BaseModel):
    """What a task attempt measurably used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_seconds: NonNegativeFloat = Field(description="User plus system CPU time.")
    peak_memory_bytes: NonNegativeInt
    wall_seconds: NonNegativeFloat


class ExecutionPhaseChanged(ExecutionEventData):
    event_type: ClassVar[str] = "contrail.execution.phase_changed"

    phase: ExecutionPhase
    error: ExecutionError | None = None
    trigger: Trigger | None = Field(
        default=None, description="What launched the execution (null in events before it was kept)."
    )
    queued_at: datetime | None = Field(
        default=None, description="When the execution was created, QUEUED."
    )
    started_at: datetime | None = Field(
        default=None, description="When it started RUNNING; null if it has not (yet)."
    )
    ended_at: datetime | None = Field(
        default=None, description="When it reached its terminal phase; null before."
    )
    duration_seconds: NonNegativeFloat | None = Field(
        default=None,
        description="On terminal phases: ended_at - started_at; null if it never started.",
    )


class NodePhaseChanged(ExecutionEventData):
    event_type: ClassVar[str] = "contrail.node.phase_changed"

    node_id: str
    phase: NodePhase
    cache_hit: bool = False
    error: ExecutionError | None = None


class TaskAttemptPhaseChanged(ExecutionEventData):
    event_type: ClassVar[str] = "contrail.task_attempt.phase_changed"

    node_id: str
    task: Identifier
    attempt: NonNegativeInt
    phase: TaskAttemptPhase
    worker_id: str | None = None
    error: ExecutionError | None = None
    resources_requested: Resources = Field(
        default=Resources(), description="The task's resource requests and limits."
    )
    resources_used: ResourceUsage | None = None
    log_uri: str | None = None
    queued_at: datetime | None = Field(
        default=None, description="When the attempt was dispatched to the workers."
    )
    started_at: datetime | None = Field(
        default=None, description="When a worker started it; null if none has (yet)."
    )
    ended_at: datetime | None = Field(
        default=None, description="When it reached its terminal phase; null before."
    )


# --- notifications --------------------------------------------------------------


class NotificationOutcome(EventData):
    """One send of a notifier delivery (no recipient, URL or secret is carried)."""

    delivery_id: str = Field(description="The delivery's id: the Message-ID / Idempotency-Key.")
    rule_id: str = Field(description="The subscription's or launch plan notification's rule.")
    channel: str = Field(description="email, slack, teams, pagerduty or webhook.")
    execution: ExecutionIdentifier | None = Field(
        default=None, description="The execution alerted about; null for a digest or a test."
    )
    phase: str | None = None
    attempts: NonNegativeInt = Field(description="Sends tried so far, this one included.")
    error: str | None = Field(default=None, description="Why the send failed (failed, dead).")


class NotificationSent(NotificationOutcome):
    event_type: ClassVar[str] = "contrail.notification.sent"


class NotificationFailed(NotificationOutcome):
    event_type: ClassVar[str] = "contrail.notification.failed"


class NotificationDead(NotificationOutcome):
    event_type: ClassVar[str] = "contrail.notification.dead"


# --- audit ----------------------------------------------------------------------


AUDIT_TYPE_PREFIX = "contrail.audit."


class AuditAction(StrEnum):
    """What a principal did; the audit event's type is ``contrail.audit.<action>``."""

    REGISTER = "register"
    PROJECT_CREATE = "project.create"
    LAUNCH_PLAN_ACTIVATE = "launch_plan.activate"
    LAUNCH_PLAN_DEACTIVATE = "launch_plan.deactivate"
    LAUNCH = "launch"
    ABORT = "abort"
    RELAUNCH = "relaunch"
    RECOVER = "recover"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    GRANT_CREATE = "grant.create"
    GRANT_DELETE = "grant.delete"
    SUBSCRIPTION_CREATE = "subscription.create"
    SUBSCRIPTION_UPDATE = "subscription.update"
    SUBSCRIPTION_DELETE = "subscription.delete"
    SUBSCRIPTION_PAUSE = "subscription.pause"
    SUBSCRIPTION_RESUME = "subscription.resume"

    @property
    def event_type(self) -> str:
        return f"{AUDIT_TYPE_PREFIX}{self.value}"


class AuditRecorded(EventData):
    """One entry of the audit log: who did what to which resource (no secret is carried).

    Written by the service that made the change, in the change's transaction.
    """

    actor: str = Field(description="The principal's name; system for Contrail's own changes.")
    action: AuditAction
    project: str | None = Field(default=None, description="Null: not about one project.")
    domain: str | None = None
    resource: str = Field(description="What was acted on: a URN, or the token's or rule's id.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="What else the action names; secrets are masked."
    )


def _audit_event(action: AuditAction) -> type[AuditRecorded]:
    """The payload class of ``contrail.audit.<action>`` (its ``action`` is that one)."""
    name = "Audit" + "".join(part.title() for part in action.value.replace(".", "_").split("_"))

    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["__doc__"] = f"An audit log entry of action {action.value}."
        namespace["__annotations__"] = {"action": Literal[action]}
        namespace["event_type"] = action.event_type

    cls: type[AuditRecorded] = types.new_class(name, (AuditRecorded,), exec_body=body)
    return cls


AUDIT_EVENTS: dict[AuditAction, type[AuditRecorded]] = {
    action: _audit_event(action) for action in AuditAction
}


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        TaskRegistered,
        WorkflowRegistered,
        LaunchPlanRegistered,
        LaunchPlanStateChanged,
        ProjectCreated,
        ExecutionPhaseChanged,
        NodePhaseChanged,
        TaskAttemptPhaseChanged,
        NotificationSent,
        NotificationFailed,
        NotificationDead,
    )
} | {cls.event_type: cls for cls in AUDIT_EVENTS.values()}


class UnknownEventType(ValueError):
    """The record's ``type`` is not in the catalogue."""


def decode_event(raw: bytes | str | dict[str, Any]) -> CloudEvent[Any]:
    """Parse and validate one envelope, its ``data`` typed by the catalogue."""
    import json

    obj = json.loads(raw) if isinstance(raw, bytes | str) else raw
    event_type = peek_type(obj)
    data_cls = EVENT_TYPES.get(event_type)
    if data_cls is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    return CloudEvent[data_cls].model_validate(obj)  # type: ignore[valid-type]
