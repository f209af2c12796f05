"""Benchmark: server-side compile and store of a large workflow, through the service layer.

Registers ``--nodes`` task nodes (a chain in which node i also reads node i/2,
over five registered tasks) as a new version ``--runs`` times, against the real
PostgreSQL, in a schema of its own migrated like the registry's (dropped at the
end). Each run is what ``POST /api/v1/workflows`` does after parsing the body:
look up the identifier, fetch the referenced tasks, compile, and store spec and
closure with the outbox event in one transaction. The body's validation into a
``WorkflowSpec`` is timed apart. Like the registry process, the benchmark
first freezes its start-up heap out of garbage collection. Needs the local
stack (``make demo``).

    .venv/bin/python bench/register_workflow.py --nodes 500 --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg

from services.registry.adapters.unit_of_work import postgres_uow_factory
from services.registry.entrypoints.http import MIGRATIONS, freeze_startup_heap
from services.registry.entrypoints.representations import WorkflowRegistration
from services.registry.service_layer.registration import register_task, register_workflow
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.identifiers import Identifier, ResourceType
from shared.literals import INT
from shared.settings import StackSettings
from shared.specs import (
    CodeLocation,
    EntityRef,
    InputBinding,
    Node,
    NodeKind,
    OutputBinding,
    Parameter,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
)

PROJECT = "bench"
DOMAIN = "development"
TASKS = 5
TARGET_MS = 100.0


def _task(index: int) -> TaskSpec:
    return TaskSpec(
        name=f"bench.add_{index}",
        interface=TypedInterface(
            inputs={"x": Parameter(type=INT), "y": Parameter(type=INT)},
            outputs={"o0": Variable(type=INT)},
        ),
        image="python:3.11-slim",
        code=CodeLocation(module="bench", function=f"add_{index}"),
    )


def _workflow(nodes: int) -> WorkflowSpec:
    def node(i: int) -> Node:
        inputs: dict[str, InputBinding | OutputBinding]
        if i == 0:
            inputs = {"x": InputBinding(input="a"), "y": InputBinding(input="b")}
        else:
            inputs = {
                "x": OutputBinding(node=f"n{i - 1}", output="o0"),
                "y": OutputBinding(node=f"n{i // 2}", output="o0"),
            }
        return Node(
            id=f"n{i}",
            kind=NodeKind.TASK,
            task=EntityRef(
                resource_type=ResourceType.TASK, name=f"bench.add_{i % TASKS}", version="t1"
            ),
            inputs=inputs,
        )

    return WorkflowSpec(
        name="bench.big",
        interface=TypedInterface(
            inputs={"a": Parameter(type=INT), "b": Parameter(type=INT)},
            outputs={"total": Variable(type=INT)},
        ),
        nodes=[node(i) for i in range(nodes)],
        outputs={"total": OutputBinding(node=f"n{nodes - 1}", output="o0")},
    )


def _identifier(kind: ResourceType, name: str, version: str) -> Identifier:
    return Identifier(
        resource_type=kind, project=PROJECT, domain=DOMAIN, name=name, version=version
    )


def _summary(label: str, values_ms: list[float]) -> str:
    ordered = sorted(values_ms)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"{label:<22} min {ordered[0]:7.1f}  p50 {pct(0.50):7.1f}  p90 {pct(0.90):7.1f}  "
        f"p99 {pct(0.99):7.1f}  max {ordered[-1]:7.1f}  mean {statistics.fmean(ordered):7.1f} ms"
    )


async def run(nodes: int, runs: int, warmup: int) -> None:
    settings = StackSettings()
    schema = f"bench_registry_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(settings.pg_dsn)
    await apply_migrations(conn, schema, service_migrations(MIGRATIONS, "registry"))
    pool = await create_pool(settings, schema)
    uow_factory = postgres_uow_factory(pool)
    try:
        for index in range(TASKS):
            spec = _task(index)
            await register_task(uow_factory, _identifier(ResourceType.TASK, spec.name, "t1"), spec)
        workflow = _workflow(nodes)
        body = WorkflowRegistration.model_validate(
            {
                "identifier": {
                    "project": PROJECT,
                    "domain": DOMAIN,
                    "name": "bench.big",
                    "version": "x",
                },
                "spec": workflow.model_dump(mode="json"),
            }
        ).model_dump_json()
        print(f"workflow: {nodes} nodes, request body {len(body) / 1024:.0f} KiB")
        freeze_startup_heap()  # as the registry process does when it starts

        validate_ms: list[float] = []
        register_ms: list[float] = []
        for i in range(warmup + runs):
            started = time.perf_counter()
            submitted = WorkflowRegistration.model_validate_json(body)
            validated = time.perf_counter()
            identifier = _identifier(ResourceType.WORKFLOW, "bench.big", f"v{i}")
            outcome = await register_workflow(uow_factory, identifier, submitted.spec)
            finished = time.perf_counter()
            assert outcome.created
            if i >= warmup:
                validate_ms.append((validated - started) * 1000)
                register_ms.append((finished - validated) * 1000)
        closure_bytes = await pool.fetchval(
            "SELECT octet_length(closure_bytes) FROM workflows ORDER BY id DESC LIMIT 1"
        )
        print(f"closure stored: {closure_bytes / 1024:.0f} KiB; {runs} runs after {warmup} warm-up")
        print(_summary("compile + store", register_ms))
        print(_summary("validate body", validate_ms))
        p50 = sorted(register_ms)[len(register_ms) // 2]
        verdict = "meets" if p50 < TARGET_MS else "MISSES"
        print(f"target: compile + store under {TARGET_MS:.0f} ms at p50 — {verdict} it")
    finally:
        await pool.close()
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.nodes, args.runs, args.warmup))


if __name__ == "__main__":
    main()
