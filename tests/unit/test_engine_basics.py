"""The engine on plain DAGs: one task, a chain, a fan-out/fan-in, recovery, the state as JSON."""

from __future__ import annotations

from services.launcher.domain import (
    AttemptStarted,
    AttemptSucceeded,
    Dispatch,
    ExecutionState,
    Finished,
    Start,
)
from shared.events.catalogue import ExecutionPhaseChanged, NodePhaseChanged
from shared.literals import INT, ListType
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from tests.unit.engine_support import (
    EXECUTION,
    Driver,
    call,
    closure,
    inp,
    lit,
    out,
)

ONE_TASK = closure(
    [call("n0", "inc", x=inp("x"))],
    inputs={"x": INT},
    outputs={"y": (INT, out("n0"))},
)


def test_a_new_execution_is_queued_with_its_first_event() -> None:
    run = Driver(ONE_TASK, {"x": 1})
    assert run.state.phase is ExecutionPhase.QUEUED
    assert run.state.next_seq == 1
    [event] = run.events
    assert isinstance(event, ExecutionPhaseChanged)
    assert (event.seq, event.phase, event.execution) == (0, ExecutionPhase.QUEUED, EXECUTION)
    assert event.workflow == ONE_TASK.primary.identifier


def test_one_task_runs_to_succeeded_with_every_event_in_order() -> None:
    run = Driver(ONE_TASK, {"x": 1})
    run.start()
    dispatch = run.dispatch_of("n0")
    assert dispatch.inputs == {"x": 1}
    assert dispatch.task.name == "inc"
    assert dispatch.attempt == 1
    assert dispatch.execution == EXECUTION
    run.run_attempt("n0")

    assert run.trace() == [
        "exec QUEUED",
        "exec RUNNING",
        "n0 QUEUED",
        "n0#1 QUEUED",
        "n0#1 RUNNING",
        "n0 RUNNING",
        "n0#1 SUCCEEDED",
        "n0 SUCCEEDED",
        "exec SUCCEEDED",
    ]
    assert [e.seq for e in run.events] == list(range(9))
    assert run.state.phase is ExecutionPhase.SUCCEEDED
    assert run.state.outputs == {"y": 2}
    assert run.state.next_seq == 9
    [finished] = run.of(Finished)
    assert finished == Finished(phase=ExecutionPhase.SUCCEEDED, outputs={"y": 2})
    node = run.node("n0")
    assert node.phase is NodePhase.SUCCEEDED
    assert node.outputs == {"o": 2}
    [attempt] = node.attempts
    assert attempt.phase is TaskAttemptPhase.SUCCEEDED
    assert attempt.worker_id == "w1"
    assert attempt.started_at is not None
    assert attempt.ended_at is not None


def test_attempt_events_carry_worker_usage_and_requested_resources() -> None:
    run = Driver(ONE_TASK, {"x": 1})
    run.start()
    run.send(AttemptStarted(node_path="n0", attempt=1, worker_id="w7", log_uri="s3://logs/n0"))
    run.send(
        AttemptSucceeded(
            node_path="n0",
            attempt=1,
            outputs={"o": 2},
            usage={"cpu_seconds": 0.5, "peak_memory_bytes": 1024, "wall_seconds": 1.5},
        )
    )
    attempt_events = [e for e in run.events if e.__class__.__name__ == "TaskAttemptPhaseChanged"]
    running, succeeded = attempt_events[1], attempt_events[2]
    assert running.worker_id == "w7"
    assert running.log_uri == "s3://logs/n0"
    assert succeeded.resources_used is not None
    assert succeeded.resources_used.peak_memory_bytes == 1024
    assert succeeded.resources_requested == ONE_TASK.tasks[0].spec.resources


def test_a_chain_runs_one_node_after_the_other() -> None:
    wf = closure(
        [
            call("a", "inc", x=inp("x")),
            call("b", "inc", x=out("a")),
            call("c", "inc", x=out("b")),
        ],
        inputs={"x": INT},
        outputs={"y": (INT, out("c"))},
    )
    run = Driver(wf, {"x": 0})
    run.start()
    assert [d.node_path for d in run.of(Dispatch)] == ["a"]
    run.run_attempt("a")
    assert [d.node_path for d in run.of(Dispatch)] == ["a", "b"]
    assert run.dispatch_of("b").inputs == {"x": 1}
    run.run_all()
    assert run.state.outputs == {"y": 3}
    assert run.trace()[-3:] == ["c#1 SUCCEEDED", "c SUCCEEDED", "exec SUCCEEDED"]
    assert [e.seq for e in run.events] == list(range(len(run.events)))


def test_a_fan_out_runs_in_parallel_and_the_fan_in_waits_for_all() -> None:
    leaves = [call(f"l{i}", "inc", x=lit(i)) for i in range(5)]
    gather = call("sum", "total", xs={"kind": "list", "items": [out(f"l{i}") for i in range(5)]})
    wf = closure([*leaves, gather], outputs={"s": (INT, out("sum"))})
    run = Driver(wf)
    run.start()
    assert [d.node_path for d in run.of(Dispatch)] == [f"l{i}" for i in range(5)]
    for i in range(4):
        run.run_attempt(f"l{i}")
    assert run.node("sum").phase is None
    assert run.node("sum").pending == 1
    run.run_attempt("l4")
    assert run.dispatch_of("sum").inputs == {"xs": [1, 2, 3, 4, 5]}
    run.run_all()
    assert run.state.outputs == {"s": 15}


def test_explicit_upstream_orders_nodes_without_data() -> None:
    wf = closure(
        [
            call("first", "noop"),
            {**call("second", "noop"), "upstream": ["first"]},
        ]
    )
    run = Driver(wf)
    run.start()
    assert [d.node_path for d in run.of(Dispatch)] == ["first"]
    run.run_all()
    assert run.state.phase is ExecutionPhase.SUCCEEDED


def test_unbound_inputs_take_their_defaults() -> None:
    wf = closure([call("n0", "add", a=lit(2))], outputs={"o": (INT, out("n0"))})
    run = Driver(wf)
    run.start()
    assert run.dispatch_of("n0").inputs == {"a": 2, "b": 0}
    run.run_all()
    assert run.state.outputs == {"o": 2}


def test_a_workflow_without_nodes_succeeds_at_once_with_its_outputs() -> None:
    wf = closure([], inputs={"x": INT}, outputs={"y": (INT, inp("x"))})
    run = Driver(wf, {"x": 4})
    run.start()
    assert run.trace() == ["exec QUEUED", "exec RUNNING", "exec SUCCEEDED"]
    assert run.state.outputs == {"y": 4}


def test_recovered_nodes_succeed_with_their_outputs_without_running() -> None:
    wf = closure(
        [call("a", "inc", x=inp("x")), call("b", "inc", x=out("a"))],
        inputs={"x": INT},
        outputs={"y": (INT, out("b"))},
    )
    run = Driver(wf, {"x": 0})
    run.start(recovered={"a": {"o": 41}})
    assert run.trace() == ["exec QUEUED", "exec RUNNING", "a SUCCEEDED", "b QUEUED", "b#1 QUEUED"]
    assert run.node("a").attempts == ()
    assert run.dispatch_of("b").inputs == {"x": 41}
    run.run_all()
    assert run.state.outputs == {"y": 42}


def test_start_and_stale_signals_are_ignored_once_done() -> None:
    run = Driver(ONE_TASK, {"x": 1})
    run.start()
    run.run_all()
    done = run.state
    for signal in (
        Start(),
        AttemptStarted(node_path="n0", attempt=1, worker_id="w1"),
        AttemptSucceeded(node_path="n0", attempt=1, outputs={"o": 5}),
        AttemptSucceeded(node_path="nope", attempt=1, outputs={}),
    ):
        decision = run.send(signal)
        assert decision.commands == []
        assert decision.state is done


def test_signals_about_unknown_nodes_change_nothing() -> None:
    run = Driver(ONE_TASK, {"x": 1})
    run.start()
    before = run.state
    decision = run.send(AttemptSucceeded(node_path="n9", attempt=1, outputs={}))
    assert decision.state is before
    assert decision.commands == []


def test_the_state_round_trips_through_json() -> None:
    wf = closure(
        [
            call("a", "inc", x=inp("x")),
            call("b", "inc", x=out("a")),
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "inc"}, "concurrency": 1},
                "inputs": {"x": {"kind": "list", "items": [out("a"), out("b")]}},
            },
        ],
        inputs={"x": INT},
        outputs={"ys": (ListType(item=INT), out("m"))},
    )
    run = Driver(wf, {"x": 0})
    run.start()
    run.run_attempt("a")
    run.send(AttemptStarted(node_path="b", attempt=1, worker_id="w1"))
    for state in (run.state,):
        restored = ExecutionState.model_validate_json(state.model_dump_json())
        assert restored == state
    run.send(AttemptSucceeded(node_path="b", attempt=1, outputs={"o": 2}))
    restored = ExecutionState.model_validate_json(run.state.model_dump_json())
    assert restored == run.state
    # Decisions taken from the restored state are the same as from the original.
    signal = AttemptStarted(node_path="m[0]", attempt=1, worker_id="w2")
    from services.launcher.domain import decide

    a = decide(run.state, signal, run.clock)
    b = decide(restored, signal, run.clock)
    assert a.state == b.state
    assert a.commands == b.commands


def test_node_events_name_nodes_by_path_and_say_when_from_cache() -> None:
    run = Driver(ONE_TASK, {"x": 1})
    run.start()
    node_events = [e for e in run.events if isinstance(e, NodePhaseChanged)]
    assert [(e.node_id, e.phase, e.cache_hit) for e in node_events] == [
        ("n0", NodePhase.QUEUED, False)
    ]
