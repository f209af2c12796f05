"""Benchmark: the execution state machine alone, driven in memory (pure, no I/O).

Three workflows run to SUCCEEDED with every attempt started and succeeded at
once by a fake worker: a fan-out of N parallel leaves gathered by one fan-in
node, a chain of M nodes, and a map of N items. For each it prints the number
of ``decide`` calls, decisions per second, the mean and p99 time of one
decision, the events emitted, and what an adapter storing the whole state as
JSON would pay (its size and the time of ``model_dump_json`` at the end).

    .venv/bin/python bench/engine_decide.py --leaves 1000 --chain 100 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from services.launcher.domain import (
    AttemptStarted,
    AttemptSucceeded,
    Dispatch,
    Emit,
    Signal,
    Start,
    create_execution,
    decide,
)
from services.registry.domain.compiler import compile_workflow
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.literals import INT, ListType
from shared.specs import (
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowClosure,
    WorkflowSpec,
)

PROJECT, DOMAIN, VERSION = "bench", "development", "v1"
EXECUTION = ExecutionIdentifier(project=PROJECT, domain=DOMAIN, name="bench")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ident(kind: ResourceType, name: str) -> Identifier:
    return Identifier(
        resource_type=kind, project=PROJECT, domain=DOMAIN, name=name, version=VERSION
    )


def _task(name: str, inputs: dict[str, Any]) -> TaskSpec:
    return TaskSpec(
        name=name,
        interface=TypedInterface(
            inputs={k: Parameter(type=t) for k, t in inputs.items()},
            outputs={"o": Variable(type=INT)},
        ),
    )


TASKS = {
    _ident(ResourceType.TASK, "inc"): _task("inc", {"x": INT}),
    _ident(ResourceType.TASK, "total"): _task("total", {"xs": ListType(item=INT)}),
}


def _call(node_id: str, task: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": "task",
        "task": {"resource_type": "task", "name": task},
        "inputs": inputs,
    }


def _out(node: str) -> dict[str, Any]:
    return {"kind": "output", "node": node, "output": "o"}


def _compile(name: str, nodes: list[dict[str, Any]], output: dict[str, Any]) -> WorkflowClosure:
    spec = WorkflowSpec.model_validate(
        {
            "name": name,
            "interface": {
                "inputs": {"x": {"type": {"kind": "int"}}},
                "outputs": {"o": {"type": output["type"]}},
            },
            "nodes": nodes,
            "outputs": {"o": output["binding"]},
        }
    )
    return compile_workflow(_ident(ResourceType.WORKFLOW, name), spec, TASKS, {})


def fan_out(leaves: int) -> WorkflowClosure:
    nodes = [
        _call(f"leaf{i}", "inc", {"x": {"kind": "input", "input": "x"}}) for i in range(leaves)
    ]
    gather = {"kind": "list", "items": [_out(f"leaf{i}") for i in range(leaves)]}
    nodes.append(_call("gather", "total", {"xs": gather}))
    return _compile("fan_out", nodes, {"type": {"kind": "int"}, "binding": _out("gather")})


def chain(length: int) -> WorkflowClosure:
    nodes = [_call("n0", "inc", {"x": {"kind": "input", "input": "x"}})]
    nodes += [_call(f"n{i}", "inc", {"x": _out(f"n{i - 1}")}) for i in range(1, length)]
    return _compile("chain", nodes, {"type": {"kind": "int"}, "binding": _out(f"n{length - 1}")})


def mapped(items: int) -> WorkflowClosure:
    source = {"kind": "list", "items": [{"kind": "literal", "value": i} for i in range(items)]}
    node = {
        "id": "m",
        "kind": "map",
        "map": {"task": {"resource_type": "task", "name": "inc"}},
        "inputs": {"x": source},
    }
    list_of_int = {"kind": "list", "item": {"kind": "int"}}
    return _compile("mapped", [node], {"type": list_of_int, "binding": _out("m")})


def _outputs(dispatch: Dispatch) -> dict[str, Any]:
    if dispatch.spec.name == "total":
        return {"o": sum(dispatch.inputs["xs"])}
    return {"o": dispatch.inputs["x"] + 1}


def drive(closure: WorkflowClosure) -> dict[str, Any]:
    """Run ``closure`` to the end; the time of each decision, and what came out."""
    clock = T0
    state = create_execution(EXECUTION, closure, {"x": 0}, clock).state
    signals: deque[Signal] = deque([Start()])
    timings: list[float] = []
    events = 0
    while signals:
        signal = signals.popleft()
        clock += timedelta(milliseconds=1)
        began = time.perf_counter()
        decision = decide(state, signal, clock)
        timings.append(time.perf_counter() - began)
        state = decision.state
        for command in decision.commands:
            if isinstance(command, Emit):
                events += 1
            elif isinstance(command, Dispatch):
                path, attempt = command.node_path, command.attempt
                signals.append(AttemptStarted(node_path=path, attempt=attempt, worker_id="w"))
                signals.append(
                    AttemptSucceeded(node_path=path, attempt=attempt, outputs=_outputs(command))
                )
    assert state.phase.value == "SUCCEEDED", state.phase
    began = time.perf_counter()
    document = state.model_dump_json()
    dump = time.perf_counter() - began
    return {"timings": timings, "events": events, "json_bytes": len(document), "dump_s": dump}


def report(label: str, closure: WorkflowClosure, runs: int) -> None:
    results = [drive(closure) for _ in range(runs)]
    best = min(results, key=lambda r: sum(r["timings"]))
    timings = sorted(best["timings"])
    total = sum(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"{label:<28} decisions {len(timings):>5}  {len(timings) / total:>8.0f}/s  "
        f"total {total * 1000:>7.1f} ms  mean {statistics.mean(timings) * 1e6:>6.0f} us  "
        f"p99 {p99 * 1e6:>6.0f} us  events {best['events']:>5}  "
        f"state {best['json_bytes'] / 1024:>6.0f} KiB (dump {best['dump_s'] * 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="the best run is reported")
    args = parser.parse_args()
    report(f"fan-out of {args.leaves} (+ fan-in)", fan_out(args.leaves), args.runs)
    report(f"chain of {args.chain}", chain(args.chain), args.runs)
    report(f"map of {args.leaves} items", mapped(args.leaves), args.runs)


if __name__ == "__main__":
    main()
