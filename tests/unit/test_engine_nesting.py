"""Nodes inside nodes: maps and branches in branches, skips crossing workflow boundaries,
recovery of whole sub-workflows, and a state whose node order was lost in storage."""

from __future__ import annotations

import json
from typing import Any

from services.launcher.domain import (
    Abort,
    AttemptStarted,
    Dispatch,
    ExecutionState,
    Terminate,
    decide,
)
from shared.literals import INT, ListType
from shared.phases import ExecutionPhase, NodePhase
from shared.specs import CompiledWorkflow, OutputBinding, WorkflowClosure
from tests.unit.engine_support import Driver, call, closure, compare, inp, lit, out


def test_a_branch_can_choose_a_map_whose_items_nest_under_it() -> None:
    wf = closure(
        [
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(inp("n"), ">", lit(0)),
                            "then": {
                                "id": "mm",
                                "kind": "map",
                                "map": {"task": {"resource_type": "task", "name": "inc"}},
                                "inputs": {"x": inp("xs")},
                            },
                        }
                    ],
                    "otherwise": {
                        "id": "none",
                        "kind": "map",
                        "map": {"task": {"resource_type": "task", "name": "inc"}},
                        "inputs": {"x": {"kind": "list", "items": []}},
                    },
                },
            }
        ],
        inputs={"n": INT, "xs": ListType(item=INT)},
        outputs={"ys": (ListType(item=INT), out("b"))},
    )
    run = Driver(wf, {"n": 1, "xs": [1, 2]})
    run.start()
    assert [d.node_path for d in run.of(Dispatch)] == ["b/mm[0]", "b/mm[1]"]
    run.run_all()
    assert run.state.outputs == {"ys": [2, 3]}
    assert run.node("b/mm").outputs == {"o": [2, 3]}


def test_a_branch_inside_a_branch() -> None:
    inner = {
        "id": "inner",
        "kind": "branch",
        "branch": {
            "cases": [
                {
                    "condition": compare(inp("x"), ">", lit(10)),
                    "then": call("big", "inc", x=inp("x")),
                }
            ],
            "otherwise": call("small", "inc", x=lit(0)),
        },
    }
    wf = closure(
        [
            {
                "id": "outer",
                "kind": "branch",
                "branch": {
                    "cases": [{"condition": compare(inp("x"), ">", lit(0)), "then": inner}],
                    "otherwise": call("neg", "inc", x=lit(-1)),
                },
            }
        ],
        inputs={"x": INT},
        outputs={"y": (INT, out("outer"))},
    )
    run = Driver(wf, {"x": 20})
    run.start()
    run.run_all()
    assert run.node("outer").chosen == "outer/inner"
    assert run.node("outer/inner").chosen == "outer/inner/big"
    assert run.state.outputs == {"y": 21}
    assert run.trace()[-4:] == [
        "outer/inner/big SUCCEEDED",
        "outer/inner SUCCEEDED",
        "outer SUCCEEDED",
        "exec SUCCEEDED",
    ]


def _rebind(wf: WorkflowClosure, outputs: dict[str, Any]) -> WorkflowClosure:
    """``wf`` with its outputs bound as given (past what the compiler would accept)."""
    spec = wf.primary.spec.model_copy(update={"outputs": outputs})
    primary: CompiledWorkflow = wf.primary.model_copy(update={"spec": spec})
    return wf.model_copy(update={"primary": primary})


def skipping_branch() -> dict[str, Any]:
    return {
        "id": "b",
        "kind": "branch",
        "branch": {
            "cases": [
                {
                    "condition": compare(inp("x"), "<", lit(0)),
                    "then": call("neg", "inc", x=inp("x")),
                }
            ]
        },
    }


def test_a_workflow_output_bound_to_a_skipped_node_fails_the_execution() -> None:
    base = closure([skipping_branch()], inputs={"x": INT})
    wf = _rebind(base, {"y": OutputBinding(node="b", output="o")})
    run = Driver(wf, {"x": 1})
    run.start()
    assert run.phase() is ExecutionPhase.FAILED
    assert run.state.error is not None
    assert run.state.error.code == "SkippedOutput"


def test_a_sub_workflow_whose_output_was_skipped_is_skipped() -> None:
    sub = _rebind(
        closure([skipping_branch()], inputs={"x": INT}, name="sub"),
        {"y": OutputBinding(node="b", output="o")},
    )
    wf = closure(
        [
            {
                "id": "s",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "sub"},
                "inputs": {"x": inp("x")},
            },
            {**call("after", "noop"), "upstream": ["s"]},
        ],
        inputs={"x": INT},
        sub_workflows={"sub": sub},
    )
    run = Driver(wf, {"x": 1})
    run.start()
    run.run_all()
    assert run.node("s").phase is NodePhase.SKIPPED
    assert run.node("after").phase is NodePhase.SUCCEEDED
    assert run.phase() is ExecutionPhase.SUCCEEDED


def test_a_recovered_sub_workflow_does_not_run_its_nodes() -> None:
    sub = closure(
        [call("i", "inc", x=inp("v"))],
        inputs={"v": INT},
        outputs={"w": (INT, out("i"))},
        name="sub",
    )
    wf = closure(
        [
            {
                "id": "s",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "sub"},
                "inputs": {"v": inp("x")},
            },
            call("after", "inc", x=out("s", "w")),
        ],
        inputs={"x": INT},
        outputs={"y": (INT, out("after"))},
        sub_workflows={"sub": sub},
    )
    run = Driver(wf, {"x": 1})
    run.start(recovered={"s": {"w": 10}})
    assert "s/i" not in run.state.nodes
    run.run_all()
    assert run.state.outputs == {"y": 11}


def test_decisions_do_not_depend_on_the_order_of_stored_nodes() -> None:
    wf = closure([call(f"n{i}", "inc", x=inp("x")) for i in range(5)], inputs={"x": INT})
    run = Driver(wf, {"x": 1})
    run.start()
    for i in range(5):
        run.send(AttemptStarted(node_path=f"n{i}", attempt=1, worker_id=f"w{i}"))
    document = json.loads(run.state.model_dump_json())
    document["nodes"] = dict(reversed(list(document["nodes"].items())))  # as jsonb might
    shuffled = ExecutionState.model_validate(document)
    assert list(shuffled.nodes) != list(run.state.nodes)
    a = decide(run.state, Abort(cause="x"), run.clock)
    b = decide(shuffled, Abort(cause="x"), run.clock)
    assert a.commands == b.commands
    assert [c.node_path for c in a.commands if isinstance(c, Terminate)] == [
        f"n{i}" for i in range(5)
    ]
