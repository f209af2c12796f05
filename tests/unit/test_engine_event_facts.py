"""What the engine's events say about the execution besides its phase: labels, trigger,
times and durations, and an attempt's times and resources. The notifier and the metrics
service need nothing but these events (docs/events.md)."""

from __future__ import annotations

from datetime import timedelta

from services.launcher.domain import AttemptFailed, AttemptStarted, AttemptSucceeded
from shared.events.catalogue import (
    ErrorKind,
    ExecutionError,
    ExecutionPhaseChanged,
    NodePhaseChanged,
    Resources,
    ResourceSpec,
    TaskAttemptPhaseChanged,
    Trigger,
    TriggerKind,
)
from shared.identifiers import ExecutionIdentifier
from shared.literals import INT
from shared.phases import ExecutionPhase, TaskAttemptPhase
from tests.unit.engine_support import T0, Driver, call, closure, inp, out, task

RESOURCES = Resources(
    requests=ResourceSpec(cpu=0.5, memory_bytes=256 * 2**20),
    limits=ResourceSpec(cpu=2, memory_bytes=2**30),
)
SIZED = task("sized", {"x": INT}, {"o": INT}, resources=RESOURCES, retries=1)
WF = closure(
    [call("n0", "sized", x=inp("x"))],
    inputs={"x": INT},
    outputs={"y": (INT, out("n0"))},
    tasks={"sized": SIZED},
)
LABELS = {"team": "ml", "cost-center": "42"}
SOURCE = ExecutionIdentifier(project="demo", domain="development", name="x0")


def driver(trigger: Trigger | None = None) -> Driver:
    return Driver(
        WF, {"x": 1}, functions={"sized": lambda x: {"o": x}}, labels=LABELS, trigger=trigger
    )


def execution_events(run: Driver) -> list[ExecutionPhaseChanged]:
    return [e for e in run.events if isinstance(e, ExecutionPhaseChanged)]


def attempt_events(run: Driver) -> list[TaskAttemptPhaseChanged]:
    return [e for e in run.events if isinstance(e, TaskAttemptPhaseChanged)]


def test_every_event_of_an_execution_carries_its_labels() -> None:
    run = driver()
    run.start()
    run.run_all()

    assert run.phase() is ExecutionPhase.SUCCEEDED
    kinds = {type(e) for e in run.events}
    assert kinds == {ExecutionPhaseChanged, NodePhaseChanged, TaskAttemptPhaseChanged}
    assert [e.labels for e in run.events] == [LABELS] * len(run.events)


def test_a_launch_is_a_users_unless_told_otherwise() -> None:
    run = driver()
    run.start()

    assert [e.trigger for e in execution_events(run)] == [Trigger(kind=TriggerKind.USER)] * 2
    assert execution_events(run)[0].trigger.principal is None  # type: ignore[union-attr]


def test_each_execution_event_carries_the_trigger_it_was_launched_with() -> None:
    relaunch = Trigger(kind=TriggerKind.RELAUNCH, source=SOURCE)
    run = driver(relaunch)
    run.start()
    run.run_all()

    events = execution_events(run)
    assert [e.phase for e in events] == [
        ExecutionPhase.QUEUED,
        ExecutionPhase.RUNNING,
        ExecutionPhase.SUCCEEDED,
    ]
    assert [e.trigger for e in events] == [relaunch] * 3
    assert run.state.trigger == relaunch


def test_execution_events_carry_its_times_and_the_terminal_one_its_duration() -> None:
    tick = T0 - timedelta(minutes=1)
    run = driver(Trigger(kind=TriggerKind.SCHEDULE, scheduled_at=tick))
    run.start()
    run.run_all()

    queued, running, succeeded = execution_events(run)
    started = T0 + timedelta(seconds=1)  # the driver's clock moves 1 s per signal
    assert (queued.queued_at, queued.started_at, queued.ended_at) == (T0, None, None)
    assert (running.queued_at, running.started_at, running.ended_at) == (T0, started, None)
    assert queued.duration_seconds is None
    assert running.duration_seconds is None
    assert succeeded.queued_at == T0
    assert succeeded.started_at == started
    assert succeeded.ended_at == run.state.ended_at
    assert succeeded.ended_at is not None
    assert succeeded.duration_seconds == (succeeded.ended_at - started).total_seconds() > 0
    assert succeeded.trigger is not None
    assert succeeded.trigger.scheduled_at == tick


def test_an_execution_aborted_while_queued_ended_without_a_duration() -> None:
    run = driver()
    run.abort()

    _, aborted = execution_events(run)
    assert aborted.phase is ExecutionPhase.ABORTED
    assert aborted.started_at is None
    assert aborted.ended_at == T0 + timedelta(seconds=1)
    assert aborted.duration_seconds is None
    assert aborted.labels == LABELS


def test_attempt_events_carry_the_attempts_times() -> None:
    run = driver()
    run.start()
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w1"))
    error = ExecutionError(kind=ErrorKind.USER, code="ValueError", message="boom")
    run.send(AttemptFailed(node_path="n0", attempt=1, error=error))
    run.send(AttemptStarted(node_path="n0", attempt=2, worker_id="w2"))
    run.send(AttemptSucceeded(node_path="n0", attempt=2, outputs={"o": 1}))

    times = [
        (e.attempt, e.phase, e.queued_at, e.started_at, e.ended_at) for e in attempt_events(run)
    ]
    s = [T0 + timedelta(seconds=n) for n in range(5)]
    assert times == [
        (1, TaskAttemptPhase.QUEUED, s[1], None, None),
        (1, TaskAttemptPhase.RUNNING, s[1], s[2], None),
        (1, TaskAttemptPhase.RETRYABLE_FAILED, s[1], s[2], s[3]),
        (2, TaskAttemptPhase.QUEUED, s[3], None, None),
        (2, TaskAttemptPhase.RUNNING, s[3], s[4], None),
        (2, TaskAttemptPhase.SUCCEEDED, s[3], s[4], s[4] + timedelta(seconds=1)),
    ]


def test_attempt_events_and_dispatches_carry_requests_and_limits_and_the_launch_plan() -> None:
    run = driver()
    run.start()
    run.run_all()

    events = attempt_events(run)
    assert events
    assert {e.resources_requested for e in events} == {RESOURCES}
    assert run.dispatch_of("n0").resources == RESOURCES
    assert {e.workflow for e in events} == {run.state.workflow}
