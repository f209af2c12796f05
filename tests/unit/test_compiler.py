"""The workflow compiler: one test per class of error, per kind of node, and the closure."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from services.registry.domain.compiler import compile_workflow, direct_references
from services.registry.domain.errors import CompilationFailed, CompileError
from services.registry.domain.validation import duplicate_key_errors
from shared.documents import parse_json
from shared.identifiers import Identifier, ResourceType
from shared.literals import (
    INT,
    STR,
    EnumType,
    ListType,
    LiteralType,
    optional,
)
from shared.specs import (
    CompiledWorkflow,
    EntityRef,
    MapSpec,
    Node,
    NodeKind,
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowClosure,
    WorkflowSpec,
    canonical_json,
)

PROJECT, DOMAIN, VERSION = "flytesnacks", "development", "v1"
COLOR = EnumType(name="Color", values=("red", "green"))


def ident(kind: ResourceType, name: str, version: str = VERSION, **where: str) -> Identifier:
    return Identifier(
        resource_type=kind,
        project=where.get("project", PROJECT),
        domain=where.get("domain", DOMAIN),
        name=name,
        version=version,
    )


WF = ident(ResourceType.WORKFLOW, "wf")


def task_id(name: str, version: str = VERSION, **where: str) -> Identifier:
    return ident(ResourceType.TASK, name, version, **where)


def task(
    name: str, inputs: dict[str, LiteralType | Parameter], outputs: dict[str, LiteralType]
) -> TaskSpec:
    return TaskSpec(
        name=name,
        interface=TypedInterface(
            inputs={
                k: v if isinstance(v, Parameter) else Parameter(type=v) for k, v in inputs.items()
            },
            outputs={k: Variable(type=v) for k, v in outputs.items()},
        ),
    )


TASKS: dict[Identifier, TaskSpec] = {
    task_id("say_hello"): task("say_hello", {"name": STR}, {"greeting": STR}),
    task_id("length"): task("length", {"greeting": STR}, {"n": INT}),
    task_id("add"): task("add", {"a": INT, "b": Parameter(type=INT, default=0)}, {"o": INT}),
    task_id("inc"): task(
        "inc",
        {"x": INT, "step": Parameter(type=optional(INT), required=False)},
        {"o": INT},
    ),
    task_id("paint"): task("paint", {"color": COLOR}, {"o": STR}),
    task_id("total"): task("total", {"xs": ListType(item=INT)}, {"o": INT}),
    task_id("noop"): task("noop", {}, {}),
}


# --- spec builders (JSON, as the SDK sends it) -------------------------------------


def inp(name: str) -> dict[str, Any]:
    return {"kind": "input", "input": name}


def out(node: str, output: str = "o") -> dict[str, Any]:
    return {"kind": "output", "node": node, "output": output}


def lit(value: Any) -> dict[str, Any]:
    return {"kind": "literal", "value": value}


def call(node_id: str, name: str, /, **inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": "task",
        "task": {"resource_type": "task", "name": name},
        "inputs": inputs,
    }


def compare(left: dict[str, Any], op: str, right: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "comparison", "left": left, "op": op, "right": right}


def workflow(
    nodes: list[dict[str, Any]],
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    output_types: dict[str, Any] | None = None,
    name: str = "wf",
) -> WorkflowSpec:
    inputs = {"x": {"type": {"kind": "int"}}} if inputs is None else inputs
    outputs = outputs or {}
    output_types = output_types or {k: {"kind": "int"} for k in outputs}
    return WorkflowSpec.model_validate(
        {
            "name": name,
            "interface": {
                "inputs": inputs,
                "outputs": {k: {"type": t} for k, t in output_types.items()},
            },
            "nodes": nodes,
            "outputs": outputs,
        }
    )


def compile_(
    spec: WorkflowSpec,
    tasks: dict[Identifier, TaskSpec] | None = None,
    subs: dict[Identifier, WorkflowClosure] | None = None,
    identifier: Identifier = WF,
) -> WorkflowClosure:
    return compile_workflow(identifier, spec, TASKS if tasks is None else tasks, subs or {})


def errors_of(
    spec: WorkflowSpec,
    tasks: dict[Identifier, TaskSpec] | None = None,
    subs: dict[Identifier, WorkflowClosure] | None = None,
) -> list[CompileError]:
    with pytest.raises(CompilationFailed) as failed:
        compile_(spec, tasks, subs)
    assert failed.value.errors, "CompilationFailed must carry its errors"
    return failed.value.errors


def the(errors: list[CompileError], code: str) -> CompileError:
    """The one error of ``code``."""
    found = [e for e in errors if e.code == code]
    assert len(found) == 1, f"expected one {code}, got {errors}"
    return found[0]


def codes(errors: list[CompileError]) -> list[tuple[str, str | None, str | None]]:
    return [(e.code, e.node, e.input) for e in errors]


# --- kinds of node ---------------------------------------------------------------


def test_a_chain_of_task_nodes_compiles_into_its_closure() -> None:
    spec = workflow(
        [
            call("hello", "say_hello", name=inp("name")),
            call("count", "length", greeting=out("hello", "greeting")),
        ],
        inputs={"name": {"type": {"kind": "str"}, "default": "union", "required": False}},
        outputs={"n": out("count", "n")},
    )

    closure = compile_(spec)

    assert closure.primary.identifier == WF
    assert closure.primary.order == ["hello", "count"]
    assert closure.primary.upstream == {"hello": [], "count": ["hello"]}
    assert [t.identifier for t in closure.tasks] == [task_id("length"), task_id("say_hello")]
    assert closure.sub_workflows == []


def test_a_sub_workflow_node_binds_the_sub_workflow_interface() -> None:
    inner = compile_(
        workflow([call("n0", "add", a=inp("x"))], outputs={"y": out("n0")}, name="inner"),
        identifier=ident(ResourceType.WORKFLOW, "inner"),
    )
    spec = workflow(
        [
            {
                "id": "sub",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "inner"},
                "inputs": {"x": inp("x")},
            },
            call("after", "inc", x=out("sub", "y")),
        ],
        outputs={"z": out("after")},
    )

    closure = compile_(spec, subs={ident(ResourceType.WORKFLOW, "inner"): inner})

    assert closure.primary.upstream["after"] == ["sub"]
    assert [w.identifier.name for w in closure.sub_workflows] == ["inner"]
    assert [t.identifier.name for t in closure.tasks] == ["add", "inc"]


def test_a_branch_with_elif_and_else_offers_the_outputs_every_case_produces() -> None:
    spec = workflow(
        [
            call("start", "inc", x=inp("x")),
            {
                "id": "pick",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(out("start"), ">", lit(10)),
                            "then": call("big", "add", a=out("start"), b=lit(1)),
                        },
                        {
                            "condition": {
                                "kind": "and",
                                "left": compare(inp("x"), "<=", lit(2.5)),
                                "right": {
                                    "kind": "not",
                                    "operand": compare(inp("x"), "==", lit(None)),
                                },
                            },
                            "then": call("small", "inc", x=inp("x")),
                        },
                    ],
                    "otherwise": call("other", "inc", x=lit(0)),
                },
            },
            call("end", "inc", x=out("pick")),
        ],
        outputs={"y": out("end")},
    )

    closure = compile_(spec)

    assert closure.primary.order == ["start", "pick", "end"]
    assert closure.primary.upstream == {"start": [], "pick": ["start"], "end": ["pick"]}
    assert [t.identifier.name for t in closure.tasks] == ["add", "inc"]


def test_a_branch_that_fails_when_no_case_holds_offers_its_cases_outputs() -> None:
    spec = workflow(
        [
            {
                "id": "pick",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(inp("x"), ">", lit(0)),
                            "then": call("pos", "inc", x=inp("x")),
                        }
                    ],
                    "fail_message": "x must be positive",
                },
            },
        ],
        outputs={"y": out("pick")},
    )

    assert compile_(spec).primary.order == ["pick"]


def test_a_map_node_binds_lists_of_the_task_inputs_and_gives_lists() -> None:
    spec = workflow(
        [
            {
                "id": "each",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "add"}, "concurrency": 2},
                "inputs": {"a": inp("xs"), "b": {"kind": "list", "items": [lit(1), lit(2)]}},
            },
            call("sum", "total", xs=out("each")),
        ],
        inputs={"xs": {"type": {"kind": "list", "item": {"kind": "int"}}}},
        outputs={"y": out("sum")},
    )

    closure = compile_(spec)

    assert closure.primary.upstream["sum"] == ["each"]
    assert [t.identifier.name for t in closure.tasks] == ["add", "total"]


def test_a_map_that_may_partly_fail_gives_lists_of_optionals() -> None:
    spec = workflow(
        [
            {
                "id": "each",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "inc"}, "min_success_ratio": 0.5},
                "inputs": {"x": inp("xs")},
            },
            call("sum", "total", xs=out("each")),
        ],
        inputs={"xs": {"type": {"kind": "list", "item": {"kind": "int"}}}},
    )

    error = the(errors_of(spec), "type_mismatch")

    assert (error.node, error.input) == ("sum", "xs")
    assert "list[optional[int]]" in error.message


# --- the closure -----------------------------------------------------------------


def test_the_order_is_topological_and_keeps_declaration_order_between_independent_nodes() -> None:
    spec = workflow(
        [
            call("d", "add", a=out("b"), b=out("c")),
            call("b", "inc", x=out("a")),
            call("c", "inc", x=inp("x")),
            call("a", "inc", x=inp("x")),
            {**call("e", "inc", x=inp("x")), "upstream": ["d", "c"]},
        ]
    )

    primary = compile_(spec).primary

    assert primary.order == ["c", "a", "b", "d", "e"]
    assert primary.upstream == {"d": ["b", "c"], "b": ["a"], "c": [], "a": [], "e": ["c", "d"]}


def test_references_take_the_workflow_project_domain_and_version_when_absent() -> None:
    other = task_id("add", "v0", project="shared", domain="production")
    spec = workflow(
        [
            call("n0", "inc", x=inp("x")),
            {
                **call("n1", "add", a=out("n0")),
                "task": {
                    "resource_type": "task",
                    "name": "add",
                    "project": "shared",
                    "domain": "production",
                    "version": "v0",
                },
            },
        ]
    )

    closure = compile_(spec, tasks={**TASKS, other: TASKS[task_id("add")]})

    refs = [n.task for n in closure.primary.spec.nodes]
    assert [(r.project, r.domain, r.name, r.version) for r in refs if r] == [
        (PROJECT, DOMAIN, "inc", VERSION),
        ("shared", "production", "add", "v0"),
    ]
    assert [t.identifier for t in closure.tasks] == [task_id("inc"), other]


def test_direct_references_look_inside_branches_and_maps() -> None:
    spec = workflow(
        [
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(inp("x"), ">", lit(0)),
                            "then": {
                                "id": "sub",
                                "kind": "workflow",
                                "workflow": {"resource_type": "workflow", "name": "inner"},
                            },
                        }
                    ],
                    "otherwise": call("o", "inc", x=inp("x")),
                },
            },
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "add", "version": "v7"}},
            },
        ]
    )

    tasks, workflows = direct_references(spec, PROJECT, DOMAIN, VERSION)

    assert tasks == {task_id("inc"), task_id("add", "v7")}
    assert workflows == {ident(ResourceType.WORKFLOW, "inner")}


def test_sub_workflows_are_merged_deduplicated_and_each_after_what_it_references() -> None:
    leaf_id = ident(ResourceType.WORKFLOW, "leaf")
    mid_id = ident(ResourceType.WORKFLOW, "mid")
    leaf = compile_(
        workflow([call("n", "inc", x=inp("x"))], outputs={"y": out("n")}, name="leaf"),
        identifier=leaf_id,
    )
    mid = compile_(
        workflow(
            [
                {
                    "id": "n",
                    "kind": "workflow",
                    "workflow": {"resource_type": "workflow", "name": "leaf"},
                    "inputs": {"x": inp("x")},
                },
                call("m", "add", a=out("n", "y")),
            ],
            outputs={"y": out("m")},
            name="mid",
        ),
        subs={leaf_id: leaf},
        identifier=mid_id,
    )
    spec = workflow(
        [
            {
                "id": "first",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "mid"},
                "inputs": {"x": inp("x")},
            },
            {
                "id": "second",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "leaf"},
                "inputs": {"x": out("first", "y")},
            },
        ]
    )

    closure = compile_(spec, subs={leaf_id: leaf, mid_id: mid})

    assert [w.identifier.name for w in closure.sub_workflows] == ["leaf", "mid"]
    assert [t.identifier.name for t in closure.tasks] == ["add", "inc"]
    assert all(isinstance(w, CompiledWorkflow) for w in closure.sub_workflows)


def test_the_same_inputs_give_a_byte_identical_closure() -> None:
    spec = generated_workflow(60)
    tasks_forwards = dict(TASKS)
    tasks_backwards = dict(reversed(list(TASKS.items())))

    first = canonical_json(compile_(spec, tasks_forwards))
    again = canonical_json(compile_(spec, tasks_backwards))
    reparsed = WorkflowSpec.model_validate_json(spec.model_dump_json())

    assert first == again == canonical_json(compile_(reparsed, tasks_forwards))


def test_a_generated_500_node_workflow_compiles(capsys: pytest.CaptureFixture[str]) -> None:
    spec = generated_workflow(500)
    started = time.perf_counter()
    closure = compile_(spec)
    elapsed = (time.perf_counter() - started) * 1000

    with capsys.disabled():
        print(f"\ncompile of 500 nodes: {elapsed:.1f} ms (bench/compile_workflow.py measures)")
    assert len(closure.primary.order) == 500
    position = {node_id: i for i, node_id in enumerate(closure.primary.order)}
    for node_id, deps in closure.primary.upstream.items():
        assert all(position[d] < position[node_id] for d in deps)


def generated_workflow(size: int) -> WorkflowSpec:
    """Chains of ``inc`` with fan-outs of ``add`` gathered by ``total``: ``size`` nodes."""
    nodes: list[dict[str, Any]] = []
    previous = inp("x")
    while len(nodes) < size:
        k = len(nodes)
        nodes.append(call(f"c{k}", "inc", x=previous))
        previous = out(f"c{k}")
        if len(nodes) % 10 == 0:
            fan = [f"f{k}_{i}" for i in range(min(5, size - len(nodes)))]
            nodes += [call(f, "add", a=previous, b=inp("x")) for f in fan]
            if fan and len(nodes) < size:
                items = {"kind": "list", "items": [out(f) for f in fan]}
                nodes.append(call(f"t{k}", "total", xs=items))
                previous = out(f"t{k}")
    return workflow(nodes[:size], outputs={"y": previous})


# --- errors: the namespace and the graph -----------------------------------------


def test_duplicate_node_ids_are_reported_once_per_id() -> None:
    spec = workflow(
        [call("n0", "inc", x=inp("x")), call("n0", "inc", x=lit(1)), call("n1", "inc", x=lit(2))]
    )

    error = the(errors_of(spec), "duplicate_node_id")

    assert (error.node, error.input) == ("n0", None)
    assert "nodes[0], nodes[1]" in error.message


def test_ids_inside_branch_cases_share_the_workflow_namespace() -> None:
    spec = workflow(
        [
            call("n0", "inc", x=inp("x")),
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(inp("x"), ">", lit(0)),
                            "then": call("n0", "inc", x=inp("x")),
                        }
                    ],
                    "otherwise": call("b", "inc", x=inp("x")),
                },
            },
        ]
    )

    errors = [e for e in errors_of(spec) if e.code == "duplicate_node_id"]

    assert [(e.node, e.input) for e in errors] == [("n0", None), ("b", None)]
    assert "nodes[1].branch.cases[0].then" in errors[0].message
    assert "nodes[1].branch.otherwise" in errors[1].message


def test_a_cycle_names_its_nodes_in_order() -> None:
    spec = workflow(
        [
            call("n0", "inc", x=out("n1")),
            call("n1", "inc", x=out("n0")),
            call("n2", "inc", x=inp("x")),
        ]
    )

    error = the(errors_of(spec), "cycle")

    assert (error.node, error.input) == ("n0", None)
    assert "n0 -> n1 -> n0" in error.message


def test_a_node_waiting_for_itself_is_a_cycle() -> None:
    spec = workflow([{**call("n0", "inc", x=inp("x")), "upstream": ["n0"]}])

    error = the(errors_of(spec), "cycle")

    assert error.node == "n0"
    assert "n0 -> n0" in error.message


def test_a_workflow_running_itself_is_a_cycle() -> None:
    spec = workflow(
        [
            {
                "id": "again",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "wf"},
                "inputs": {"x": inp("x")},
            }
        ]
    )

    error = the(errors_of(spec), "cycle")

    assert (error.node, error.input) == ("again", None)


def test_nodes_behind_a_cycle_are_unreachable_each_reported_once() -> None:
    spec = workflow(
        [
            call("a", "inc", x=out("b")),
            call("b", "add", a=out("a"), b=out("a")),
            call("c", "add", a=out("a"), b=out("b")),
            call("d", "inc", x=out("c")),
            call("free", "inc", x=inp("x")),
        ]
    )

    errors = errors_of(spec)

    assert codes(errors) == [
        ("cycle", "a", None),
        ("unreachable_node", "c", None),
        ("unreachable_node", "d", None),
    ]
    assert "a (which is on a cycle)" in errors[1].message


def test_nodes_behind_a_node_that_does_not_compile_are_unreachable() -> None:
    spec = workflow(
        [
            call("broken", "missing", x=inp("x")),
            call("next", "inc", x=out("broken")),
            call("last", "inc", x=out("next")),
        ]
    )

    errors = errors_of(spec)

    assert codes(errors) == [
        ("unknown_reference", "broken", None),
        ("unreachable_node", "next", None),
        ("unreachable_node", "last", None),
    ]
    assert "broken (which does not compile)" in errors[2].message


def test_a_node_with_faults_of_its_own_is_reported_for_those_only() -> None:
    spec = workflow(
        [
            call("a", "missing"),
            call("b", "missing"),
            call("c", "add", a=out("a"), b=lit("two")),
            call("d", "add", a=out("a"), b=out("b")),
        ]
    )

    errors = errors_of(spec)

    assert codes(errors) == [
        ("unknown_reference", "a", None),
        ("unknown_reference", "b", None),
        ("type_mismatch", "c", "b"),
        ("unreachable_node", "d", None),
    ]
    assert errors[-1].message == (
        "node d can never run: it depends on a (which does not compile), b (which does not compile)"
    )


def test_a_binding_to_a_node_that_does_not_exist_is_unknown_node() -> None:
    spec = workflow([call("n0", "inc", x=out("nope"))])

    error = the(errors_of(spec), "unknown_node")

    assert (error.node, error.input) == ("n0", "x")
    assert "no node nope" in error.message


def test_waiting_for_a_node_that_does_not_exist_is_unknown_node() -> None:
    spec = workflow([{**call("n0", "inc", x=inp("x")), "upstream": ["ghost"]}])

    error = the(errors_of(spec), "unknown_node")

    assert (error.node, error.input) == ("n0", None)


def test_nodes_inside_a_branch_cannot_be_bound_from_outside() -> None:
    spec = workflow(
        [
            {
                "id": "b",
                "kind": "branch",
                "branch": {
                    "cases": [
                        {
                            "condition": compare(inp("x"), ">", lit(0)),
                            "then": call("inner", "inc", x=inp("x")),
                        }
                    ],
                    "otherwise": call("other", "inc", x=inp("x")),
                },
            },
            call("after", "inc", x=out("inner")),
        ]
    )

    error = the(errors_of(spec), "unknown_node")

    assert (error.node, error.input) == ("after", "x")
    assert "inside branch b" in error.message


# --- errors: bindings -------------------------------------------------------------


def test_a_binding_to_an_output_the_node_lacks_is_unknown_output() -> None:
    spec = workflow([call("n0", "inc", x=inp("x")), call("n1", "inc", x=out("n0", "nope"))])

    error = the(errors_of(spec), "unknown_output")

    assert (error.node, error.input) == ("n1", "x")
    assert "its outputs: o" in error.message


def test_a_binding_to_an_undeclared_workflow_input_is_unknown_workflow_input() -> None:
    spec = workflow([call("n0", "inc", x=inp("y"))])

    error = the(errors_of(spec), "unknown_workflow_input")

    assert (error.node, error.input) == ("n0", "x")
    assert "'y'" in error.message


def test_a_required_input_left_unbound_is_unbound_input() -> None:
    # add.b has a default and inc.step is not required: both may stay unbound.
    spec = workflow([call("n0", "add", b=lit(1)), call("n1", "add", a=lit(1))])

    errors = errors_of(spec)

    assert codes(errors) == [("unbound_input", "n0", "a")]
    assert "int" in errors[0].message


def test_workflow_outputs_must_match_the_interface_both_ways() -> None:
    spec = workflow(
        [call("n0", "inc", x=inp("x"))],
        outputs={"extra": out("n0")},
        output_types={"declared": {"kind": "int"}},
    )

    errors = errors_of(spec)

    assert codes(errors) == [("unbound_input", None, "extra"), ("unbound_input", None, "declared")]


def test_an_input_bound_twice_is_twice_bound_input() -> None:
    body = """{"name": "wf", "interface": {"inputs": {"x": {"type": {"kind": "int"}}}},
      "nodes": [{"id": "n0", "kind": "task", "task": {"resource_type": "task", "name": "add"},
                 "inputs": {"a": {"kind": "input", "input": "x"},
                            "a": {"kind": "literal", "value": 1}}}]}"""
    document = parse_json(body)

    errors = duplicate_key_errors(document.value, document.duplicates)

    assert codes(errors) == [("twice_bound_input", "n0", "a")]
    assert compile_(WorkflowSpec.model_validate(document.value)).primary.order == ["n0"]


def test_a_binding_to_an_input_the_task_does_not_declare_is_unknown_input() -> None:
    spec = workflow([call("n0", "inc", x=inp("x"), y=lit(1))])

    error = the(errors_of(spec), "unknown_input")

    assert (error.node, error.input) == ("n0", "y")
    assert "it takes x, step" in error.message


def test_an_output_of_the_wrong_type_is_a_type_mismatch_naming_both_types() -> None:
    spec = workflow(
        [call("hello", "say_hello", name=lit("a")), call("n1", "inc", x=out("hello", "greeting"))]
    )

    error = the(errors_of(spec), "type_mismatch")

    assert (error.node, error.input) == ("n1", "x")
    assert "expects int" in error.message
    assert "is str" in error.message


def test_a_literal_that_is_not_of_the_input_type_is_a_type_mismatch() -> None:
    spec = workflow([call("n0", "paint", color=lit("blue"))])

    error = the(errors_of(spec), "type_mismatch")

    assert (error.node, error.input) == ("n0", "color")
    assert "expects Color" in error.message
    assert "red, green" in error.message


def test_items_of_a_list_binding_are_checked_one_by_one() -> None:
    items = {"kind": "list", "items": [lit(1), out("hello", "greeting")]}
    spec = workflow([call("hello", "say_hello", name=lit("a")), call("sum", "total", xs=items)])

    error = the(errors_of(spec), "type_mismatch")

    assert (error.node, error.input) == ("sum", "xs")
    assert "input 'xs[1]'" in error.message


def test_an_optional_value_does_not_bind_a_required_type() -> None:
    spec = workflow(
        [call("n0", "inc", x=inp("maybe"))],
        inputs={
            "maybe": {"type": {"kind": "union", "variants": [{"kind": "int"}, {"kind": "none"}]}}
        },
    )

    error = the(errors_of(spec), "type_mismatch")

    assert "optional[int]" in error.message


def test_a_workflow_input_default_of_the_wrong_type_is_a_type_mismatch() -> None:
    spec = workflow(
        [call("n0", "inc", x=inp("x"))], inputs={"x": {"type": {"kind": "int"}, "default": "no"}}
    )

    assert codes(errors_of(spec)) == [("type_mismatch", None, "x")]


# --- errors: references -----------------------------------------------------------


def test_a_task_that_is_not_registered_is_unknown_reference_with_its_full_identifier() -> None:
    spec = workflow(
        [
            {
                **call("n0", "inc", x=inp("x")),
                "task": {"resource_type": "task", "name": "inc", "version": "v9"},
            }
        ]
    )

    error = the(errors_of(spec), "unknown_reference")

    assert (error.node, error.input) == ("n0", None)
    assert "task flytesnacks/development/inc version v9" in error.message


def test_a_sub_workflow_that_is_not_registered_is_unknown_reference() -> None:
    spec = workflow(
        [
            {
                "id": "sub",
                "kind": "workflow",
                "workflow": {"resource_type": "workflow", "name": "inner", "domain": "staging"},
            }
        ]
    )

    error = the(errors_of(spec), "unknown_reference")

    assert error.node == "sub"
    assert "workflow flytesnacks/staging/inner version v1" in error.message


def test_a_reference_to_an_invalid_project_is_unknown_reference() -> None:
    spec = workflow(
        [
            {
                **call("n0", "inc", x=inp("x")),
                "task": {"resource_type": "task", "name": "inc", "project": "Not Valid"},
            }
        ]
    )

    assert direct_references(spec, PROJECT, DOMAIN, VERSION) == (set(), set())
    error = the(errors_of(spec), "unknown_reference")
    assert "invalid project" in error.message


# --- errors: branches -------------------------------------------------------------


def branch(
    cases: list[tuple[dict[str, Any], dict[str, Any]]],
    otherwise: dict[str, Any] | None = None,
    fail_message: str | None = None,
    node_id: str = "b",
) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": "branch",
        "branch": {
            "cases": [{"condition": c, "then": t} for c, t in cases],
            "otherwise": otherwise,
            "fail_message": fail_message,
        },
    }


def test_a_comparison_operand_that_does_not_resolve_is_reported_on_the_branch() -> None:
    spec = workflow(
        [
            call("n0", "inc", x=inp("x")),
            branch(
                [(compare(out("n0", "nope"), ">", lit(1)), call("t", "inc", x=lit(1)))],
                call("e", "inc", x=lit(2)),
            ),
        ]
    )

    error = the(errors_of(spec), "unknown_output")

    assert (error.node, error.input) == ("b", None)
    assert "case 0 of branch b" in error.message


@pytest.mark.parametrize(
    ("left", "op", "right", "why"),
    [
        (inp("x"), "<", inp("s"), "don't compare"),
        (inp("s"), ">", lit(3), "don't compare"),
        (inp("flag"), "<", lit(True), "booleans compare only by == and !="),
        (inp("color"), "==", lit("blue"), "'blue' is not a value of Color"),
        (inp("color"), "<", lit("red"), "enums compare only"),
        (inp("xs"), "==", lit(1), "only numbers"),
        (inp("x"), "==", {"kind": "list", "items": [lit(1)]}, "compares a list"),
    ],
)
def test_comparisons_need_comparable_types(
    left: dict[str, Any], op: str, right: dict[str, Any], why: str
) -> None:
    inputs = {
        "x": {"type": {"kind": "int"}},
        "s": {"type": {"kind": "str"}},
        "flag": {"type": {"kind": "bool"}},
        "color": {"type": COLOR.model_dump()},
        "xs": {"type": {"kind": "list", "item": {"kind": "int"}}},
    }
    spec = workflow(
        [
            branch(
                [(compare(left, op, right), call("t", "inc", x=lit(1)))], call("e", "inc", x=lit(2))
            )
        ],
        inputs=inputs,
    )

    error = the(errors_of(spec), "type_mismatch")

    assert (error.node, error.input) == ("b", None)
    assert why in error.message


@pytest.mark.parametrize(
    ("left", "op", "right"),
    [
        (inp("x"), ">=", lit(2.5)),
        (inp("s"), "<", lit("m")),
        (inp("color"), "==", lit("red")),
        (inp("color"), "!=", inp("s")),
        (inp("flag"), "==", lit(False)),
        (inp("xs"), "==", lit(None)),
        (inp("maybe"), "<", lit(3)),
        (inp("when"), ">", inp("when")),
    ],
)
def test_comparable_types_compile(left: dict[str, Any], op: str, right: dict[str, Any]) -> None:
    inputs = {
        "x": {"type": {"kind": "int"}},
        "s": {"type": {"kind": "str"}},
        "flag": {"type": {"kind": "bool"}},
        "color": {"type": COLOR.model_dump()},
        "xs": {"type": {"kind": "list", "item": {"kind": "int"}}},
        "maybe": {"type": optional(INT).model_dump()},
        "when": {"type": {"kind": "datetime"}},
    }
    spec = workflow(
        [
            branch(
                [(compare(left, op, right), call("t", "inc", x=lit(1)))], call("e", "inc", x=lit(2))
            )
        ],
        inputs=inputs,
    )

    assert compile_(spec).primary.order == ["b"]


def test_an_output_not_produced_by_every_case_is_invalid_branch_downstream() -> None:
    spec = workflow(
        [
            branch(
                [(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit(1)))],
                otherwise=call("e", "noop"),
            ),
            call("after", "inc", x=out("b")),
        ]
    )

    error = the(errors_of(spec), "invalid_branch")

    assert (error.node, error.input) == ("after", "x")
    assert "otherwise (node e)" in error.message


def test_a_branch_without_otherwise_or_failure_has_no_outputs_downstream() -> None:
    spec = workflow(
        [
            branch([(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit(1)))]),
            call("after", "inc", x=out("b")),
        ]
    )

    error = the(errors_of(spec), "invalid_branch")

    assert (error.node, error.input) == ("after", "x")
    assert "skipped" in error.message


def test_a_branch_without_otherwise_is_fine_when_nothing_binds_its_outputs() -> None:
    spec = workflow(
        [
            branch([(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit(1)))]),
            {**call("after", "inc", x=inp("x")), "upstream": ["b"]},
        ]
    )

    assert compile_(spec).primary.upstream["after"] == ["b"]


def test_cases_whose_outputs_disagree_in_type_are_invalid_branch_downstream() -> None:
    spec = workflow(
        [
            branch(
                [(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit(1)))],
                otherwise=call("e", "paint", color=lit("red")),
            ),
            call("after", "inc", x=out("b")),
        ]
    )

    error = the(errors_of(spec), "invalid_branch")

    assert "case 0 int, otherwise str" in error.message


def test_a_branch_with_both_otherwise_and_fail_message_is_invalid_branch() -> None:
    spec = workflow(
        [
            branch(
                [(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit(1)))],
                otherwise=call("e", "inc", x=lit(1)),
                fail_message="nothing held",
            )
        ]
    )

    error = the(errors_of(spec), "invalid_branch")

    assert (error.node, error.input) == ("b", None)


def test_errors_inside_a_case_name_the_inner_node() -> None:
    spec = workflow(
        [
            branch(
                [(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit("one")))],
                otherwise=call("e", "inc", x=out("b")),
            )
        ]
    )

    errors = errors_of(spec)

    assert ("type_mismatch", "t", "x") in codes(errors)
    assert the(errors, "cycle").message == "nodes b -> b form a cycle"


# --- errors: maps and node kinds --------------------------------------------------


def map_node(node_id: str, **spec: Any) -> Node:
    return Node.model_construct(
        id=node_id,
        kind=NodeKind.MAP,
        inputs={},
        upstream=[],
        task=None,
        workflow=None,
        branch=None,
        map=MapSpec.model_construct(**spec),
        retries=None,
        timeout_seconds=None,
    )


def test_a_map_with_a_bad_concurrency_or_ratio_is_invalid_map() -> None:
    ref = {"resource_type": "task", "name": "noop"}
    spec = workflow([]).model_copy(
        update={
            "nodes": [
                map_node(
                    "m", task=EntityRef.model_validate(ref), concurrency=0, min_success_ratio=1.5
                )
            ]
        }
    )

    errors = errors_of(spec)

    assert codes(errors) == [("invalid_map", "m", None)] * 3
    assert "concurrency 0" in errors[0].message
    assert "min_success_ratio 1.5" in errors[1].message
    assert "no inputs to map over" in errors[2].message


def test_a_map_over_a_workflow_is_invalid_map() -> None:
    spec = workflow(
        [
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "workflow", "name": "inner"}},
            }
        ]
    )

    assert codes(errors_of(spec)) == [("invalid_map", "m", None)]


def test_a_map_input_must_be_a_list_of_the_task_input_type() -> None:
    spec = workflow(
        [
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "inc"}},
                "inputs": {"x": inp("x")},
            }
        ]
    )

    error = the(errors_of(spec), "type_mismatch")

    assert (error.node, error.input) == ("m", "x")
    assert "expects list[int]" in error.message


@pytest.mark.parametrize(
    ("node", "why"),
    [
        ({"id": "n", "kind": "task", "inputs": {}}, "has no 'task'"),
        (
            {**call("n", "inc", x=lit(1)), "workflow": {"resource_type": "workflow", "name": "w"}},
            "also sets 'workflow'",
        ),
        (
            {**call("n", "inc", x=lit(1)), "task": {"resource_type": "workflow", "name": "inc"}},
            "must reference a task",
        ),
        (
            {
                **branch([(compare(inp("x"), ">", lit(0)), call("t", "inc", x=lit(1)))]),
                "id": "n",
                "inputs": {"x": inp("x")},
            },
            "binds no inputs itself",
        ),
    ],
)
def test_a_node_whose_fields_do_not_fit_its_kind_is_invalid_node(
    node: dict[str, Any], why: str
) -> None:
    error = the(errors_of(workflow([node])), "invalid_node")

    assert error.node == "n"
    assert why in error.message


def test_all_errors_are_found_in_one_pass() -> None:
    spec = workflow(
        [
            call("n0", "inc", x=out("ghost")),
            call("n1", "inc", x=lit("one"), y=lit(1)),
            call("n2", "add"),
            call("n3", "missing"),
            call("n4", "inc", x=inp("nope")),
        ],
        output_types={"y": {"kind": "int"}},
    )

    assert codes(errors_of(spec)) == [
        ("unknown_node", "n0", "x"),
        ("type_mismatch", "n1", "x"),
        ("unknown_input", "n1", "y"),
        ("unbound_input", "n2", "a"),
        ("unknown_reference", "n3", None),
        ("unknown_workflow_input", "n4", "x"),
        ("unbound_input", None, "y"),
    ]


def test_errors_serialize_as_the_api_answers_them() -> None:
    error = the(errors_of(workflow([call("n0", "inc", x=out("ghost"))])), "unknown_node")

    assert error.as_dict() == {
        "code": "unknown_node",
        "node": "n0",
        "input": "x",
        "message": error.message,
    }
    assert json.dumps(error.as_dict())
