"""Caching: the key, a hit that completes the node without an attempt, a miss that runs it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.launcher.domain import CacheResult, LookupCache, StoreCache
from services.launcher.domain.cache import cache_key
from shared.identifiers import Identifier, ResourceType
from shared.literals import DATETIME, FLOAT, INT, ListType, optional
from shared.phases import ExecutionPhase, NodePhase
from shared.specs import CompiledTask, Parameter, TaskSpec
from tests.unit.engine_support import Driver, call, closure, inp, out, task

CACHED = task("square", {"x": INT}, {"o": INT}, cache=True, cache_version="1")


def compiled(spec: TaskSpec = CACHED, **where: str) -> CompiledTask:
    return CompiledTask(
        identifier=Identifier(
            resource_type=ResourceType.TASK,
            project=where.get("project", "demo"),
            domain=where.get("domain", "development"),
            name=spec.name,
            version=where.get("version", "v1"),
        ),
        spec=spec,
    )


def test_the_key_is_the_sha256_of_the_canonical_document() -> None:
    # Spelled out here, not rebuilt from the code: a change to what goes into the key
    # (or to how it is serialized) orphans every stored cache entry, so it must fail here.
    document = {
        "project": "demo",
        "domain": "development",
        "task": "square",
        "cache_version": "1",
        "interface": {
            "inputs": {
                "x": {"type": {"kind": "int"}, "description": "", "default": None, "required": True}
            },
            "outputs": {"o": {"type": {"kind": "int"}, "description": ""}},
        },
        "inputs": {"x": 3},
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    key = cache_key(compiled(), {"x": 3})
    assert key == hashlib.sha256(canonical).hexdigest()
    assert re.fullmatch("[0-9a-f]{64}", key)


def test_the_key_is_the_same_in_every_process() -> None:
    # Keys outlive the engine that stored them: nothing per-process (hash seeds, ids) goes in.
    script = (
        "from tests.unit.test_engine_cache import cache_key, compiled;"
        "print(cache_key(compiled(), {'x': 3}))"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert keys == {cache_key(compiled(), {"x": 3})}


@pytest.mark.parametrize(
    ("changed", "inputs"),
    [
        (compiled(CACHED.model_copy(update={"name": "cube"})), {"x": 3}),
        (compiled(CACHED.model_copy(update={"cache_version": "2"})), {"x": 3}),
        (
            compiled(task("square", {"x": FLOAT}, {"o": INT}, cache=True, cache_version="1")),
            {"x": 3},
        ),
        (compiled(task("square", {"x": INT}, {"p": INT}, cache=True, cache_version="1")), {"x": 3}),
        (compiled(project="other"), {"x": 3}),
        (compiled(domain="production"), {"x": 3}),
        (compiled(), {"x": 4}),
    ],
    ids=["name", "cache_version", "input type", "outputs", "project", "domain", "inputs"],
)
def test_the_key_changes_with_each_part(changed: CompiledTask, inputs: dict[str, Any]) -> None:
    assert cache_key(changed, inputs) != cache_key(compiled(), {"x": 3})


def test_the_key_ignores_the_task_version_and_input_order() -> None:
    two = task("two", {"a": INT, "b": INT}, {"o": INT}, cache=True)
    assert cache_key(compiled(two, version="v1"), {"a": 1, "b": 2}) == cache_key(
        compiled(two, version="v2"), {"b": 2, "a": 1}
    )


def test_equal_values_give_equal_keys() -> None:
    spec = task(
        "t",
        {
            "f": FLOAT,
            "when": DATETIME,
            "fs": ListType(item=FLOAT),
            "maybe": Parameter(type=optional(FLOAT), required=False),
        },
        {"o": INT},
        cache=True,
    )
    a = {"f": 1, "when": "2026-01-01T01:00:00+01:00", "fs": [1, 2.5], "maybe": 3}
    b = {"f": 1.0, "when": "2026-01-01T00:00:00Z", "fs": [1.0, 2.5], "maybe": 3.0}
    assert cache_key(compiled(spec), a) == cache_key(compiled(spec), b)


def cached_run() -> Driver:
    wf = closure(
        [call("n0", "square", x=inp("x"))],
        inputs={"x": INT},
        outputs={"y": (INT, out("n0"))},
        tasks={"square": CACHED},
    )
    return Driver(wf, {"x": 3}, functions={"square": lambda x: {"o": x * x}})


def test_a_miss_runs_the_task_and_stores_its_outputs() -> None:
    run = cached_run()
    run.start()
    [lookup] = run.of(LookupCache)
    assert lookup.node_path == "n0"
    assert run.node("n0").cache_key == lookup.cache_key
    assert run.trace() == ["exec QUEUED", "exec RUNNING", "n0 QUEUED"]
    run.send(CacheResult(node_path="n0", outputs=None))
    run.run_attempt("n0")
    [store] = run.of(StoreCache)
    assert (store.cache_key, store.outputs) == (lookup.cache_key, {"o": 9})
    assert run.state.outputs == {"y": 9}
    assert run.node("n0").cache_hit is False


def test_a_hit_completes_the_node_without_an_attempt() -> None:
    run = cached_run()
    run.start()
    run.send(CacheResult(node_path="n0", outputs={"o": 9, "extra": 1}))
    assert run.trace() == [
        "exec QUEUED",
        "exec RUNNING",
        "n0 QUEUED",
        "n0 SUCCEEDED (cache hit)",
        "exec SUCCEEDED",
    ]
    node = run.node("n0")
    assert (node.phase, node.cache_hit, node.attempts, node.outputs) == (
        NodePhase.SUCCEEDED,
        True,
        (),
        {"o": 9},
    )
    assert run.state.outputs == {"y": 9}
    assert run.of(StoreCache) == []


def test_a_cached_value_without_the_declared_outputs_is_a_miss() -> None:
    run = cached_run()
    run.start()
    run.send(CacheResult(node_path="n0", outputs={"other": 1}))
    assert run.dispatch_of("n0").attempt == 1


def test_a_second_execution_hits_what_the_first_stored() -> None:
    first = cached_run()
    first.start()
    first.run_all()
    second = cached_run()
    second.cache = dict(first.cache)
    second.start()
    second.run_all()
    assert second.state.phase is ExecutionPhase.SUCCEEDED
    assert second.node("n0").cache_hit is True
    assert second.state.outputs == {"y": 9}


def test_a_late_cache_answer_is_ignored() -> None:
    run = cached_run()
    run.start()
    run.send(CacheResult(node_path="n0", outputs=None))
    decision = run.send(CacheResult(node_path="n0", outputs={"o": 1}))
    assert decision.commands == []


def test_map_items_look_the_cache_up_one_by_one() -> None:
    wf = closure(
        [
            {
                "id": "m",
                "kind": "map",
                "map": {"task": {"resource_type": "task", "name": "square"}},
                "inputs": {"x": inp("xs")},
            }
        ],
        inputs={"xs": ListType(item=INT)},
        outputs={"ys": (ListType(item=INT), out("m"))},
        tasks={"square": CACHED},
    )
    run = Driver(wf, {"xs": [2, 3]}, functions={"square": lambda x: {"o": x * x}})
    run.cache[cache_key(compiled(), {"x": 2})] = {"o": 4}
    run.start()
    run.run_all()
    assert run.state.outputs == {"ys": [4, 9]}
    assert run.node("m[0]").cache_hit is True
    assert run.node("m[1]").cache_hit is False
