"""Benchmark: the attempt runner's cold and warm start, and no-op attempts per second.

A no-op task (``def noop() -> None``) runs through ``TaskRunner.run`` on real
processes, no Kafka and no S3:

- **cold**: the first attempt of a bundle (each run uses a new bundle folder,
  so it starts a zygote: a Python start and the SDK's imports);
- **warm**: later attempts of a bundle whose zygote has the task's module
  loaded (a fork per attempt);
- **throughput**: ``--attempts`` warm attempts, ``--concurrency`` at a time.

For each it prints p50 / p95 / max of the time from the ``run()`` call to
``on_started`` (the attempt's process is running) and to the result.

    .venv/bin/python bench/worker_runner.py --runs 200 --cold-runs 10 --attempts 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from services.launcher.worker.runner import AttemptSpec, TaskRunner
from shared.events.catalogue import ResourceSpec
from shared.phases import TaskAttemptPhase
from shared.specs import TypedInterface

NOOP_MODULE = '''
from contrail import task


@task
def noop() -> None:
    """Do nothing: what is measured is the runner."""
'''


def _bundle(root: Path, name: str) -> Path:
    folder = root / "bundles" / name
    (folder / "bench_tasks").mkdir(parents=True)
    (folder / "bench_tasks" / "__init__.py").write_text("")
    (folder / "bench_tasks" / "noop.py").write_text(NOOP_MODULE)
    return folder


def _spec(attempt_id: str, bundle: Path) -> AttemptSpec:
    return AttemptSpec(
        attempt_id=attempt_id,
        bundle_dir=bundle,
        module="bench_tasks.noop",
        function="noop",
        inputs={},
        interface=TypedInterface(),
        limits=ResourceSpec(memory_bytes=512 << 20),
        timeout_seconds=60.0,
        environment={},
    )


async def _timed(runner: TaskRunner, spec: AttemptSpec) -> tuple[float, float]:
    """Seconds from the call to ``on_started``, and to the result."""
    began = time.perf_counter()
    started = began

    async def on_started() -> None:
        nonlocal started
        started = time.perf_counter()

    result = await runner.run(spec, on_started)
    ended = time.perf_counter()
    if result.phase is not TaskAttemptPhase.SUCCEEDED:
        raise SystemExit(f"{spec.attempt_id} ended {result.phase}: {result.error}")
    return started - began, ended - began


def _row(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{label:<28} n={len(ordered):<5} p50={statistics.median(ordered) * 1000:7.2f} ms  "
        f"p95={p95 * 1000:7.2f} ms  max={ordered[-1] * 1000:7.2f} ms"
    )


def _report(name: str, timings: list[tuple[float, float]]) -> None:
    print(_row(f"{name}: call → on_started", [t[0] for t in timings]))
    print(_row(f"{name}: call → result", [t[1] for t in timings]))


async def main(runs: int, cold_runs: int, attempts: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="contrail-bench-worker-") as tmp:
        root = Path(tmp)
        runner = TaskRunner(root / "work", max_warm_bundles=4)
        try:
            cold = []
            for i in range(cold_runs):
                bundle = _bundle(root, f"cold-{i}")
                cold.append(await _timed(runner, _spec(f"cold/{i}", bundle)))
            _report("cold", cold)

            bundle = _bundle(root, "warm")
            for i in range(3):  # start the zygote, and let it import the task's module
                await _timed(runner, _spec(f"warmup/{i}", bundle))
            await asyncio.sleep(0.2)
            warm = [await _timed(runner, _spec(f"warm/{i}", bundle)) for i in range(runs)]
            _report("warm", warm)

            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> tuple[float, float]:
                async with gate:
                    return await _timed(runner, _spec(f"load/{i}", bundle))

            began = time.perf_counter()
            loaded = await asyncio.gather(*(one(i) for i in range(attempts)))
            elapsed = time.perf_counter() - began
            _report(f"concurrency {concurrency}", list(loaded))
            print(
                f"throughput: {attempts} no-op attempts in {elapsed:.2f} s = "
                f"{attempts / elapsed:.0f} attempts/s at concurrency {concurrency}"
            )
        finally:
            await runner.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="warm attempts, one at a time")
    parser.add_argument("--cold-runs", type=int, default=10, help="first attempts of new bundles")
    parser.add_argument("--attempts", type=int, default=1000, help="attempts for throughput")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.cold_runs, args.attempts, args.concurrency))
