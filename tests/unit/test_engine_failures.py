"""Failure policies and abort: what stops, what is terminated, and the phases on the way."""

from __future__ import annotations

from services.launcher.domain import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CacheResult,
    Dispatch,
    Finished,
    StopReason,
    Terminate,
    WorkerLost,
)
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.literals import INT
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from shared.specs import WorkflowClosure
from tests.unit.engine_support import Driver, call, closure, inp, out, task

BOOM = ExecutionError(kind=ErrorKind.USER, code="ValueError", message="boom")


def diamond(policy: str = "fail_immediately") -> WorkflowClosure:
    """``a`` and ``b`` run in parallel; ``c`` needs ``a``; ``d`` needs ``b``."""
    return closure(
        [
            call("a", "inc", x=inp("x")),
            call("b", "inc", x=inp("x")),
            call("c", "inc", x=out("a")),
            call("d", "inc", x=out("b")),
        ],
        inputs={"x": INT},
        failure_policy=policy,
    )


def test_fail_immediately_terminates_what_runs_and_fails_once_it_stopped() -> None:
    run = Driver(diamond(), {"x": 0})
    run.start()
    run.send(AttemptStarted(node_path="b", attempt=1, worker_id="w2"))
    run.send(AttemptStarted(node_path="a", attempt=1, worker_id="w1"))
    run.send(AttemptFailed(node_path="a", attempt=1, error=BOOM))
    assert run.state.phase is ExecutionPhase.FAILING
    assert run.state.stop is StopReason.FAIL
    [terminate] = run.of(Terminate)
    assert (terminate.node_path, terminate.attempt, terminate.worker_id) == ("b", 1, "w2")
    assert run.trace()[-3:] == ["a#1 FAILED", "a FAILED", "exec FAILING"]
    run.run_all()
    assert run.trace()[-3:] == ["b#1 ABORTED", "b ABORTED", "exec FAILED"]
    assert run.node("c").phase is None
    assert run.node("d").phase is None
    assert run.state.error is not None
    assert run.state.error.message == "[a] boom"
    aborted = run.node("b").attempts[0]
    assert aborted.error is not None
    assert aborted.error.code == "Aborted"
    assert "terminated after a failure: [a] boom" in aborted.error.message
    [finished] = run.of(Finished)
    assert finished.phase is ExecutionPhase.FAILED


def test_fail_immediately_with_nothing_else_running_fails_without_failing_phase() -> None:
    run = Driver(diamond(), {"x": 0})
    run.start()
    run.send(AttemptFailed(node_path="a", attempt=1, error=BOOM))
    # b's attempt was only queued: it is aborted at once, and nothing is left to wait for.
    assert run.trace()[-5:] == [
        "a#1 FAILED",
        "a FAILED",
        "b#1 ABORTED",
        "b ABORTED",
        "exec FAILED",
    ]
    assert run.state.phase is ExecutionPhase.FAILED
    [terminate] = run.of(Terminate)
    assert (terminate.node_path, terminate.worker_id) == ("b", None)


def test_a_late_success_while_failing_is_recorded_but_starts_nothing() -> None:
    run = Driver(diamond(), {"x": 0})
    run.start()
    run.send(AttemptStarted(node_path="b", attempt=1, worker_id="w2"))
    run.send(AttemptFailed(node_path="a", attempt=1, error=BOOM))
    run.send(AttemptSucceeded(node_path="b", attempt=1, outputs={"o": 1}))
    assert run.node("b").phase is NodePhase.SUCCEEDED
    assert run.node("d").phase is None
    assert run.state.phase is ExecutionPhase.FAILED
    assert [d.node_path for d in run.of(Dispatch)] == ["a", "b"]


def test_no_retries_while_failing() -> None:
    flaky = task("flaky", {"x": INT}, {"o": INT}, retries=3)
    wf = closure(
        [call("a", "inc", x=inp("x")), call("b", "flaky", x=inp("x"))],
        inputs={"x": INT},
        tasks={"flaky": flaky},
    )
    run = Driver(wf, {"x": 0})
    run.start()
    run.send(AttemptStarted(node_path="b", attempt=1, worker_id="w2"))
    run.send(AttemptFailed(node_path="a", attempt=1, error=BOOM))
    run.send(AttemptFailed(node_path="b", attempt=1, error=BOOM))
    assert run.node("b").attempts[-1].phase is TaskAttemptPhase.FAILED
    assert len(run.node("b").attempts) == 1
    assert run.state.phase is ExecutionPhase.FAILED


def test_fail_after_executable_nodes_runs_what_it_can_then_fails() -> None:
    run = Driver(diamond("fail_after_executable_nodes_complete"), {"x": 0})
    run.start()
    run.send(AttemptFailed(node_path="a", attempt=1, error=BOOM))
    assert run.state.phase is ExecutionPhase.RUNNING
    assert run.of(Terminate) == []
    run.run_all()
    assert run.node("b").phase is NodePhase.SUCCEEDED
    assert run.node("d").phase is NodePhase.SUCCEEDED
    assert run.node("c").phase is None
    assert run.phase() is ExecutionPhase.FAILED
    assert run.state.error is not None
    assert run.state.error.message == "[a] boom"
    assert "exec FAILING" not in run.trace()


def test_abort_terminates_running_attempts_and_ends_aborted() -> None:
    run = Driver(diamond(), {"x": 0})
    run.start()
    run.send(AttemptStarted(node_path="a", attempt=1, worker_id="w1"))
    run.abort("user alice asked")
    assert run.state.phase is ExecutionPhase.ABORTING
    assert run.trace()[-3:] == ["exec ABORTING", "b#1 ABORTED", "b ABORTED"]
    assert [(t.node_path, t.worker_id) for t in run.of(Terminate)] == [("a", "w1"), ("b", None)]
    # Workers report in; a second Abort changes nothing.
    assert run.abort("again").commands == []
    run.run_all()
    assert run.phase() is ExecutionPhase.ABORTED
    assert run.trace()[-3:] == ["a#1 ABORTED", "a ABORTED", "exec ABORTED"]
    assert run.state.error is not None
    assert (run.state.error.code, run.state.error.message) == ("Aborted", "user alice asked")
    [finished] = run.of(Finished)
    assert finished.phase is ExecutionPhase.ABORTED


def test_a_lost_worker_while_aborting_counts_as_aborted() -> None:
    run = Driver(diamond(), {"x": 0})
    run.start()
    run.send(AttemptStarted(node_path="a", attempt=1, worker_id="w1"))
    run.abort()
    run.send(WorkerLost(node_path="a", attempt=1, worker_id="w1"))
    assert run.node("a").attempts[0].phase is TaskAttemptPhase.ABORTED
    assert run.state.phase is ExecutionPhase.ABORTED


def test_abort_before_start_ends_aborted_at_once() -> None:
    run = Driver(diamond(), {"x": 0})
    run.abort("changed my mind")
    assert run.trace() == ["exec QUEUED", "exec ABORTED"]
    assert run.start().commands == []


def test_abort_while_failing_ends_aborted() -> None:
    run = Driver(diamond(), {"x": 0})
    run.start()
    run.send(AttemptStarted(node_path="b", attempt=1, worker_id="w2"))
    run.send(AttemptFailed(node_path="a", attempt=1, error=BOOM))
    run.abort("enough")
    assert run.state.phase is ExecutionPhase.ABORTING
    assert len(run.of(Terminate)) == 1  # b was already asked to stop
    run.run_all()
    assert run.phase() is ExecutionPhase.ABORTED


def test_abort_during_a_cache_lookup_aborts_the_node() -> None:
    cached = task("sq", {"x": INT}, {"o": INT}, cache=True)
    wf = closure([call("n", "sq", x=inp("x"))], inputs={"x": INT}, tasks={"sq": cached})
    run = Driver(wf, {"x": 2})
    run.start()
    run.abort()
    assert run.trace()[-2:] == ["n ABORTED", "exec ABORTED"]
    assert run.send(CacheResult(node_path="n", outputs={"o": 4})).commands == []


def test_abort_inside_sub_workflows_and_maps_reaches_every_attempt() -> None:
    sub = closure([call("i", "inc", x=inp("v"))], inputs={"v": INT}, name="sub")
    wf = closure(
        [
            {
                "id": "s",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "sub"},
                "inputs": {"v": inp("x")},
            },
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "inc"}},
                "inputs": {"x": {"kind": "list", "items": [inp("x"), inp("x")]}},
            },
        ],
        inputs={"x": INT},
        sub_workflows={"sub": sub},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    for path in ("s/i", "m[0]", "m[1]"):
        run.send(AttemptStarted(node_path=path, attempt=1, worker_id="w"))
    run.abort()
    assert sorted(t.node_path for t in run.of(Terminate)) == ["m[0]", "m[1]", "s/i"]
    run.run_all()
    assert [run.node(p).phase for p in ("s/i", "s", "m[0]", "m")] == [NodePhase.ABORTED] * 4
    assert run.state.phase is ExecutionPhase.ABORTED
