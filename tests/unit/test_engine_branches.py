"""Branch nodes: each case, otherwise, fail, skip and skip propagation; conditions alone."""

from __future__ import annotations

from typing import Any

import pytest

from services.launcher.domain.conditions import ConditionError, compare, evaluate
from shared.identifiers import ResourceType
from shared.literals import BOOL, DATETIME, INT, STR, EnumType, LiteralType, SimpleType
from shared.phases import ExecutionPhase, NodePhase
from shared.specs import (
    Comparison,
    ComparisonOp,
    CompiledWorkflow,
    Conjunction,
    LiteralBinding,
    Negation,
    WorkflowClosure,
)
from tests.unit.engine_support import Driver, call, closure, ident, inp, lit, out
from tests.unit.engine_support import compare as cmp


def branching(otherwise: bool = True, fail_message: str | None = None) -> WorkflowClosure:
    branch: dict[str, Any] = {
        "cases": [
            {
                "condition": cmp(out("pre"), "<", lit(10)),
                "then": call("small", "inc", x=out("pre")),
            },
            {
                "condition": {
                    "kind": "and",
                    "left": cmp(out("pre"), ">=", lit(10)),
                    "right": cmp(out("pre"), "<", lit(100)),
                },
                "then": call("medium", "add", a=out("pre"), b=lit(100)),
            },
        ]
    }
    if otherwise:
        branch["otherwise"] = call("large", "add", a=out("pre"), b=lit(1000))
    if fail_message:
        branch["fail_message"] = fail_message
    nodes = [
        call("pre", "inc", x=inp("x")),
        {"id": "b", "kind": "branch", "branch": branch},
    ]
    outputs: dict[str, tuple[LiteralType, dict[str, Any]]] | None = (
        {"y": (INT, out("b"))} if otherwise or fail_message else None
    )
    return closure(nodes, inputs={"x": INT}, outputs=outputs)


@pytest.mark.parametrize(
    ("x", "chosen", "y"),
    [(1, "small", 3), (20, "medium", 121), (500, "large", 1501)],
)
def test_the_first_case_that_holds_runs(x: int, chosen: str, y: int) -> None:
    run = Driver(branching(), {"x": x})
    run.start()
    run.run_all()
    assert run.state.phase is ExecutionPhase.SUCCEEDED
    assert run.state.outputs == {"y": y}
    assert run.node("b").chosen == f"b/{chosen}"
    assert run.trace()[4:] == [
        "pre#1 RUNNING",
        "pre RUNNING",
        "pre#1 SUCCEEDED",
        "pre SUCCEEDED",
        "b RUNNING",
        f"b/{chosen} QUEUED",
        f"b/{chosen}#1 QUEUED",
        f"b/{chosen}#1 RUNNING",
        f"b/{chosen} RUNNING",
        f"b/{chosen}#1 SUCCEEDED",
        f"b/{chosen} SUCCEEDED",
        "b SUCCEEDED",
        "exec SUCCEEDED",
    ]
    assert run.node("b").outputs == {"o": y}


def test_no_case_and_a_fail_message_fails_the_branch() -> None:
    run = Driver(branching(otherwise=False, fail_message="x is far too big"), {"x": 500})
    run.start()
    run.run_all()
    assert run.trace()[-3:] == ["pre SUCCEEDED", "b FAILED", "exec FAILED"]
    assert run.state.error is not None
    assert run.state.error.code == "BranchFailed"
    assert run.state.error.message == "[b] x is far too big"


def test_no_case_and_no_otherwise_skips_the_branch() -> None:
    run = Driver(branching(otherwise=False), {"x": 500})
    run.start()
    run.run_all()
    assert run.trace()[-3:] == ["pre SUCCEEDED", "b SKIPPED", "exec SUCCEEDED"]
    assert run.node("b").phase is NodePhase.SKIPPED


def skip_chain(binds: bool) -> WorkflowClosure:
    """``b`` is skipped; ``after`` binds its output (or only waits for it); ``last`` follows."""
    wf = closure(
        [
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": cmp(inp("x"), "<", lit(0)),
                            "then": call("neg", "inc", x=inp("x")),
                        },
                    ]
                },
            },
            {**call("after", "inc", x=inp("x")), "upstream": ["b"]},
            call("last", "inc", x=out("after")),
            call("free", "inc", x=inp("x")),
        ],
        inputs={"x": INT},
    )
    if not binds:
        return wf
    # The compiler refuses a binding to a branch that may be skipped; build it by hand to see
    # what the engine does with one.
    nodes = [
        node.model_copy(update={"inputs": {"x": _output("b", "o")}}) if node.id == "after" else node
        for node in wf.primary.spec.nodes
    ]
    primary: CompiledWorkflow = wf.primary.model_copy(
        update={"spec": wf.primary.spec.model_copy(update={"nodes": nodes})}
    )
    return wf.model_copy(update={"primary": primary})


def _output(node: str, output: str) -> Any:
    from shared.specs import OutputBinding

    return OutputBinding(node=node, output=output)


def test_a_node_that_only_waits_for_a_skipped_node_runs() -> None:
    run = Driver(skip_chain(binds=False), {"x": 5})
    run.start()
    run.run_all()
    assert run.node("b").phase is NodePhase.SKIPPED
    assert run.node("after").phase is NodePhase.SUCCEEDED
    assert run.node("last").phase is NodePhase.SUCCEEDED


def test_skips_propagate_to_nodes_that_bind_skipped_outputs() -> None:
    run = Driver(skip_chain(binds=True), {"x": 5})
    run.start()
    run.run_all()
    assert [run.node(p).phase for p in ("b", "after", "last", "free")] == [
        NodePhase.SKIPPED,
        NodePhase.SKIPPED,
        NodePhase.SKIPPED,
        NodePhase.SUCCEEDED,
    ]
    assert run.trace() == [
        "exec QUEUED",
        "exec RUNNING",
        "b SKIPPED",
        "free QUEUED",
        "free#1 QUEUED",
        "after SKIPPED",
        "last SKIPPED",
        "free#1 RUNNING",
        "free RUNNING",
        "free#1 SUCCEEDED",
        "free SUCCEEDED",
        "exec SUCCEEDED",
    ]
    assert run.state.phase is ExecutionPhase.SUCCEEDED


def test_a_condition_that_cant_be_evaluated_fails_the_branch() -> None:
    from shared.literals import optional

    wf = closure(
        [
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [{"condition": cmp(inp("x"), "<", lit(0)), "then": call("n", "noop")}],
                    "otherwise": call("o", "noop"),
                },
            }
        ],
        inputs={"x": optional(INT)},
    )
    run = Driver(wf, {"x": None})
    run.start()
    assert run.state.phase is ExecutionPhase.FAILED
    assert run.state.error is not None
    assert run.state.error.code == "ConditionFailed"


def test_a_branch_case_can_run_a_sub_workflow() -> None:
    sub = closure(
        [call("i", "inc", x=inp("v"))],
        inputs={"v": INT},
        outputs={"w": (INT, out("i"))},
        name="sub",
    )
    wf = closure(
        [
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": cmp(inp("x"), ">", lit(0)),
                            "then": {
                                "id": "s",
                                "kind": "workflow",
                                "workflow": {"resource_type": "workflow", "name": "sub"},
                                "inputs": {"v": inp("x")},
                            },
                        }
                    ],
                    "otherwise": call("z", "inc", x=lit(0)),
                },
            }
        ],
        inputs={"x": INT},
        sub_workflows={"sub": sub},
    )
    run = Driver(wf, {"x": 2})
    run.start()
    run.run_all()
    assert run.node("b/s/i").outputs == {"o": 3}
    assert run.node("b").outputs == {"w": 3}
    assert run.state.closure.sub_workflows[0].identifier == ident(ResourceType.WORKFLOW, "sub")


# --- conditions alone ---------------------------------------------------------------------------


def lit_b(value: Any) -> LiteralBinding:
    return LiteralBinding(value=value)


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ((1, None), "<", (2.5, None), True),
        ((3, None), "==", (3.0, None), True),
        (("a", None), "<", ("b", None), True),
        ((True, BOOL), "==", (True, None), True),
        ((True, BOOL), "==", (1, None), False),
        ((None, None), "==", (None, None), True),
        ((None, None), "!=", (3, None), True),
        (("red", EnumType(values=("red", "green"))), "==", ("red", None), True),
        (("2026-01-01T01:00:00+01:00", DATETIME), "==", ("2026-01-01T00:00:00Z", None), True),
        (("2026-01-01T00:00:00+00:00", None), "<", ("2026-01-01T00:30:00+01:00", None), False),
        ((90.0, SimpleType(kind="duration")), ">=", (60, None), True),
        (("1", STR), "==", (1, None), False),
    ],
)
def test_comparisons(
    left: tuple[Any, Any], op: str, right: tuple[Any, Any], expected: bool
) -> None:
    assert compare(left, ComparisonOp(op), right) is expected


@pytest.mark.parametrize(
    ("left", "op", "right"),
    [
        ((None, None), "<", (1, None)),
        ((True, None), ">", (False, None)),
        (("a", None), "<", (1, None)),
    ],
)
def test_comparisons_that_cant_be_made(left: Any, op: str, right: Any) -> None:
    with pytest.raises(ConditionError):
        compare(left, ComparisonOp(op), right)


def test_and_or_not_combine_and_short_circuit() -> None:
    true = Comparison(left=lit_b(1), op=ComparisonOp.EQ, right=lit_b(1))
    bad = Comparison(left=lit_b(None), op=ComparisonOp.LT, right=lit_b(1))
    seen: list[Any] = []

    def operand(binding: Any) -> Any:
        seen.append(binding)
        return binding.value, None

    assert evaluate(Conjunction(kind="or", left=true, right=bad), operand) is True
    assert (
        evaluate(Negation(operand=Conjunction(kind="and", left=true, right=true)), operand) is False
    )
    with pytest.raises(ConditionError):
        evaluate(Conjunction(kind="and", left=true, right=bad), operand)
