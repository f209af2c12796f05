"""Redelivery: every signal delivered twice, at once or much later, gives the result of once.

Each scenario runs through the driver (which already checks that an immediate
second delivery is a no-op); its signals are then replayed on a fresh execution
with duplicates, and the final state and the commands must be exactly those of
the single delivery.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import datetime

import pytest

from services.launcher.domain import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    Command,
    Dispatch,
    ExecutionState,
    Signal,
    WorkerLost,
    create_execution,
    decide,
)
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.literals import INT, ListType
from tests.unit.engine_support import (
    EXECUTION,
    T0,
    Driver,
    call,
    closure,
    compare,
    inp,
    lit,
    out,
    task,
)

BOOM = ExecutionError(kind=ErrorKind.USER, code="ValueError", message="boom")


def flaky_worker(dispatch: Dispatch) -> Iterable[Signal]:
    """Fails the first attempt of every node (lost worker for ``b``, timeout for ``m[1]``)."""
    path, attempt = dispatch.node_path, dispatch.attempt
    yield AttemptStarted(node_path=path, attempt=attempt, worker_id=f"w{attempt}")
    if attempt == 1 and path == "b":
        yield WorkerLost(node_path=path, attempt=attempt, worker_id="w1")
    elif attempt == 1 and path == "m[1]":
        yield AttemptTimedOut(node_path=path, attempt=attempt)
    elif attempt == 1:
        yield AttemptFailed(node_path=path, attempt=attempt, error=BOOM)
    else:
        yield AttemptSucceeded(node_path=path, attempt=attempt, outputs={"o": attempt})


def retried_everything() -> Driver:
    flaky = task("flaky", {"x": INT}, {"o": INT}, retries=1)
    wf = closure(
        [
            call("a", "flaky", x=inp("x")),
            call("b", "flaky", x=out("a")),
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "flaky"}, "concurrency": 2},
                "inputs": {"x": {"kind": "list", "items": [out("a"), out("b"), lit(3)]}},
            },
            {
                "id": "br",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(out("b"), ">", lit(1)),
                            "then": call("hi", "flaky", x=out("b")),
                        }
                    ],
                    "otherwise": call("lo", "flaky", x=out("a")),
                },
            },
        ],
        inputs={"x": INT},
        outputs={"ys": (ListType(item=INT), out("m"))},
        tasks={"flaky": flaky},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    run.run_all(flaky_worker)
    return run


def failing_fast() -> Driver:
    wf = closure(
        [call(f"n{i}", "inc", x=inp("x")) for i in range(4)],
        inputs={"x": INT},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    for i in range(1, 4):
        run.send(AttemptStarted(node_path=f"n{i}", attempt=1, worker_id=f"w{i}"))
    run.send(AttemptFailed(node_path="n0", attempt=1, error=BOOM))
    run.run_all()
    return run


def aborted() -> Driver:
    wf = closure(
        [call("a", "inc", x=inp("x")), call("b", "inc", x=out("a"))],
        inputs={"x": INT},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    run.send(AttemptStarted(node_path="a", attempt=1, worker_id="w1"))
    run.abort("stop")
    run.run_all()
    return run


def cached() -> Driver:
    sq = task("sq", {"x": INT}, {"o": INT}, cache=True)
    wf = closure(
        [call("a", "sq", x=inp("x")), call("b", "sq", x=inp("x"))],
        inputs={"x": INT},
        tasks={"sq": sq},
    )
    run = Driver(wf, {"x": 3}, functions={"sq": lambda x: {"o": x * x}})
    run.start()
    run.run_all()
    return run


SCENARIOS: dict[str, Callable[[], Driver]] = {
    "retries of every kind": retried_everything,
    "fail fast": failing_fast,
    "abort": aborted,
    "cache": cached,
}


def replay(
    run: Driver, deliveries: list[tuple[Signal, datetime]]
) -> tuple[ExecutionState, list[Command]]:
    first = create_execution(EXECUTION, run.state.closure, run.state.inputs, T0)
    state = first.state
    commands: list[Command] = list(first.commands)
    for signal, at in deliveries:
        decision = decide(state, signal, at)
        state = decision.state
        commands.extend(decision.commands)
    return state, commands


def once(run: Driver) -> tuple[ExecutionState, list[Command]]:
    return replay(run, run.history)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_scenarios_end_where_expected(scenario: str) -> None:
    run = SCENARIOS[scenario]()
    assert run.state.phase.is_terminal
    state, commands = once(run)
    assert state == run.state
    assert commands == run.commands


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_signal_delivered_twice_in_a_row(scenario: str) -> None:
    run = SCENARIOS[scenario]()
    expected = once(run)
    doubled = [delivery for delivery in run.history for _ in range(2)]
    assert replay(run, doubled) == expected


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("seed", range(5))
def test_every_signal_delivered_again_later(scenario: str, seed: int) -> None:
    run = SCENARIOS[scenario]()
    expected = once(run)
    history = run.history
    shuffle = random.Random(seed)
    late: list[tuple[Signal, datetime]] = list(history)
    for delivery in history:
        # Redeliver each signal at some later point (Kafka redelivers after a rebalance).
        late.insert(shuffle.randint(late.index(delivery) + 1, len(late)), delivery)
    assert replay(run, late) == expected
