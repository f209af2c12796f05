"""What happens when a task attempt fails: the error it ends with, and whether it is retried.

Two budgets, spent independently, as in Flyte:

- **user retries**: the node's ``retries``, else its task's. User code raising,
  running out of memory (``OOMKilled``), running past the timeout (``Timeout``)
  and returning without a declared output (``MissingOutputs``) spend them.
- **system retries**: ``system_retries`` of the engine's settings (3 by
  default). A lost worker (``WorkerLost``), a worker stopping an attempt on its
  own (``AttemptAborted``) and any error a worker reports as SYSTEM spend them.

While a budget remains, the attempt ends RETRYABLE_FAILED and the next attempt
is dispatched. Once it is spent the attempt ends FAILED (TIMED_OUT for a
timeout) and so does its node. No attempt is retried while the execution, or
the sub-workflow or map around the node, is stopping (failing or aborting); an
attempt the engine asked to terminate ends ABORTED.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.catalogue import ErrorKind, ExecutionError
from shared.phases import NodePhase, TaskAttemptPhase

OOM_KILLED = "OOMKilled"
TIMEOUT = "Timeout"
WORKER_LOST = "WorkerLost"
ATTEMPT_ABORTED = "AttemptAborted"
MISSING_OUTPUTS = "MissingOutputs"
ABORTED = "Aborted"


@dataclass(frozen=True)
class RetryBudget:
    """How many retries a task-like node may spend, per kind of error."""

    user: int
    system: int


@dataclass(frozen=True)
class Failure:
    """How an attempt ended, when it did not succeed."""

    error: ExecutionError
    timed_out: bool = False
    aborted: bool = False
    """Stopped at the engine's request: it ends ABORTED and is never retried."""


@dataclass(frozen=True)
class Outcome:
    """What a failure does to the attempt and its node."""

    attempt_phase: TaskAttemptPhase
    node_phase: NodePhase | None
    """``None``: the node goes on with a new attempt."""
    error: ExecutionError
    user_retries: int
    """User retries spent, this failure included."""
    system_retries: int

    @property
    def retry(self) -> bool:
        return self.node_phase is None


def on_failure(
    failure: Failure,
    budget: RetryBudget,
    user_spent: int,
    system_spent: int,
    *,
    may_retry: bool,
) -> Outcome:
    """Whether the failed attempt is retried, and the phases it and its node end in."""
    error = failure.error
    if failure.aborted:
        return Outcome(TaskAttemptPhase.ABORTED, NodePhase.ABORTED, error, user_spent, system_spent)
    if error.kind is ErrorKind.SYSTEM:
        if may_retry and system_spent < budget.system:
            return Outcome(
                TaskAttemptPhase.RETRYABLE_FAILED, None, error, user_spent, system_spent + 1
            )
        return Outcome(TaskAttemptPhase.FAILED, NodePhase.FAILED, error, user_spent, system_spent)
    if may_retry and user_spent < budget.user:
        return Outcome(TaskAttemptPhase.RETRYABLE_FAILED, None, error, user_spent + 1, system_spent)
    if failure.timed_out:
        return Outcome(
            TaskAttemptPhase.TIMED_OUT, NodePhase.TIMED_OUT, error, user_spent, system_spent
        )
    return Outcome(TaskAttemptPhase.FAILED, NodePhase.FAILED, error, user_spent, system_spent)


# --- the errors a failure carries ---------------------------------------------------


def reported(error: ExecutionError, *, oom: bool) -> Failure:
    """A failure a worker reported; running out of memory is always a USER ``OOMKilled``."""
    if oom:
        error = ExecutionError(
            kind=ErrorKind.USER,
            code=OOM_KILLED,
            message=error.message or "the task exceeded its memory limit",
            traceback_tail=error.traceback_tail,
        )
    return Failure(error)


def timed_out(timeout_seconds: float | None) -> Failure:
    """The worker stopped the attempt at its timeout (a USER error)."""
    limit = f" of {timeout_seconds:g} s" if timeout_seconds is not None else ""
    return Failure(
        ExecutionError(
            kind=ErrorKind.USER, code=TIMEOUT, message=f"the attempt ran past its timeout{limit}"
        ),
        timed_out=True,
    )


def worker_lost(worker_id: str) -> Failure:
    """The worker stopped sending heartbeats (a SYSTEM error)."""
    return Failure(
        ExecutionError(
            kind=ErrorKind.SYSTEM,
            code=WORKER_LOST,
            message=f"worker {worker_id} stopped sending heartbeats while running the attempt",
        )
    )


def unrequested_abort() -> Failure:
    """The worker stopped the attempt without being asked to, e.g. on shutdown (SYSTEM)."""
    return Failure(
        ExecutionError(
            kind=ErrorKind.SYSTEM,
            code=ATTEMPT_ABORTED,
            message="the worker stopped the attempt without being asked to",
        )
    )


def missing_outputs(missing: list[str]) -> Failure:
    """The task returned without some of its declared outputs (a USER error)."""
    names = ", ".join(f"'{name}'" for name in missing)
    return Failure(
        ExecutionError(
            kind=ErrorKind.USER,
            code=MISSING_OUTPUTS,
            message=f"the task returned without its declared output(s) {names}",
        )
    )


def terminated(reason: str, kind: ErrorKind) -> Failure:
    """The engine stopped the attempt: the execution is aborting, or something failed."""
    return Failure(ExecutionError(kind=kind, code=ABORTED, message=reason), aborted=True)
