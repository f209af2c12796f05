"""Attempt failures: user and system retries, OOM, timeouts, exhaustion, stale reports."""

from __future__ import annotations

import pytest

from services.launcher.domain import (
    AttemptAborted,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    MachineSettings,
    WorkerLost,
    retries,
)
from shared.events.catalogue import ErrorKind, ExecutionError, TaskAttemptPhaseChanged
from shared.literals import INT
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from tests.unit.engine_support import Driver, call, closure, inp, out, task

USER_ERROR = ExecutionError(
    kind=ErrorKind.USER,
    code="ValueError",
    message="boom",
    traceback_tail='File "wf.py", line 3\nValueError: boom',
)
SYSTEM_ERROR = ExecutionError(kind=ErrorKind.SYSTEM, code="BundleFetch", message="s3 down")


def flaky(retries_: int = 2, timeout: float | None = None) -> Driver:
    spec = task("flaky", {"x": INT}, {"o": INT}, retries=retries_, timeout_seconds=timeout)
    wf = closure(
        [call("n0", "flaky", x=inp("x"))],
        inputs={"x": INT},
        outputs={"y": (INT, out("n0"))},
        tasks={"flaky": spec},
    )
    run = Driver(wf, {"x": 1}, functions={"flaky": lambda x: {"o": x}})
    run.start()
    return run


def fail(run: Driver, attempt: int, error: ExecutionError = USER_ERROR, oom: bool = False) -> None:
    run.send(AttemptStarted(node_path="n0", attempt=attempt, worker_id="w1"))
    run.send(AttemptFailed(node_path="n0", attempt=attempt, error=error, oom=oom))


def attempt_events(run: Driver) -> list[TaskAttemptPhaseChanged]:
    return [e for e in run.events if isinstance(e, TaskAttemptPhaseChanged)]


def test_a_user_error_is_retried_and_the_retry_can_succeed() -> None:
    run = flaky(retries_=2)
    fail(run, 1)
    assert run.dispatch_of("n0", 2).attempt == 2
    run.run_attempt("n0", 2)
    assert run.trace() == [
        "exec QUEUED",
        "exec RUNNING",
        "n0 QUEUED",
        "n0#1 QUEUED",
        "n0#1 RUNNING",
        "n0 RUNNING",
        "n0#1 RETRYABLE_FAILED",
        "n0#2 QUEUED",
        "n0#2 RUNNING",
        "n0#2 SUCCEEDED",
        "n0 SUCCEEDED",
        "exec SUCCEEDED",
    ]
    failed = attempt_events(run)[2]
    assert failed.error == USER_ERROR
    assert run.node("n0").user_retries == 1
    assert run.node("n0").system_retries == 0


def test_user_retries_run_out_and_the_node_and_execution_fail() -> None:
    run = flaky(retries_=1)
    fail(run, 1)
    fail(run, 2)
    assert run.trace()[-6:] == [
        "n0#1 RETRYABLE_FAILED",
        "n0#2 QUEUED",
        "n0#2 RUNNING",
        "n0#2 FAILED",
        "n0 FAILED",
        "exec FAILED",
    ]
    assert run.state.phase is ExecutionPhase.FAILED
    assert run.state.error is not None
    assert run.state.error.code == "ValueError"
    assert run.state.error.message == "[n0] boom"
    assert run.state.error.traceback_tail == USER_ERROR.traceback_tail
    assert run.node("n0").error == USER_ERROR


def test_no_retries_fails_at_the_first_error() -> None:
    run = flaky(retries_=0)
    fail(run, 1)
    assert run.node("n0").phase is NodePhase.FAILED
    assert [a.phase for a in run.node("n0").attempts] == [TaskAttemptPhase.FAILED]


def test_system_errors_spend_the_system_budget_not_the_users() -> None:
    run = flaky(retries_=0)
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w1"))
    run.send(WorkerLost(node_path="n0", attempt=1, worker_id="w1"))
    fail(run, 2, SYSTEM_ERROR)
    run.send(AttemptStarted(node_path="n0", attempt=3, worker_id="w2"))
    run.send(WorkerLost(node_path="n0", attempt=3, worker_id="w2"))
    run.run_attempt("n0", 4)
    node = run.node("n0")
    assert node.phase is NodePhase.SUCCEEDED
    assert (node.user_retries, node.system_retries) == (0, 3)
    lost = node.attempts[0]
    assert lost.phase is TaskAttemptPhase.RETRYABLE_FAILED
    assert lost.error is not None
    assert (lost.error.kind, lost.error.code) == (ErrorKind.SYSTEM, "WorkerLost")


def test_system_retries_run_out() -> None:
    run = flaky(retries_=5)
    run.settings = MachineSettings(system_retries=1)
    for attempt in (1, 2):
        run.send(AttemptStarted(node_path="n0", attempt=attempt, worker_id="w1"))
        run.send(WorkerLost(node_path="n0", attempt=attempt, worker_id="w1"))
    assert run.node("n0").phase is NodePhase.FAILED
    assert run.state.error is not None
    assert run.state.error.code == "WorkerLost"


def test_user_and_system_budgets_are_independent() -> None:
    run = flaky(retries_=1)
    fail(run, 1)  # user 1/1
    run.send(AttemptStarted(node_path="n0", attempt=2, worker_id="w1"))
    run.send(WorkerLost(node_path="n0", attempt=2, worker_id="w1"))  # system 1/3
    assert run.dispatch_of("n0", 3)
    fail(run, 3)  # user budget spent
    assert run.node("n0").phase is NodePhase.FAILED


def test_oom_is_a_user_error_with_its_own_code() -> None:
    run = flaky(retries_=1)
    fail(run, 1, SYSTEM_ERROR, oom=True)
    first = run.node("n0").attempts[0]
    assert first.error is not None
    assert (first.error.kind, first.error.code) == (ErrorKind.USER, "OOMKilled")
    fail(run, 2, USER_ERROR, oom=True)
    assert run.node("n0").phase is NodePhase.FAILED
    assert run.state.error is not None
    assert run.state.error.code == "OOMKilled"


def test_a_timeout_spends_a_user_retry_then_ends_timed_out() -> None:
    run = flaky(retries_=1, timeout=30)
    assert run.dispatch_of("n0").timeout_seconds == 30
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w1"))
    run.send(AttemptTimedOut(node_path="n0", attempt=1))
    run.send(AttemptStarted(node_path="n0", attempt=2, worker_id="w1"))
    run.send(AttemptTimedOut(node_path="n0", attempt=2))
    assert run.trace()[-6:] == [
        "n0#1 RETRYABLE_FAILED",
        "n0#2 QUEUED",
        "n0#2 RUNNING",
        "n0#2 TIMED_OUT",
        "n0 TIMED_OUT",
        "exec FAILED",
    ]
    first = run.node("n0").attempts[0]
    assert first.error is not None
    assert first.error.code == "Timeout"
    assert "30 s" in first.error.message
    assert run.node("n0").user_retries == 1


def test_the_node_overrides_the_tasks_retries_and_timeout() -> None:
    spec = task("flaky", {"x": INT}, {"o": INT}, retries=0, timeout_seconds=10)
    wf = closure(
        [{**call("n0", "flaky", x=inp("x")), "retries": 1, "timeout_seconds": 5}],
        inputs={"x": INT},
        tasks={"flaky": spec},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    assert run.dispatch_of("n0").timeout_seconds == 5
    fail(run, 1)
    assert run.dispatch_of("n0", 2)


def test_missing_outputs_fail_the_attempt_as_a_user_error() -> None:
    run = flaky(retries_=0)
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w1"))
    run.send(AttemptSucceeded(node_path="n0", attempt=1, outputs={"other": 1}))
    attempt = run.node("n0").attempts[0]
    assert attempt.phase is TaskAttemptPhase.FAILED
    assert attempt.error is not None
    assert attempt.error.code == "MissingOutputs"


def test_a_worker_aborting_on_its_own_is_a_system_error() -> None:
    run = flaky(retries_=0)
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w1"))
    run.send(AttemptAborted(node_path="n0", attempt=1))
    first = run.node("n0").attempts[0]
    assert first.phase is TaskAttemptPhase.RETRYABLE_FAILED
    assert first.error is not None
    assert first.error.code == "AttemptAborted"
    assert run.dispatch_of("n0", 2)


def test_a_failure_reported_before_the_start_still_counts() -> None:
    run = flaky(retries_=0)
    run.send(AttemptFailed(node_path="n0", attempt=1, error=USER_ERROR))
    assert run.trace()[-4:] == ["n0#1 QUEUED", "n0#1 FAILED", "n0 FAILED", "exec FAILED"]


def test_reports_about_superseded_attempts_are_ignored() -> None:
    run = flaky(retries_=2)
    fail(run, 1)
    before = run.state
    for signal in (
        AttemptStarted(node_path="n0", attempt=1, worker_id="w1"),
        AttemptSucceeded(node_path="n0", attempt=1, outputs={"o": 1}),
        AttemptFailed(node_path="n0", attempt=1, error=USER_ERROR),
        AttemptTimedOut(node_path="n0", attempt=1),
        WorkerLost(node_path="n0", attempt=1, worker_id="w1"),
        AttemptAborted(node_path="n0", attempt=1),
        AttemptSucceeded(node_path="n0", attempt=3, outputs={"o": 1}),
    ):
        decision = run.send(signal)
        assert decision.commands == []
        assert decision.state is before


def test_worker_lost_from_another_worker_is_ignored() -> None:
    run = flaky()
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w1"))
    decision = run.send(WorkerLost(node_path="n0", attempt=1, worker_id="w2"))
    assert decision.commands == []


# --- the policy alone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "spent", "expected"),
    [
        (
            retries.reported(USER_ERROR, oom=False),
            (0, 0),
            (TaskAttemptPhase.RETRYABLE_FAILED, None),
        ),
        (
            retries.reported(USER_ERROR, oom=False),
            (2, 0),
            (TaskAttemptPhase.FAILED, NodePhase.FAILED),
        ),
        (
            retries.reported(SYSTEM_ERROR, oom=False),
            (2, 0),
            (TaskAttemptPhase.RETRYABLE_FAILED, None),
        ),
        (
            retries.reported(SYSTEM_ERROR, oom=False),
            (0, 3),
            (TaskAttemptPhase.FAILED, NodePhase.FAILED),
        ),
        (retries.timed_out(1.0), (1, 0), (TaskAttemptPhase.RETRYABLE_FAILED, None)),
        (retries.timed_out(1.0), (2, 0), (TaskAttemptPhase.TIMED_OUT, NodePhase.TIMED_OUT)),
        (retries.worker_lost("w"), (2, 2), (TaskAttemptPhase.RETRYABLE_FAILED, None)),
        (
            retries.terminated("stop", ErrorKind.USER),
            (0, 0),
            (TaskAttemptPhase.ABORTED, NodePhase.ABORTED),
        ),
    ],
)
def test_retry_policy(
    failure: retries.Failure,
    spent: tuple[int, int],
    expected: tuple[TaskAttemptPhase, NodePhase | None],
) -> None:
    outcome = retries.on_failure(
        failure, retries.RetryBudget(user=2, system=3), *spent, may_retry=True
    )
    assert (outcome.attempt_phase, outcome.node_phase) == expected


def test_nothing_is_retried_when_retrying_is_not_allowed() -> None:
    outcome = retries.on_failure(
        retries.worker_lost("w"), retries.RetryBudget(user=2, system=3), 0, 0, may_retry=False
    )
    assert (outcome.attempt_phase, outcome.node_phase) == (
        TaskAttemptPhase.FAILED,
        NodePhase.FAILED,
    )
