"""Sub-workflow nodes: their nodes run inline under the parent's path."""

from __future__ import annotations

from services.launcher.domain import AttemptFailed, AttemptStarted, Dispatch
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.literals import INT
from shared.phases import ExecutionPhase, NodePhase
from shared.specs import Parameter, WorkflowClosure
from tests.unit.engine_support import Driver, call, closure, inp, lit, out


def sub(policy: str = "fail_immediately") -> WorkflowClosure:
    return closure(
        [
            call("n0", "inc", x=inp("v")),
            call("n1", "add", a=out("n0"), b=inp("step")),
            call("side", "inc", x=inp("v")),
        ],
        inputs={"v": INT, "step": Parameter(type=INT, default=10)},
        outputs={"w": (INT, out("n1"))},
        name="sub",
        failure_policy=policy,
    )


def parent(
    policy: str = "fail_immediately", sub_policy: str = "fail_immediately"
) -> WorkflowClosure:
    return closure(
        [
            call("a", "inc", x=inp("x")),
            {
                "id": "s",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "sub"},
                "inputs": {"v": out("a")},
            },
            call("z", "inc", x=out("s", "w")),
        ],
        inputs={"x": INT},
        outputs={"y": (INT, out("z"))},
        sub_workflows={"sub": sub(sub_policy)},
        failure_policy=policy,
    )


def test_a_sub_workflow_runs_its_nodes_inline_and_gives_its_outputs() -> None:
    run = Driver(parent(), {"x": 0})
    run.start()
    run.run_attempt("a")
    assert run.node("s").phase is NodePhase.RUNNING
    assert run.node("s").inputs == {"v": 1, "step": 10}
    assert {d.node_path for d in run.of(Dispatch)} == {"a", "s/n0", "s/side"}
    run.run_all()
    assert run.node("s/n1").outputs == {"o": 12}
    assert run.node("s").outputs == {"w": 12}
    assert run.state.outputs == {"y": 13}
    trace = run.trace()
    assert trace.index("s RUNNING") < trace.index("s/n0 QUEUED")
    assert trace.index("s/n1 SUCCEEDED") < trace.index("s SUCCEEDED") < trace.index("z QUEUED")
    assert trace[-1] == "exec SUCCEEDED"


def test_a_failure_inside_fails_the_sub_workflow_node_and_the_execution() -> None:
    run = Driver(parent(), {"x": 0})
    run.start()
    run.run_attempt("a")
    run.send(AttemptStarted(node_path="s/side", attempt=1, worker_id="w1"))
    run.send(
        AttemptFailed(
            node_path="s/n0",
            attempt=1,
            error=ExecutionError(kind=ErrorKind.USER, code="KeyError", message="k"),
        )
    )
    # s/side still runs: the sub-workflow waits for it to stop before failing.
    assert run.node("s").phase is NodePhase.RUNNING
    assert run.node("s").stopping
    assert run.state.phase is ExecutionPhase.RUNNING
    run.run_all()
    assert run.node("s/side").phase is NodePhase.ABORTED
    assert run.node("s").phase is NodePhase.FAILED
    assert run.phase() is ExecutionPhase.FAILED
    assert run.state.error is not None
    assert run.state.error.message == "[s/n0] k"
    assert run.trace()[-4:] == ["s/side#1 ABORTED", "s/side ABORTED", "s FAILED", "exec FAILED"]


def test_a_sub_workflow_keeps_its_own_failure_policy() -> None:
    run = Driver(parent(sub_policy="fail_after_executable_nodes_complete"), {"x": 0})
    run.start()
    run.run_attempt("a")
    run.send(
        AttemptFailed(
            node_path="s/n0",
            attempt=1,
            error=ExecutionError(kind=ErrorKind.USER, code="KeyError", message="k"),
        )
    )
    assert not run.node("s").stopping
    run.run_all()
    assert run.node("s/side").phase is NodePhase.SUCCEEDED
    assert run.node("s/n1").phase is None
    assert run.node("s").phase is NodePhase.FAILED
    assert run.state.phase is ExecutionPhase.FAILED


def test_an_empty_sub_workflow_succeeds_at_once() -> None:
    empty = closure([], inputs={"v": INT}, outputs={"w": (INT, inp("v"))}, name="empty")
    wf = closure(
        [
            {
                "id": "s",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "empty"},
                "inputs": {"v": lit(7)},
            }
        ],
        outputs={"y": (INT, out("s", "w"))},
        sub_workflows={"empty": empty},
    )
    run = Driver(wf)
    run.start()
    assert run.trace() == [
        "exec QUEUED",
        "exec RUNNING",
        "s RUNNING",
        "s SUCCEEDED",
        "exec SUCCEEDED",
    ]
    assert run.state.outputs == {"y": 7}


def test_nested_sub_workflows_nest_their_paths() -> None:
    inner = sub()
    middle = closure(
        [
            {
                "id": "deep",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "sub"},
                "inputs": {"v": inp("v")},
            }
        ],
        inputs={"v": INT},
        outputs={"w": (INT, out("deep", "w"))},
        name="middle",
        sub_workflows={"sub": inner},
    )
    wf = closure(
        [
            {
                "id": "m",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "middle"},
                "inputs": {"v": inp("x")},
            }
        ],
        inputs={"x": INT},
        outputs={"y": (INT, out("m", "w"))},
        sub_workflows={"middle": middle},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    run.run_all()
    assert run.node("m/deep/n1").outputs == {"o": 12}
    assert run.state.outputs == {"y": 12}
