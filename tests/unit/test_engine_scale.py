"""Big executions in memory: a 1,000-leaf fan-out, a 100-node chain, a 1,000-item map.

No wall-clock asserts: ``drive`` prints decisions per second (see them with
``pytest -s``), and the tests check that a signal touches a bounded number of
node states, whatever the size of the execution.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.launcher.domain import (
    AttemptStarted,
    AttemptSucceeded,
    Dispatch,
    ExecutionState,
    Signal,
    Start,
    create_execution,
    decide,
)
from shared.literals import INT, ListType
from shared.phases import ExecutionPhase
from shared.specs import WorkflowClosure
from tests.unit.engine_support import EXECUTION, T0, call, closure, inp, lit, out


@dataclass(frozen=True)
class Step:
    """What one decision did (decisions themselves are not kept: each holds a whole state)."""

    changed_nodes: int
    dispatches: int
    seqs: list[int]


def drive(label: str, wf: WorkflowClosure) -> tuple[ExecutionState, list[Step]]:
    """Run ``wf`` with a worker that succeeds every attempt at once; print the rate."""
    clock = T0
    state = create_execution(EXECUTION, wf, {"x": 0}, clock).state
    signals: deque[Signal] = deque([Start()])
    steps: list[Step] = []
    began = time.perf_counter()
    while signals:
        clock += timedelta(milliseconds=1)
        decision = decide(state, signals.popleft(), clock)
        steps.append(
            Step(
                len(decision.changed_nodes),
                sum(isinstance(c, Dispatch) for c in decision.commands),
                [e.seq for e in decision.events],
            )
        )
        state = decision.state
        for command in decision.commands:
            if isinstance(command, Dispatch):
                outputs: dict[str, Any] = (
                    {"o": sum(command.inputs["xs"])}
                    if "xs" in command.inputs
                    else {"o": command.inputs["x"] + 1}
                )
                signals.append(
                    AttemptStarted(node_path=command.node_path, attempt=1, worker_id="w")
                )
                signals.append(
                    AttemptSucceeded(node_path=command.node_path, attempt=1, outputs=outputs)
                )
    elapsed = time.perf_counter() - began
    print(f"\n{label}: {len(steps)} decisions, {len(steps) / elapsed:.0f}/s (with the fake worker)")
    return state, steps


def test_a_fan_out_of_1000_leaves() -> None:
    leaves = [call(f"l{i}", "inc", x=inp("x")) for i in range(1000)]
    gather = call("sum", "total", xs={"kind": "list", "items": [out(f"l{i}") for i in range(1000)]})
    wf = closure([*leaves, gather], inputs={"x": INT}, outputs={"s": (INT, out("sum"))})
    final, steps = drive("fan-out of 1,000", wf)
    assert final.phase is ExecutionPhase.SUCCEEDED
    assert final.outputs == {"s": 1000}
    assert steps[0].dispatches == 1000
    # After the start, a signal touches the leaf and, at most, the fan-in node.
    assert max(step.changed_nodes for step in steps[1:]) <= 2
    seqs = [seq for step in steps for seq in step.seqs]
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_chain_of_100_nodes() -> None:
    nodes = [call("n0", "inc", x=inp("x"))]
    nodes += [call(f"n{i}", "inc", x=out(f"n{i - 1}")) for i in range(1, 100)]
    wf = closure(nodes, inputs={"x": INT}, outputs={"y": (INT, out("n99"))})
    final, steps = drive("chain of 100", wf)
    assert final.outputs == {"y": 100}
    assert max(step.changed_nodes for step in steps[1:]) <= 2


def test_a_map_of_1000_items() -> None:
    source = {"kind": "list", "items": [lit(i) for i in range(1000)]}
    wf = closure(
        [
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "inc"}, "concurrency": 50},
                "inputs": {"x": source},
            }
        ],
        inputs={"x": INT},
        outputs={"ys": (ListType(item=INT), out("m"))},
    )
    final, steps = drive("map of 1,000 items, 50 at a time", wf)
    assert final.outputs == {"ys": list(range(1, 1001))}
    # An item's success touches the item, the map node and the next item.
    assert max(step.changed_nodes for step in steps[1:]) <= 3
