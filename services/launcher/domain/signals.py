"""Signals: what the engine is told, one at a time, about one execution.

Each signal is a fact that already happened (a worker started an attempt, the
cache answered, a user asked for an abort). Kafka redelivers, so ``decide``
treats a signal that no longer applies as a no-op: a report about an attempt
that is not the node's current one, about an attempt or a node that is already
terminal, a second ``Start``, an ``Abort`` of a finished execution.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from services.launcher.domain.state import Literals
from shared.events.catalogue import ExecutionError, ResourceUsage


class _Signal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Start(_Signal):
    """The execution, created QUEUED by the API, starts running.

    ``recovered`` maps node paths to outputs taken from an earlier execution
    (``recover``): each such node, when it becomes ready, ends SUCCEEDED with
    those outputs without running.
    """

    kind: Literal["start"] = "start"
    recovered: dict[str, Literals] = {}


class AttemptStarted(_Signal):
    """A worker took the attempt and started running it."""

    kind: Literal["attempt_started"] = "attempt_started"
    node_path: str
    attempt: PositiveInt
    worker_id: str
    log_uri: str | None = None


class AttemptSucceeded(_Signal):
    """The attempt ran to completion; ``outputs`` are the task's outputs, by name."""

    kind: Literal["attempt_succeeded"] = "attempt_succeeded"
    node_path: str
    attempt: PositiveInt
    outputs: Literals
    usage: ResourceUsage | None = None
    log_uri: str | None = None


class AttemptFailed(_Signal):
    """The attempt failed: user code raised (USER) or the platform failed it (SYSTEM).

    ``oom`` says the worker killed it for exceeding its memory limit; that is a
    USER error with code ``OOMKilled`` whatever ``error`` says.
    """

    kind: Literal["attempt_failed"] = "attempt_failed"
    node_path: str
    attempt: PositiveInt
    error: ExecutionError
    usage: ResourceUsage | None = None
    oom: bool = False
    log_uri: str | None = None


class AttemptTimedOut(_Signal):
    """The worker stopped the attempt because it ran past its ``timeout_seconds``."""

    kind: Literal["attempt_timed_out"] = "attempt_timed_out"
    node_path: str
    attempt: PositiveInt
    usage: ResourceUsage | None = None
    log_uri: str | None = None


class WorkerLost(_Signal):
    """The worker running the attempt stopped sending heartbeats: a SYSTEM error."""

    kind: Literal["worker_lost"] = "worker_lost"
    node_path: str
    attempt: PositiveInt
    worker_id: str


class CacheResult(_Signal):
    """The answer to a ``LookupCache``: the cached outputs, or ``None`` on a miss."""

    kind: Literal["cache_result"] = "cache_result"
    node_path: str
    outputs: Literals | None


class Abort(_Signal):
    """Someone aborted the execution; ``cause`` says who and why."""

    kind: Literal["abort"] = "abort"
    cause: str


class AttemptAborted(_Signal):
    """The worker stopped the attempt (after a ``Terminate``, or on its own)."""

    kind: Literal["attempt_aborted"] = "attempt_aborted"
    node_path: str
    attempt: PositiveInt
    usage: ResourceUsage | None = None


Signal = Annotated[
    Start
    | AttemptStarted
    | AttemptSucceeded
    | AttemptFailed
    | AttemptTimedOut
    | WorkerLost
    | CacheResult
    | Abort
    | AttemptAborted,
    Field(discriminator="kind"),
]
