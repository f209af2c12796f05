"""The internal messages between the engine and the workers.

These are not part of the public event stream (``contrail.executions``, whose
events carry a gap-free ``seq`` that only the engine can assign):

| topic | written by | read by | message |
|---|---|---|---|
| ``contrail.dispatch`` | engine (outbox) | workers, one group | ``AttemptDispatch`` |
| ``contrail.attempts`` | workers | engine | ``AttemptReport`` |
| ``contrail.control`` | engine (outbox) | every worker, a group each | ``AttemptControl`` |

All are keyed by the execution key, so one execution's messages stay in order.

A worker reports what happens to an attempt; the engine turns reports into
state and public events. Reports are idempotent: the engine ignores a report
for an attempt that is not the current one, or one it already applied
(``report_id``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from shared.events.catalogue import ExecutionError, ResourceUsage
from shared.events.topics import ATTEMPTS, CONTROL, DISPATCH
from shared.identifiers import ExecutionIdentifier, Identifier
from shared.specs import TaskSpec

__all__ = [
    "ATTEMPTS",
    "CONTROL",
    "DISPATCH",
    "AttemptControl",
    "AttemptDispatch",
    "AttemptReport",
    "ControlKind",
    "ReportKind",
]


def _now() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class AttemptDispatch(_Message):
    """Run attempt ``attempt`` of the task at ``node_path`` with ``inputs``."""

    kind: Literal["dispatch"] = "dispatch"
    execution: ExecutionIdentifier
    node_path: str
    attempt: PositiveInt
    task: Identifier
    spec: TaskSpec = Field(description="The task, its code location (bundle) and limits.")
    inputs: dict[str, Any] = Field(description="Literals by input name.")
    inputs_uri: str | None = Field(
        default=None, description="Where the inputs are stored in S3 when too large to inline."
    )
    deadline: datetime | None = Field(
        default=None, description="When the attempt times out (from the task's timeout)."
    )
    dispatched_at: datetime = Field(default_factory=_now)
    traceparent: str | None = None

    @property
    def attempt_id(self) -> str:
        """Unique across executions: ``<project>/<domain>/<name>/<node path>/<attempt>``."""
        return f"{self.execution.key}/{self.node_path}/{self.attempt}"


class ReportKind(StrEnum):
    STARTED = "started"
    HEARTBEAT = "heartbeat"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ABORTED = "aborted"


class AttemptReport(_Message):
    """What a worker says about an attempt it took."""

    report_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    kind: ReportKind
    execution: ExecutionIdentifier
    node_path: str
    attempt: PositiveInt
    worker_id: str
    at: datetime = Field(default_factory=_now)
    outputs: dict[str, Any] | None = None
    outputs_uri: str | None = None
    error: ExecutionError | None = None
    oom: bool = False
    usage: ResourceUsage | None = None
    log_uri: str | None = Field(
        default=None, description="S3 prefix holding the attempt's stdout and stderr."
    )
    heartbeat_seq: NonNegativeInt = 0
    traceparent: str | None = None


class ControlKind(StrEnum):
    TERMINATE = "terminate"


class AttemptControl(_Message):
    """Tell whichever worker runs the attempt to stop it."""

    kind: ControlKind
    execution: ExecutionIdentifier
    node_path: str
    attempt: PositiveInt
    reason: str = ""
