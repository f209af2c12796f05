"""Commands: what a decision asks the adapters to do.

The adapters carry out a decision's commands in the same PostgreSQL transaction
that stores its state: ``Emit`` becomes an outbox row on ``contrail.executions``,
``Dispatch`` a record for ``contrail.dispatch``, and so on. Commands come in
the order they were decided; events among them carry consecutive ``seq``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from services.launcher.domain.state import Literals
from shared.events.catalogue import (
    ExecutionError,
    ExecutionPhaseChanged,
    NodePhaseChanged,
    Resources,
    TaskAttemptPhaseChanged,
)
from shared.identifiers import ExecutionIdentifier, Identifier
from shared.phases import ExecutionPhase
from shared.specs import TaskSpec

PhaseEvent = ExecutionPhaseChanged | NodePhaseChanged | TaskAttemptPhaseChanged
"""The public events of an execution."""


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Emit(_Command):
    """Publish ``event`` on ``contrail.executions`` (through the outbox), with ``time``
    as the envelope's time. Its ``seq`` is already set."""

    kind: Literal["emit"] = "emit"
    event: PhaseEvent
    time: datetime


class Dispatch(_Command):
    """Send a task attempt to the workers (``contrail.dispatch``).

    The worker runs ``spec`` with ``inputs``, within ``resources`` and at most
    ``timeout_seconds`` of run time (it reports ``AttemptTimedOut`` beyond it),
    and reports the attempt's phases as signals.
    """

    kind: Literal["dispatch"] = "dispatch"
    execution: ExecutionIdentifier
    node_path: str
    attempt: PositiveInt
    task: Identifier
    spec: TaskSpec
    inputs: Literals
    resources: Resources
    timeout_seconds: float | None = None
    environment: dict[str, str] = {}


class LookupCache(_Command):
    """Look ``cache_key`` up in the task cache; answer with a ``CacheResult`` signal."""

    kind: Literal["lookup_cache"] = "lookup_cache"
    node_path: str
    cache_key: str


class StoreCache(_Command):
    """Store ``outputs`` in the task cache under ``cache_key`` (the attempt that made
    them is ``node_path``/``attempt``, for provenance)."""

    kind: Literal["store_cache"] = "store_cache"
    cache_key: str
    outputs: Literals
    task: Identifier
    node_path: str
    attempt: PositiveInt


class Terminate(_Command):
    """Stop a queued or running attempt: tell its worker (when it has one) to kill it,
    and make sure no worker starts it later. The worker answers ``AttemptAborted``."""

    kind: Literal["terminate"] = "terminate"
    node_path: str
    attempt: PositiveInt
    worker_id: str | None = None
    reason: str


class Finished(_Command):
    """The execution reached a terminal phase: store its outputs or error."""

    kind: Literal["finished"] = "finished"
    phase: ExecutionPhase
    outputs: Literals | None = None
    error: ExecutionError | None = None


Command = Annotated[
    Emit | Dispatch | LookupCache | StoreCache | Terminate | Finished,
    Field(discriminator="kind"),
]
