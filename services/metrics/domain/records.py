"""What the metrics service keeps of an execution event, and the roll-up increments it adds.

``fold(event)`` reads one typed ``contrail.executions`` event and says what it
contributes: a terminal task attempt (``AttemptRecord``), an execution's state
(``ExecutionRecord``), a cache hit (``CacheHit``), or nothing. Each record
then gives its roll-up increment (``Rollup``): counts, sums and sketches in
one hourly bucket of one combination of project, domain, workflow, launch
plan, task, phase, worker and labels. Increments add up (``Rollup.merge``), so
a batch's are summed per key before they are written.

Conventions (docs/usage.md): an attempt counts in the hour it ended; an
execution in the hour it reached its terminal phase. Execution rows have
task and worker ``""``; a cache hit has task ``""`` (node events do not name
the task). Reserved CPU is the request times the wall time, or the CPU used
when the task requests none; likewise memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.metrics.domain.sketch import Sketch
from shared.events.catalogue import (
    ExecutionPhaseChanged,
    NodePhaseChanged,
    TaskAttemptPhaseChanged,
)
from shared.events.envelope import CloudEvent
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase

OOM_KILLED = "OOMKilled"
FIRST_ATTEMPT = 1

_FAILED_ATTEMPT = {
    TaskAttemptPhase.FAILED,
    TaskAttemptPhase.RETRYABLE_FAILED,
    TaskAttemptPhase.TIMED_OUT,
}
_FAILED_EXECUTION = {ExecutionPhase.FAILED, ExecutionPhase.TIMED_OUT}


def hour_of(at: datetime) -> datetime:
    """The start of the hour bucket ``at`` falls in."""
    return at.replace(minute=0, second=0, microsecond=0)


def labels_key(labels: dict[str, str]) -> str:
    """The labels as canonical JSON (sorted keys): part of a roll-up row's key."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class AttemptRecord:
    """One task attempt that reached a terminal phase, with what it used and reserved."""

    event_id: str
    execution_key: str
    project: str
    domain: str
    execution_name: str
    workflow: str
    launch_plan: str
    task: str
    node_id: str
    attempt: int
    phase: str
    worker: str
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime
    wall_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int
    requested_cpu: float | None
    requested_memory_bytes: int | None
    limit_cpu: float | None
    limit_memory_bytes: int | None
    error_kind: str | None
    error_code: str | None
    labels: dict[str, str]

    @property
    def oom_killed(self) -> bool:
        return self.error_code == OOM_KILLED

    @property
    def cpu_reserved_seconds(self) -> float:
        if self.requested_cpu is None:
            return self.cpu_seconds
        return self.requested_cpu * self.wall_seconds

    @property
    def memory_byte_seconds(self) -> float:
        return self.peak_memory_bytes * self.wall_seconds

    @property
    def memory_reserved_byte_seconds(self) -> float:
        if self.requested_memory_bytes is None:
            return self.memory_byte_seconds
        return self.requested_memory_bytes * self.wall_seconds

    def rollup(self) -> tuple[RollupKey, Rollup]:
        key = RollupKey(
            hour_of(self.ended_at),
            self.project,
            self.domain,
            self.workflow,
            self.launch_plan,
            self.task,
            self.phase,
            self.worker,
            labels_key(self.labels),
        )
        failed = TaskAttemptPhase(self.phase) in _FAILED_ATTEMPT
        cores = self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0
        return key, Rollup(
            attempts=1,
            attempts_succeeded=int(self.phase == TaskAttemptPhase.SUCCEEDED),
            attempts_failed=int(failed),
            retries=int(self.attempt > FIRST_ATTEMPT),
            first_attempts=int(self.attempt == FIRST_ATTEMPT),
            oom_kills=int(self.oom_killed),
            wall_seconds=self.wall_seconds,
            cpu_seconds=self.cpu_seconds,
            cpu_reserved_seconds=self.cpu_reserved_seconds,
            memory_byte_seconds=self.memory_byte_seconds,
            memory_reserved_byte_seconds=self.memory_reserved_byte_seconds,
            requested_cpu_max=self.requested_cpu or 0.0,
            requested_memory_max=self.requested_memory_bytes or 0,
            peak_memory_max=self.peak_memory_bytes,
            task_durations=Sketch.of([self.wall_seconds]),
            peak_memory=Sketch.of([float(self.peak_memory_bytes)]),
            cpu_cores=Sketch.of([cores]),
        )


@dataclass(frozen=True)
class ExecutionRecord:
    """An execution's latest state; ``terminal`` once it reached its final phase."""

    event_id: str
    execution_key: str
    project: str
    domain: str
    name: str
    workflow: str
    launch_plan: str
    phase: str
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    labels: dict[str, str]
    trigger: dict[str, Any] | None
    at: datetime

    @property
    def terminal(self) -> bool:
        return ExecutionPhase(self.phase).is_terminal

    def rollup(self) -> tuple[RollupKey, Rollup]:
        key = RollupKey(
            hour_of(self.ended_at or self.at),
            self.project,
            self.domain,
            self.workflow,
            self.launch_plan,
            "",
            self.phase,
            "",
            labels_key(self.labels),
        )
        durations = (
            Sketch.of([self.duration_seconds]) if self.duration_seconds is not None else Sketch()
        )
        return key, Rollup(
            executions=1,
            succeeded=int(self.phase == ExecutionPhase.SUCCEEDED),
            failed=int(ExecutionPhase(self.phase) in _FAILED_EXECUTION),
            execution_durations=durations,
        )


@dataclass(frozen=True)
class CacheHit:
    """A node whose outputs came from the cache (no attempt ran)."""

    event_id: str
    execution_key: str
    node_id: str
    project: str
    domain: str
    workflow: str
    launch_plan: str
    labels: dict[str, str]
    at: datetime

    def rollup(self) -> tuple[RollupKey, Rollup]:
        key = RollupKey(
            hour_of(self.at),
            self.project,
            self.domain,
            self.workflow,
            self.launch_plan,
            "",
            NodePhase.SUCCEEDED.value,
            "",
            labels_key(self.labels),
        )
        return key, Rollup(cache_hits=1)


@dataclass(frozen=True)
class RollupKey:
    """One hourly bucket of one combination of the dimensions."""

    hour: datetime
    project: str
    domain: str
    workflow: str
    launch_plan: str
    task: str
    phase: str
    worker: str
    labels: str


@dataclass
class Rollup:
    """The sums, maxima and sketches of one roll-up row (or an increment to it)."""

    executions: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    attempts_succeeded: int = 0
    attempts_failed: int = 0
    retries: int = 0
    first_attempts: int = 0
    cache_hits: int = 0
    oom_kills: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cpu_reserved_seconds: float = 0.0
    memory_byte_seconds: float = 0.0
    memory_reserved_byte_seconds: float = 0.0
    requested_cpu_max: float = 0.0
    requested_memory_max: int = 0
    peak_memory_max: int = 0
    execution_durations: Sketch = field(default_factory=Sketch)
    task_durations: Sketch = field(default_factory=Sketch)
    peak_memory: Sketch = field(default_factory=Sketch)
    cpu_cores: Sketch = field(default_factory=Sketch)

    SUMS = (
        "executions",
        "succeeded",
        "failed",
        "attempts",
        "attempts_succeeded",
        "attempts_failed",
        "retries",
        "first_attempts",
        "cache_hits",
        "oom_kills",
        "wall_seconds",
        "cpu_seconds",
        "cpu_reserved_seconds",
        "memory_byte_seconds",
        "memory_reserved_byte_seconds",
    )
    MAXIMA = ("requested_cpu_max", "requested_memory_max", "peak_memory_max")
    SKETCHES = ("execution_durations", "task_durations", "peak_memory", "cpu_cores")

    def merge(self, other: Rollup) -> Rollup:
        for name in self.SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in self.MAXIMA:
            setattr(self, name, max(getattr(self, name), getattr(other, name)))
        for name in self.SKETCHES:
            getattr(self, name).merge(getattr(other, name))
        return self


def add_up(increments: list[tuple[RollupKey, Rollup]]) -> dict[RollupKey, Rollup]:
    """The increments summed per key (one upsert per row of a batch)."""
    rows: dict[RollupKey, Rollup] = {}
    for key, increment in increments:
        if key in rows:
            rows[key].merge(increment)
        else:
            rows[key] = Rollup().merge(increment)
    return rows


Folded = AttemptRecord | ExecutionRecord | CacheHit | None


def _name(identifier: Any) -> str:
    return identifier.name if identifier is not None else ""


def fold(event: CloudEvent[Any]) -> Folded:
    """What ``event`` contributes to the accounting (None: nothing but its freshness)."""
    data = event.data
    if isinstance(data, TaskAttemptPhaseChanged):
        if not data.phase.is_terminal:
            return None
        used = data.resources_used
        ended = data.ended_at or event.time
        requests, limits = data.resources_requested.requests, data.resources_requested.limits
        wall = used.wall_seconds if used is not None else 0.0
        return AttemptRecord(
            event_id=event.id,
            execution_key=data.execution.key,
            project=data.execution.project,
            domain=data.execution.domain,
            execution_name=data.execution.name,
            workflow=_name(data.workflow),
            launch_plan=_name(data.launch_plan),
            task=data.task.name,
            node_id=data.node_id,
            attempt=data.attempt,
            phase=data.phase.value,
            worker=data.worker_id or "",
            queued_at=data.queued_at,
            started_at=data.started_at,
            ended_at=ended,
            wall_seconds=wall,
            cpu_seconds=used.cpu_seconds if used is not None else 0.0,
            peak_memory_bytes=used.peak_memory_bytes if used is not None else 0,
            requested_cpu=requests.cpu,
            requested_memory_bytes=requests.memory_bytes,
            limit_cpu=limits.cpu,
            limit_memory_bytes=limits.memory_bytes,
            error_kind=data.error.kind.value if data.error else None,
            error_code=data.error.code if data.error else None,
            labels=dict(data.labels),
        )
    if isinstance(data, ExecutionPhaseChanged):
        return ExecutionRecord(
            event_id=event.id,
            execution_key=data.execution.key,
            project=data.execution.project,
            domain=data.execution.domain,
            name=data.execution.name,
            workflow=_name(data.workflow),
            launch_plan=_name(data.launch_plan),
            phase=data.phase.value,
            queued_at=data.queued_at,
            started_at=data.started_at,
            ended_at=data.ended_at,
            duration_seconds=data.duration_seconds,
            labels=dict(data.labels),
            trigger=data.trigger.model_dump(mode="json") if data.trigger else None,
            at=event.time,
        )
    if isinstance(data, NodePhaseChanged) and data.cache_hit and data.phase == NodePhase.SUCCEEDED:
        return CacheHit(
            event_id=event.id,
            execution_key=data.execution.key,
            node_id=data.node_id,
            project=data.execution.project,
            domain=data.execution.domain,
            workflow=_name(data.workflow),
            launch_plan=_name(data.launch_plan),
            labels=dict(data.labels),
            at=event.time,
        )
    return None
