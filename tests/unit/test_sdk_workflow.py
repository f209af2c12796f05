"""``@workflow``: nodes, bindings, branches, maps, sub-workflows, ``>>``, and their errors."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import pytest

from contrail import (
    DefinitionError,
    ExecutionFailed,
    conditional,
    map_task,
    node_of,
    task,
    workflow,
)
from shared.identifiers import ResourceType
from shared.literals import INT, STR, ListType, optional
from shared.specs import (
    Comparison,
    ComparisonOp,
    Conjunction,
    DictBinding,
    EntityRef,
    InputBinding,
    ListBinding,
    LiteralBinding,
    Negation,
    NodeKind,
    OutputBinding,
    Parameter,
    WorkflowSpec,
)

M = __name__


@task
def inc(x: int) -> int:
    return x + 1


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def describe(counts: dict[str, int], label: str = "counts") -> str:
    return f"{label}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


@task
def say(x: int) -> str:
    return f"say {x}"


@task
def shout(x: int) -> str:
    return f"SHOUT {x}"


@task
def whisper(x: int) -> str:
    return f"whisper {x}"


@task
def side_effect() -> None:
    return None


class MinMax(NamedTuple):
    low: int
    high: int


@task
def bounds(xs: list[int]) -> MinMax:
    return MinMax(low=min(xs), high=max(xs))


def _task_ref(fn_name: str) -> EntityRef:
    return EntityRef(resource_type=ResourceType.TASK, name=f"{M}.{fn_name}")


# --- task nodes and bindings ----------------------------------------------------------


@workflow
def chain(x: int, y: int = 5) -> tuple[int, int]:
    a = inc(x=x)
    b = inc(x=a)
    return b, total(xs=[a, b, y, 7])


def test_task_nodes_in_call_order_with_bindings() -> None:
    spec = chain.spec()
    assert spec.name == f"{M}.chain"
    assert spec.interface.inputs["y"] == Parameter(type=INT, default=5, required=False)
    assert [n.id for n in spec.nodes] == ["n0", "n1", "n2"]
    n0, n1, n2 = spec.nodes
    assert n0.kind is NodeKind.TASK
    assert n0.task == _task_ref("inc")
    assert n0.inputs == {"x": InputBinding(input="x")}
    assert n1.inputs == {"x": OutputBinding(node="n0", output="o0")}
    assert n2.inputs == {
        "xs": ListBinding(
            items=[
                OutputBinding(node="n0", output="o0"),
                OutputBinding(node="n1", output="o0"),
                InputBinding(input="y"),
                LiteralBinding(value=7),
            ]
        )
    }
    assert spec.outputs == {
        "o0": OutputBinding(node="n1", output="o0"),
        "o1": OutputBinding(node="n2", output="o0"),
    }
    assert chain(x=1) == (3, 2 + 3 + 5 + 7)


@workflow
def with_dict(x: int) -> str:
    return describe(counts={"x": x, "one": 1})


def test_dicts_mixing_promises_become_dict_bindings_and_defaults_literals() -> None:
    (node,) = with_dict.spec().nodes
    assert node.inputs == {
        "counts": DictBinding(items={"x": InputBinding(input="x"), "one": LiteralBinding(value=1)}),
        "label": LiteralBinding(value="counts"),
    }
    assert with_dict(x=4) == "counts: one=1, x=4"


@workflow
def named(xs: list[int]) -> MinMax:
    result = bounds(xs=xs)
    low, _ = result
    return MinMax(low=inc(x=low), high=result.high)


def test_named_outputs_unpack_and_read_by_name() -> None:
    spec = named.spec()
    assert list(spec.interface.outputs) == ["low", "high"]
    assert spec.outputs == {
        "low": OutputBinding(node="n1", output="o0"),
        "high": OutputBinding(node="n0", output="high"),
    }
    assert named(xs=[3, 1, 2]) == MinMax(low=2, high=3)


@workflow
def ordered(x: int) -> int:
    first = side_effect()
    second = inc(x=x)
    node_of(first) >> node_of(second)
    third: Any = inc(x=x)
    cast(Any, second) >> third.ref
    return cast(int, third)


def test_explicit_upstream_with_rshift() -> None:
    nodes = ordered.spec().nodes
    assert [n.upstream for n in nodes] == [[], ["n0"], ["n1"]]
    assert ordered(x=1) == 2


@workflow
def parent(x: int) -> tuple[int, int]:
    a, b = chain(x=x, y=1)
    return a, b


def test_sub_workflow_node() -> None:
    (node,) = parent.spec().nodes
    assert node.kind is NodeKind.WORKFLOW
    assert node.workflow == EntityRef(resource_type=ResourceType.WORKFLOW, name=f"{M}.chain")
    assert node.inputs == {"x": InputBinding(input="x"), "y": LiteralBinding(value=1)}
    assert parent.references() == [chain]
    assert parent(x=0) == (2, 1 + 2 + 1 + 7)


# --- branches -------------------------------------------------------------------------


@workflow
def branchy(x: int) -> str:
    y = inc(x=x)
    return (
        conditional("size")
        .if_(y == 3)
        .then(say(x=y))
        .elif_((y > 5) & (x < 10) | ~(y != 4))
        .then(shout(x=y))
        .else_()
        .then(whisper(x=x))
    )


def test_branch_spec() -> None:
    spec = branchy.spec()
    assert [n.id for n in spec.nodes] == ["n0", "n1"]
    node = spec.nodes[1]
    assert node.kind is NodeKind.BRANCH
    assert node.upstream == ["n0"]
    assert node.branch is not None
    first, second = node.branch.cases
    y = OutputBinding(node="n0", output="o0")
    assert first.condition == Comparison(left=y, op=ComparisonOp.EQ, right=LiteralBinding(value=3))
    assert first.then.id == "n2"
    assert first.then.task == _task_ref("say")
    assert first.then.inputs == {"x": y}
    condition = second.condition
    assert isinstance(condition, Conjunction)
    assert condition.kind == "or"
    assert isinstance(condition.left, Conjunction)
    assert condition.left.kind == "and"
    assert condition.left.right == Comparison(
        left=InputBinding(input="x"), op=ComparisonOp.LT, right=LiteralBinding(value=10)
    )
    assert isinstance(condition.right, Negation)
    assert second.then.id == "n3"
    assert node.branch.otherwise is not None
    assert node.branch.otherwise.id == "n4"
    assert node.branch.fail_message is None
    assert spec.outputs == {"o0": OutputBinding(node="n1", output="o0")}


def test_branch_runs_the_first_case_that_holds() -> None:
    assert branchy(x=2) == "say 3"
    assert branchy(x=6) == "SHOUT 7"
    assert branchy(x=3) == "SHOUT 4"
    assert branchy(x=20) == "whisper 20"


@workflow
def guarded(x: int) -> str:
    return conditional("positive").if_(x > 0).then(say(x=x)).else_().fail("x must be positive")


def test_branch_fail() -> None:
    node = guarded.spec().nodes[0]
    assert node.branch is not None
    assert node.branch.otherwise is None
    assert node.branch.fail_message == "x must be positive"
    assert guarded(x=1) == "say 1"
    with pytest.raises(ExecutionFailed, match="x must be positive"):
        guarded(x=0)


def test_branch_errors() -> None:
    with pytest.raises(DefinitionError, match="not finished"):

        @workflow
        def unfinished(x: int) -> None:
            conditional("c").if_(x > 1).then(say(x=x))

    with pytest.raises(DefinitionError, match="single call"):

        @workflow
        def two_calls(x: int) -> str:
            return conditional("c").if_(x > 1).then(say(x=inc(x=x))).else_().then(say(x=x))

    with pytest.raises(DefinitionError, match=r"same outputs|first case"):

        @workflow
        def different(x: int) -> str:
            return conditional("c").if_(x > 1).then(say(x=x)).else_().then(inc(x=x))  # type: ignore[arg-type]

    with pytest.raises(DefinitionError, match="can't be used in 'if'"):

        @workflow
        def plain_if(x: int) -> str:
            if x > 1:
                return say(x=x)
            return shout(x=x)

    with pytest.raises(DefinitionError, match="can't compare"):

        @workflow
        def bad_constant(x: int) -> str:
            a: object = "a"
            return conditional("c").if_(x == a).then(say(x=x)).else_().then(shout(x=x))

    with pytest.raises(DefinitionError, match="used inside a @workflow"):
        conditional("outside")


# --- maps ----------------------------------------------------------------------


@workflow
def mapped(xs: list[int]) -> int:
    return total(xs=map_task(inc, concurrency=2)(x=xs))


@workflow
def tolerant(xs: list[int]) -> list[int | None]:
    return map_task(inc, min_success_ratio=0.5)(x=xs)  # type: ignore[return-value]


def test_map_spec_and_run() -> None:
    node = mapped.spec().nodes[0]
    assert node.kind is NodeKind.MAP
    assert node.task is None
    assert node.map is not None
    assert node.map.task == _task_ref("inc")
    assert node.map.concurrency == 2
    assert node.map.min_success_ratio == 1.0
    assert mapped(xs=[1, 2, 3]) == 9
    assert tolerant.spec().interface.outputs["o0"].type == ListType(item=optional(INT))
    assert mapped.references() == [inc, total]


def test_map_runs_locally_with_its_success_ratio() -> None:
    @task
    def picky(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    assert map_task(picky, min_success_ratio=0.5)(x=[1, -1]) == [1, None]
    with pytest.raises(ExecutionFailed, match="1 of 3 items succeeded"):
        map_task(picky, min_success_ratio=0.5)(x=[1, -1, -2])
    with pytest.raises(ValueError, match="negative"):
        map_task(picky)(x=[1, -1])


def test_map_errors() -> None:
    with pytest.raises(DefinitionError, match="concurrency"):
        map_task(inc, concurrency=0)
    with pytest.raises(DefinitionError, match="min_success_ratio"):
        map_task(inc, min_success_ratio=1.5)
    with pytest.raises(DefinitionError, match="at most one output"):
        map_task(bounds)
    with pytest.raises(DefinitionError, match=r"expected list\[int\]"):

        @workflow
        def not_a_list(x: int) -> list[int]:
            return map_task(inc)(x=x)


# --- errors in workflows ------------------------------------------------------------


def test_positional_call_in_a_workflow_is_an_error() -> None:
    with pytest.raises(DefinitionError, match=r"keyword arguments: inc\(x=\.\.\.\)") as caught:

        @workflow
        def positional(x: int) -> int:
            return inc(x)

    assert "test_sdk_workflow.py:" in str(caught.value)


def test_type_mismatch_names_node_and_input() -> None:
    with pytest.raises(DefinitionError, match=r"inc\(\.\.\.\): input 'x': expected int, got"):

        @workflow
        def mismatch(x: str) -> int:
            return inc(x=x)  # type: ignore[arg-type]

    with pytest.raises(DefinitionError, match=r"input 'x': expected int, got str 'a'"):

        @workflow
        def bad_literal() -> int:
            return inc(x="a")  # type: ignore[arg-type]


def test_missing_and_unknown_inputs_are_errors() -> None:
    with pytest.raises(DefinitionError, match="missing input 'x'"):

        @workflow
        def missing() -> int:
            return inc()  # type: ignore[call-arg]

    with pytest.raises(DefinitionError, match="unknown input 'y'"):

        @workflow
        def unknown(x: int) -> int:
            return inc(x=x, y=1)  # type: ignore[call-arg]


def test_wrong_outputs_are_errors() -> None:
    with pytest.raises(DefinitionError, match="output 'o0': expected str"):

        @workflow
        def wrong_type(x: int) -> str:
            return inc(x=x)  # type: ignore[return-value]

    with pytest.raises(DefinitionError, match="declared 2 outputs"):

        @workflow
        def wrong_count(x: int) -> tuple[int, int]:
            return inc(x=x)  # type: ignore[return-value]


def test_python_errors_while_compiling_name_the_workflow() -> None:
    with pytest.raises(DefinitionError, match=r"workflow .*arith .*TypeError"):

        @workflow
        def arith(x: int) -> int:
            return inc(x=x + 1)


def test_rshift_needs_nodes() -> None:
    with pytest.raises(DefinitionError, match="a workflow input does not"):

        @workflow
        def input_first(x: int) -> int:
            node_of(x) >> node_of(inc(x=x))
            return x


def test_rshift_cycle_is_an_error() -> None:
    with pytest.raises(DefinitionError, match="cycle"):

        @workflow
        def cyclic(x: int) -> int:
            a = inc(x=x)
            b = inc(x=a)
            node_of(b) >> node_of(a)
            return b


def test_workflow_spec_is_a_valid_model() -> None:
    for wf in (chain, with_dict, named, ordered, parent, branchy, guarded, mapped, tolerant):
        spec = wf.spec()
        assert WorkflowSpec.model_validate_json(spec.model_dump_json()) == spec
    assert branchy.interface.outputs["o0"].type == STR
