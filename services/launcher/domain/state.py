"""The state of one execution, as the engine keeps it between signals.

Everything here is frozen pydantic and JSON-serializable, so an adapter can
store an ``ExecutionState`` as jsonb and read it back equal. Nodes are keyed by
node path (see ``paths``). A node that has not started yet has ``phase=None``:
the public phases have no "not started", and no event is ever emitted for it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from shared.events.catalogue import ExecutionError, ResourceUsage, Trigger
from shared.identifiers import ExecutionIdentifier, Identifier
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from shared.specs import NodeKind, WorkflowClosure

Literals = dict[str, Any]
"""Named literals (JSON values): the inputs or the outputs of a node or an execution."""


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttemptState(_State):
    """One task attempt: a run of a task node (or of a map item) on a worker."""

    attempt: PositiveInt = Field(description="1 for the first attempt, 2 for the first retry...")
    phase: TaskAttemptPhase
    worker_id: str | None = None
    error: ExecutionError | None = None
    usage: ResourceUsage | None = None
    log_uri: str | None = None
    queued_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    terminating: bool = Field(
        default=False, description="The engine asked for it to be terminated (Terminate)."
    )


class MapProgress(_State):
    """How far a map node is through its items."""

    total: NonNegativeInt
    next_item: NonNegativeInt = Field(default=0, description="The index of the next item to start.")
    succeeded: NonNegativeInt = 0
    failed: NonNegativeInt = Field(default=0, description="Items that ended other than SUCCEEDED.")


class NodeState(_State):
    """One node execution.

    Task nodes and map items have ``attempts``; sub-workflow, branch and map
    nodes are containers: they count their ``active`` children (started and not
    yet terminal), and ``stopping`` says they are terminating those children
    and start no more (a child failed under FAIL_IMMEDIATELY, or too many items
    of a map failed).
    """

    kind: NodeKind = Field(description="The spec node's kind; a map item is a task.")
    map_index: NonNegativeInt | None = Field(default=None, description="Set on map items.")
    phase: NodePhase | None = Field(default=None, description="None: not started yet.")
    pending: NonNegativeInt = Field(
        default=0, description="Before it starts: how many upstream nodes have not finished."
    )
    inputs: Literals | None = None
    outputs: Literals | None = None
    error: ExecutionError | None = None
    cache_hit: bool = False
    cache_key: str | None = Field(default=None, description="Set when the task caches.")
    attempts: tuple[AttemptState, ...] = ()
    user_retries: NonNegativeInt = Field(default=0, description="Retries spent on user errors.")
    system_retries: NonNegativeInt = Field(default=0, description="Retries spent on system errors.")
    active: NonNegativeInt = 0
    stopping: bool = False
    chosen: str | None = Field(default=None, description="Branch: the path of the chosen node.")
    map: MapProgress | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def current(self) -> AttemptState | None:
        """The latest attempt, if any."""
        return self.attempts[-1] if self.attempts else None


class StopReason(StrEnum):
    """Why the execution starts nothing more and terminates what runs."""

    FAIL = "fail"
    """A node failed under FAIL_IMMEDIATELY."""
    ABORT = "abort"
    """Someone aborted the execution."""


class ExecutionState(_State):
    """Everything the engine knows about one execution; ``decide`` maps it to the next."""

    execution: ExecutionIdentifier
    workflow: Identifier
    launch_plan: Identifier | None = None
    closure: WorkflowClosure
    inputs: Literals
    labels: dict[str, str] = Field(
        default_factory=dict, description="Carried on every event, for who filters on them."
    )
    trigger: Trigger = Field(default_factory=Trigger, description="What launched it.")
    phase: ExecutionPhase
    next_seq: NonNegativeInt = Field(description="The seq of the next public event.")
    created_at: datetime
    started_at: datetime | None = None
    updated_at: datetime
    ended_at: datetime | None = None
    error: ExecutionError | None = None
    outputs: Literals | None = None
    nodes: dict[str, NodeState] = {}
    active: NonNegativeInt = Field(
        default=0, description="Top-level nodes started (or about to) and not yet terminal."
    )
    stop: StopReason | None = None
    recovered: dict[str, Literals] = Field(
        default_factory=dict,
        description="Node path -> outputs reused from an earlier execution (recover).",
    )
