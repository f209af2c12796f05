"""Benchmark: compile a generated workflow of 500 nodes (pure, no I/O).

The workflow is made of segments: a chain of tasks, a fan-out of tasks that
all read the chain's end, a fan-in that gathers the fan-out into a list, a map
over that list, and a branch on the fan-in's result. It prints the
distribution of ``compile_workflow``'s time over the runs, and the time of
``canonical_json`` of the closure (what the registry stores).

    .venv/bin/python bench/compile_workflow.py --nodes 500 --runs 50
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from services.registry.domain.compiler import compile_workflow, direct_references
from shared.identifiers import Identifier, ResourceType
from shared.literals import INT, ListType
from shared.specs import (
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
    canonical_json,
)

PROJECT, DOMAIN, VERSION = "bench", "development", "v1"
CHAIN, FAN = 20, 20


def _task(name: str, inputs: dict[str, Any], output: Any) -> TaskSpec:
    return TaskSpec(
        name=name,
        interface=TypedInterface(
            inputs={k: Parameter(type=t) for k, t in inputs.items()},
            outputs={"o": Variable(type=output)},
        ),
    )


TASKS = {
    "inc": _task("inc", {"x": INT}, INT),
    "add": _task("add", {"a": INT, "b": INT}, INT),
    "total": _task("total", {"xs": ListType(item=INT)}, INT),
}


def _call(node_id: str, task: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": "task",
        "task": {"resource_type": "task", "name": task},
        "inputs": inputs,
    }


def _out(node_id: str) -> dict[str, Any]:
    return {"kind": "output", "node": node_id, "output": "o"}


def generated_workflow(size: int) -> WorkflowSpec:
    """A valid workflow of exactly ``size`` top-level nodes."""
    nodes: list[dict[str, Any]] = []
    previous: dict[str, Any] = {"kind": "input", "input": "x"}

    def add(node: dict[str, Any]) -> bool:
        nodes.append(node)
        return len(nodes) < size

    segment = 0
    while len(nodes) < size:
        tag = f"s{segment}"
        for i in range(CHAIN):
            if not add(_call(f"{tag}_c{i}", "inc", {"x": previous})):
                break
            previous = _out(f"{tag}_c{i}")
        fan = []
        for i in range(FAN):
            if len(nodes) >= size:
                break
            fan.append(f"{tag}_f{i}")
            add(_call(fan[-1], "add", {"a": previous, "b": {"kind": "input", "input": "y"}}))
        if len(nodes) < size and fan:
            gather = {"kind": "list", "items": [_out(f) for f in fan]}
            add(_call(f"{tag}_sum", "total", {"xs": gather}))
            previous = _out(f"{tag}_sum")
        if len(nodes) < size and fan:
            add(
                {
                    "id": f"{tag}_map",
                    "kind": "map",
                    "map": {"task": {"resource_type": "task", "name": "inc"}, "concurrency": 4},
                    "inputs": {"x": {"kind": "list", "items": [_out(f) for f in fan]}},
                }
            )
        if len(nodes) < size:
            add(
                {
                    "id": f"{tag}_br",
                    "kind": "branch",
                    "branch": {
                        "cases": [
                            {
                                "condition": {
                                    "kind": "comparison",
                                    "left": previous,
                                    "op": ">",
                                    "right": {"kind": "literal", "value": 10},
                                },
                                "then": _call(f"{tag}_big", "inc", {"x": previous}),
                            }
                        ],
                        "otherwise": _call(f"{tag}_small", "add", {"a": previous, "b": previous}),
                    },
                }
            )
            previous = _out(f"{tag}_br")
        segment += 1
    return WorkflowSpec.model_validate(
        {
            "name": "bench.wide",
            "interface": {
                "inputs": {"x": {"type": {"kind": "int"}}, "y": {"type": {"kind": "int"}}},
                "outputs": {"result": {"type": {"kind": "int"}}},
            },
            "nodes": nodes,
            "outputs": {"result": previous},
        }
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(size: int, runs: int) -> None:
    spec = generated_workflow(size)
    identifier = Identifier(
        resource_type=ResourceType.WORKFLOW,
        project=PROJECT,
        domain=DOMAIN,
        name=spec.name,
        version=VERSION,
    )
    task_ids, _ = direct_references(spec, PROJECT, DOMAIN, VERSION)
    tasks = {i: TASKS[i.name] for i in task_ids}
    compile_workflow(identifier, spec, tasks, {})  # warm-up
    compile_ms: list[float] = []
    dump_ms: list[float] = []
    size_bytes = 0
    for _ in range(runs):
        started = time.perf_counter()
        closure = compile_workflow(identifier, spec, tasks, {})
        compiled = time.perf_counter()
        size_bytes = len(canonical_json(closure))
        dumped = time.perf_counter()
        compile_ms.append((compiled - started) * 1000)
        dump_ms.append((dumped - compiled) * 1000)
    print(f"compile_workflow: {size} nodes, {runs} runs, closure {size_bytes / 1024:.0f} KiB")
    for label, values in (("compile", compile_ms), ("canonical_json", dump_ms)):
        print(
            f"  {label:15s} min {min(values):6.2f} ms  p50 {_percentile(values, 0.5):6.2f} ms"
            f"  p90 {_percentile(values, 0.9):6.2f} ms  p99 {_percentile(values, 0.99):6.2f} ms"
            f"  max {max(values):6.2f} ms  mean {statistics.fmean(values):6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    run(args.nodes, args.runs)


if __name__ == "__main__":
    main()
