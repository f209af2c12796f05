"""Map nodes: one item per element, a concurrency limit, a minimum success ratio."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.launcher.domain import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    Dispatch,
    Signal,
    Terminate,
)
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.literals import INT, STR, ListType, optional
from shared.phases import ExecutionPhase, NodePhase
from shared.specs import Parameter, WorkflowClosure
from tests.unit.engine_support import Driver, closure, inp, out, task

BOOM = ExecutionError(kind=ErrorKind.USER, code="ValueError", message="odd")


def mapping(
    concurrency: int | None = None, ratio: float = 1.0, *, retries: int = 0
) -> WorkflowClosure:
    check = task(
        "check", {"x": INT, "tag": Parameter(type=STR, default="t")}, {"o": INT}, retries=retries
    )
    spec: dict[str, Any] = {"task": {"resource_type": "task", "name": "check"}}
    if concurrency is not None:
        spec["concurrency"] = concurrency
    spec["min_success_ratio"] = ratio
    item = optional(INT) if ratio < 1 else INT
    return closure(
        [{"id": "m", "kind": "map", "map": spec, "inputs": {"x": inp("xs")}}],
        inputs={"xs": ListType(item=INT)},
        outputs={"ys": (ListType(item=item), out("m"))},
        tasks={"check": check},
    )


def odd_fails(dispatch: Dispatch) -> Iterable[Signal]:
    """Items with an odd input fail; the others return twice their input."""
    path, attempt = dispatch.node_path, dispatch.attempt
    yield AttemptStarted(node_path=path, attempt=attempt, worker_id="w1")
    if dispatch.inputs["x"] % 2:
        yield AttemptFailed(node_path=path, attempt=attempt, error=BOOM)
    else:
        yield AttemptSucceeded(
            node_path=path, attempt=attempt, outputs={"o": 2 * dispatch.inputs["x"]}
        )


def test_every_item_runs_and_the_outputs_are_lists() -> None:
    run = Driver(mapping(), {"xs": [1, 2, 3]}, functions={"check": lambda x, tag: {"o": x * 10}})
    run.start()
    assert [d.node_path for d in run.of(Dispatch)] == ["m[0]", "m[1]", "m[2]"]
    assert run.dispatch_of("m[1]").inputs == {"x": 2, "tag": "t"}
    run.run_all()
    assert run.state.outputs == {"ys": [10, 20, 30]}
    assert run.node("m").outputs == {"o": [10, 20, 30]}
    trace = run.trace()
    assert trace[:5] == ["exec QUEUED", "exec RUNNING", "m RUNNING", "m[0] QUEUED", "m[0]#1 QUEUED"]
    assert trace[-2:] == ["m SUCCEEDED", "exec SUCCEEDED"]


def test_concurrency_limits_the_items_running_at_once() -> None:
    run = Driver(
        mapping(concurrency=2),
        {"xs": [1, 2, 3, 4, 5]},
        functions={"check": lambda x, tag: {"o": x}},
    )
    run.start()
    assert [d.node_path for d in run.of(Dispatch)] == ["m[0]", "m[1]"]
    run.run_attempt("m[1]")
    assert [d.node_path for d in run.of(Dispatch)] == ["m[0]", "m[1]", "m[2]"]
    progress = run.node("m").map
    assert progress is not None
    assert (progress.total, progress.next_item, progress.succeeded) == (5, 3, 1)
    assert run.node("m").active == 2
    run.run_all()
    assert run.state.outputs == {"ys": [1, 2, 3, 4, 5]}


def test_enough_successes_succeed_with_holes_for_failed_items() -> None:
    run = Driver(mapping(ratio=0.5), {"xs": [1, 2, 3, 4]})
    run.start()
    run.run_all(odd_fails)
    assert run.node("m").phase is NodePhase.SUCCEEDED
    assert run.state.outputs == {"ys": [None, 4, None, 8]}
    assert run.node("m[0]").phase is NodePhase.FAILED


def test_too_few_successes_fail_the_map_and_stop_the_rest() -> None:
    run = Driver(mapping(concurrency=2, ratio=0.75), {"xs": [2, 1, 3, 4, 6, 8]})
    run.start()
    run.run_all(odd_fails)
    assert run.node("m").phase is NodePhase.FAILED
    progress = run.node("m").map
    assert progress is not None
    # 4.5 -> 5 of 6 must succeed: the second failure (item 2) ends the map; item 3, queued
    # when item 1 failed, is aborted, and items 4 and 5 never start.
    assert (progress.succeeded, progress.failed, progress.next_item) == (1, 3, 4)
    assert run.node("m[3]").phase is NodePhase.ABORTED
    assert "m[4]" not in run.state.nodes
    assert run.state.phase is ExecutionPhase.FAILED
    error = run.state.error
    assert error is not None
    assert error.code == "ValueError"
    assert error.message.startswith("[m] 1 of 6 items of the map of task check succeeded")
    assert "first failure: [m[1]] odd" in error.message


def test_a_failing_item_terminates_running_items() -> None:
    run = Driver(mapping(), {"xs": [1, 2, 3]})
    run.start()
    run.send(AttemptStarted(node_path="m[1]", attempt=1, worker_id="w2"))
    run.send(AttemptFailed(node_path="m[0]", attempt=1, error=BOOM))
    terminations = run.of(Terminate)
    assert [(t.node_path, t.worker_id) for t in terminations] == [("m[1]", "w2"), ("m[2]", None)]
    assert run.node("m[2]").phase is NodePhase.ABORTED
    assert run.node("m").phase is NodePhase.RUNNING
    assert run.state.phase is ExecutionPhase.RUNNING
    run.run_all()
    assert run.node("m[1]").phase is NodePhase.ABORTED
    assert run.node("m").phase is NodePhase.FAILED
    assert run.trace()[-4:] == ["m[1]#1 ABORTED", "m[1] ABORTED", "m FAILED", "exec FAILED"]


def test_each_item_is_retried_on_its_own() -> None:
    seen: dict[str, int] = {}

    def second_time_lucky(dispatch: Dispatch) -> Iterable[Signal]:
        seen[dispatch.node_path] = dispatch.attempt
        yield AttemptStarted(node_path=dispatch.node_path, attempt=dispatch.attempt, worker_id="w")
        if dispatch.attempt == 1 and dispatch.node_path == "m[1]":
            yield AttemptFailed(node_path=dispatch.node_path, attempt=1, error=BOOM)
        else:
            yield AttemptSucceeded(
                node_path=dispatch.node_path, attempt=dispatch.attempt, outputs={"o": 0}
            )

    run = Driver(mapping(retries=1), {"xs": [1, 2, 3]})
    run.start()
    run.run_all(second_time_lucky)
    assert seen == {"m[0]": 1, "m[1]": 2, "m[2]": 1}
    assert run.node("m").phase is NodePhase.SUCCEEDED


def test_an_empty_list_gives_empty_outputs() -> None:
    run = Driver(mapping(), {"xs": []})
    run.start()
    assert run.trace() == ["exec QUEUED", "exec RUNNING", "m SUCCEEDED", "exec SUCCEEDED"]
    assert run.state.outputs == {"ys": []}


def test_list_inputs_of_different_lengths_fail_the_map() -> None:
    pair = task("pair", {"a": INT, "b": INT}, {"o": INT})
    wf = closure(
        [
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "pair"}},
                "inputs": {"a": inp("as_"), "b": inp("bs")},
            }
        ],
        inputs={"as_": ListType(item=INT), "bs": ListType(item=INT)},
        tasks={"pair": pair},
    )
    run = Driver(wf, {"as_": [1, 2, 3], "bs": [1, 2]})
    run.start()
    assert run.trace() == ["exec QUEUED", "exec RUNNING", "m FAILED", "exec FAILED"]
    error = run.node("m").error
    assert error is not None
    assert error.code == "MapInputsMismatch"
    assert "a has 3, b has 2" in error.message


def test_recovered_items_are_not_run_again() -> None:
    run = Driver(mapping(), {"xs": [1, 2]}, functions={"check": lambda x, tag: {"o": x}})
    run.start(recovered={"m[0]": {"o": 100}})
    assert [d.node_path for d in run.of(Dispatch)] == ["m[1]"]
    run.run_all()
    assert run.state.outputs == {"ys": [100, 2]}
