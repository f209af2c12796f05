"""Benchmark: executions end to end on the running stack (``contrail demo up``).

Each subcommand registers ``bench/noop_workflows.py`` (fast registration: the
stack's worker imports it from its bundle), warms the worker's zygote for that
bundle, launches through ``POST /api/v1/executions`` on the gateway, and times
what a plain aiokafka consumer of ``contrail.executions`` receives. Times are
this process's receive stamps (``perf_counter``), from just before the launch
request is sent; the events' own ``time`` (the launcher's clock, same machine)
is used only to split a node's time into its hops.

    .venv/bin/python bench/executions.py latency --runs 200          # (a)
    .venv/bin/python bench/executions.py chain --runs 3              # (b)
    .venv/bin/python bench/executions.py fanout --runs 2             # (c)
    .venv/bin/python bench/executions.py throughput --rate 60 --seconds 60 --clients 8  # (d)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import noop_workflows
from _executions import (
    EPOCH_OFFSET,
    EventWatch,
    Execution,
    Launches,
    Seen,
    cpu_seconds,
    is_attempt_running,
    is_execution_done,
    launcher_pid,
    peak_rss_mib,
    percentile,
    register,
    summary_ms,
)

from shared.events.catalogue import NodePhaseChanged, TaskAttemptPhaseChanged

ONE_TASK = "noop_workflows.one_task"
CHAIN = "noop_workflows.chain"
FANOUT = "noop_workflows.fanout"


async def _setup(workflow: str, *, hops: bool = False) -> tuple[EventWatch, Launches, str]:
    _, version = await asyncio.to_thread(register, noop_workflows.one_task)
    watch = EventWatch(hops=hops)
    await watch.start()
    print(f"registered noop_workflows at version {version}")
    return watch, Launches(workflow, version), version


async def _run_one(
    watch: EventWatch, launches: Launches, timeout: float = 120.0
) -> tuple[float, float, Execution]:
    """Launch once; (seconds to the 201, seconds to the terminal event, what was seen)."""
    name, key = launches.new_key()
    execution = watch.watch(key)
    done = watch.wait_for(key, is_execution_done)
    started = time.perf_counter()
    await launches.launch(name)
    answered = time.perf_counter() - started
    try:
        event = await asyncio.wait_for(done, timeout)
    except TimeoutError:
        raise TimeoutError(f"{key} did not end within {timeout:g} s") from None
    if event.phase != "SUCCEEDED":
        raise RuntimeError(f"{key} ended {event.phase}")
    return answered, event.received - started, execution


async def _warm(watch: EventWatch, version: str, count: int = 3) -> None:
    """A few one-task executions, so the worker has the bundle's zygote warm."""
    warm = Launches(ONE_TASK, version)
    try:
        deadline = time.perf_counter() + 120
        done = 0
        while done < count:
            try:
                _, total, execution = await _run_one(watch, warm)
            except (RuntimeError, TimeoutError) as exc:  # a component restarting: wait for it
                if time.perf_counter() > deadline:
                    raise
                print(f"warm-up: {exc}; trying again")
                await asyncio.sleep(2)
                continue
            watch.forget(execution.key)
            done += 1
        print(f"warm-up: {count} one-task executions, the last took {total * 1000:.0f} ms")
    finally:
        await warm.close()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- (a) launch to the first attempt RUNNING -------------------------------------------


async def latency(args: argparse.Namespace) -> None:
    watch, launches, version = await _setup(ONE_TASK, hops=True)
    try:
        await _warm(watch, version, args.warmup)
        hops: dict[str, list[float]] = {}
        to_201: list[float] = []
        to_queued: list[float] = []
        to_running: list[float] = []
        to_done: list[float] = []
        dispatch_to_running: list[float] = []
        for _ in range(args.runs):
            name, key = launches.new_key()
            running = watch.wait_for(key, is_attempt_running)
            done = watch.wait_for(key, is_execution_done)
            started = time.perf_counter()
            await launches.launch(name)
            to_201.append(time.perf_counter() - started)
            event = await asyncio.wait_for(running, 60)
            to_running.append(event.received - started)
            last = await asyncio.wait_for(done, 60)
            to_done.append(last.received - started)
            execution = watch.executions[key]
            queued = execution.first(
                lambda e: e.type == TaskAttemptPhaseChanged.event_type and e.phase == "QUEUED"
            )
            if queued is not None:
                to_queued.append(queued.received - started)
                dispatch_to_running.append(_ts(event.time) - _ts(queued.time))
            for hop, value in _launch_hops(execution, started + EPOCH_OFFSET).items():
                hops.setdefault(hop, []).append(value)
            watch.forget(key)
            if args.pause:
                await asyncio.sleep(args.pause)
        print(f"\n(a) one-task workflow, {args.runs} sequential launches, warm worker")
        print(f"  launch -> 201 answered             {summary_ms(to_201)}")
        print(f"  launch -> attempt QUEUED received  {summary_ms(to_queued)}")
        print(f"  launch -> attempt RUNNING received {summary_ms(to_running)}")
        print(f"  launch -> execution SUCCEEDED rcvd {summary_ms(to_done)}")
        print(f"  attempt QUEUED -> RUNNING (event times) {summary_ms(dispatch_to_running)}")
        print(
            "  where the time to RUNNING goes (p50 of each hop; Kafka timestamps are send times):"
        )
        for hop, values in hops.items():
            print(
                f"    {hop:<52} {percentile(values, 0.5) * 1000:6.1f} ms "
                f"(p90 {percentile(values, 0.9) * 1000:.1f})"
            )
        p50 = percentile(to_running, 0.5) * 1000
        print(f"  target p50 <= 100 ms: {'met' if p50 <= 100 else 'MISSED'} ({p50:.1f} ms)")
    finally:
        await launches.close()
        await watch.stop()


def _launch_hops(execution: Execution, launched: float) -> dict[str, float]:
    """The hops from the launch (epoch seconds) to the attempt's RUNNING event received."""
    dispatch = next((h for h in execution.hops if h.kind == "dispatch"), None)
    started = next((h for h in execution.hops if h.kind == "started"), None)
    running = execution.first(is_attempt_running)
    seq0 = execution.events.get(0)
    if dispatch is None or started is None or running is None or seq0 is None:
        return {}
    return {
        "launch -> execution created (event time, seq 0)": _ts(seq0.time) - launched,
        "created -> dispatch sent by the relay": dispatch.produced - _ts(seq0.time),
        "dispatch sent -> worker's 'started' sent": started.produced - dispatch.produced,
        # RUNNING's event time is the worker's (the engine keeps reported times),
        # so the engine's transaction and the relay are one hop here.
        "'started' sent -> RUNNING sent (engine, relay)": running.produced - started.produced,
        "RUNNING sent -> received here": running.received + EPOCH_OFFSET - running.produced,
    }


# --- (b) a chain of 100 no-op nodes ----------------------------------------------------


def _node_hops(execution: Execution) -> dict[str, list[float]]:
    """Per node, from the launcher's event times: dispatch -> RUNNING -> SUCCEEDED -> next."""
    by_node: dict[str, dict[str, float]] = {}
    for event in execution.events.values():
        if event.node_id is None:
            continue
        phases = by_node.setdefault(event.node_id, {})
        if event.type == TaskAttemptPhaseChanged.event_type:
            phases.setdefault(f"attempt {event.phase}", _ts(event.time))
        elif event.type == NodePhaseChanged.event_type:
            phases.setdefault(f"node {event.phase}", _ts(event.time))
    hops: dict[str, list[float]] = {"queued->running": [], "running->succeeded": []}
    for phases in by_node.values():
        if "attempt QUEUED" in phases and "attempt RUNNING" in phases:
            hops["queued->running"].append(phases["attempt RUNNING"] - phases["attempt QUEUED"])
        if "attempt RUNNING" in phases and "attempt SUCCEEDED" in phases:
            hops["running->succeeded"].append(
                phases["attempt SUCCEEDED"] - phases["attempt RUNNING"]
            )
    return hops


async def chain(args: argparse.Namespace) -> None:
    watch, launches, version = await _setup(CHAIN)
    nodes = noop_workflows.CHAIN_LENGTH
    try:
        await _warm(watch, version)
        totals: list[float] = []
        hops: dict[str, list[float]] = {}
        for run in range(args.runs):
            _, total, execution = await _run_one(watch, launches)
            totals.append(total)
            for name, values in _node_hops(execution).items():
                hops.setdefault(name, []).extend(values)
            print(
                f"  run {run + 1}: {total:.2f} s, {total / nodes * 1000:.1f} ms per node "
                f"({len(execution.events)} events)"
            )
            watch.forget(execution.key)
        best, median = min(totals), statistics.median(totals)
        print(f"\n(b) chain of {nodes} no-op nodes, {args.runs} runs, launch -> SUCCEEDED received")
        print(f"  total: median {median:.2f} s, best {best:.2f} s")
        per_node, best_node = median / nodes * 1000, best / nodes * 1000
        print(f"  per node: median {per_node:.1f} ms, best {best_node:.1f} ms")
        for name, values in hops.items():
            print(f"  {name:<20} {summary_ms(values)}")
        print(f"  target <= 30 ms per node: {'met' if per_node <= 30 else 'MISSED'}")
    finally:
        await launches.close()
        await watch.stop()


# --- (c) a fan-out of 1,000 no-op leaves ------------------------------------------------


async def _sample_rss(pid: int, stop: asyncio.Event) -> float:
    """The largest RSS (MiB) of ``pid`` seen every 100 ms until ``stop``."""
    peak = 0.0
    while not stop.is_set():
        peak = max(peak, peak_rss_mib(pid)[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    return peak


async def fanout(args: argparse.Namespace) -> None:
    watch, launches, version = await _setup(FANOUT)
    leaves = noop_workflows.FANOUT_LEAVES
    pid = launcher_pid()
    if pid is None:
        raise SystemExit("the launcher is not running")
    try:
        await _warm(watch, version)
        for run in range(args.runs):
            hwm_before, rss_before = peak_rss_mib(pid)
            cpu_before = cpu_seconds(pid)
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample_rss(pid, stop))
            answered, total, execution = await _run_one(watch, launches, timeout=300)
            stop.set()
            peak_sampled = max(rss_before, await sampler)
            hwm_after, rss_after = peak_rss_mib(pid)
            cpu = cpu_seconds(pid) - cpu_before
            running = sorted(e.received for e in execution.events.values() if is_attempt_running(e))
            print(f"\n(c) fan-out of {leaves} no-op leaves, run {run + 1}")
            print(f"  launch -> 201 answered: {answered * 1000:.0f} ms")
            print(
                f"  launch -> SUCCEEDED received: {total:.2f} s  (target <= 20 s: "
                f"{'met' if total <= 20 else 'MISSED'})"
            )
            print(f"  leaves per second: {leaves / total:.1f}")
            if running:
                seq0 = execution.events[0].received
                print(
                    f"  first / last attempt RUNNING received: {running[0] - seq0:.2f} / "
                    f"{running[-1] - seq0:.2f} s after seq 0"
                )
            print(
                f"  launcher pid {pid}: RSS {rss_before:.0f} -> {rss_after:.0f} MiB, "
                f"peak sampled {peak_sampled:.0f} MiB, VmHWM {hwm_before:.0f} -> "
                f"{hwm_after:.0f} MiB; CPU {cpu:.1f} s"
            )
            print(f"  events received: {len(execution.events)}")
            watch.forget(execution.key)
    finally:
        await launches.close()
        await watch.stop()


# --- (d) sustained single-task executions ------------------------------------------------


async def throughput(args: argparse.Namespace) -> None:
    watch, first, version = await _setup(ONE_TASK)
    await first.close()
    launches = Launches(ONE_TASK, version, connections=args.clients)
    try:
        await _warm(watch, version)
        interval = 1.0 / args.rate
        total = int(args.rate * args.seconds)
        begin = time.perf_counter() + 0.5
        e2e: list[float] = []
        to_201: list[float] = []
        behind: list[float] = []
        finished_at: list[float] = []
        failures: list[str] = []
        pending: set[asyncio.Future[Seen]] = set()

        async def client(index: int) -> None:
            for i in range(index, total, args.clients):
                due = begin + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    behind.append(-delay)
                name, key = launches.new_key()
                done = watch.wait_for(key, is_execution_done)
                pending.add(done)
                started = time.perf_counter()
                try:
                    await launches.launch(name)
                except Exception as exc:
                    failures.append(repr(exc))
                    done.cancel()
                    pending.discard(done)
                    continue
                to_201.append(time.perf_counter() - started)
                done.add_done_callback(functools.partial(finish, started=started, key=key))

        def finish(future: asyncio.Future[Seen], started: float, key: str) -> None:
            pending.discard(future)
            watch.forget(key)
            if future.cancelled():
                return
            event = future.result()
            if event.phase != "SUCCEEDED":
                failures.append(f"{key} {event.phase}")
                return
            e2e.append(event.received - started)
            finished_at.append(event.received)

        await asyncio.gather(*(client(i) for i in range(args.clients)))
        launched_by = time.perf_counter()
        deadline = launched_by + args.drain
        if pending:
            await asyncio.wait(set(pending), timeout=max(0.0, deadline - time.perf_counter()))
            await asyncio.sleep(0)  # let the done callbacks run
        window_end = begin + args.seconds
        in_window = sum(1 for t in finished_at if t <= window_end)
        span = (max(finished_at) - begin) if finished_at else float("nan")
        print(f"\n(d) {total} one-task executions at {args.rate}/s from {args.clients} clients")
        print(
            f"  launching took {launched_by - begin:.1f} s "
            f"({len(behind)} launches started late, worst by {max(behind, default=0):.2f} s)"
        )
        print(f"  completed: {len(e2e)}, failed: {len(failures)}, unfinished: {len(pending)}")
        print(
            f"  completions within the {args.seconds:.0f} s window: {in_window} "
            f"= {in_window / args.seconds * 60:.0f} per minute"
        )
        print(f"  all completions over {span:.1f} s = {len(e2e) / span * 60:.0f} per minute")
        print(f"  launch -> 201 answered         {summary_ms(to_201)}")
        print(f"  launch -> SUCCEEDED received   {summary_ms(e2e)}")
        if e2e:
            p95 = percentile(e2e, 0.95)
            rate = in_window / args.seconds * 60
            print(
                f"  target >= 3,000/min: {'met' if rate >= 3000 else 'MISSED'}; "
                f"p95 <= 1 s: {'met' if p95 <= 1 else 'MISSED'} ({p95:.2f} s)"
            )
        for failure in failures[:5]:
            print(f"  failure: {failure}")
    finally:
        await launches.close()
        await watch.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("latency", help="(a) launch -> first attempt RUNNING")
    a.add_argument("--runs", type=int, default=200)
    a.add_argument("--warmup", type=int, default=5)
    a.add_argument("--pause", type=float, default=0.0, help="seconds between launches")
    b = sub.add_parser("chain", help="(b) a chain of 100 no-op nodes")
    b.add_argument("--runs", type=int, default=3)
    c = sub.add_parser("fanout", help="(c) a fan-out of 1,000 no-op leaves")
    c.add_argument("--runs", type=int, default=1)
    d = sub.add_parser("throughput", help="(d) sustained single-task executions")
    d.add_argument("--rate", type=float, default=60.0, help="launches per second")
    d.add_argument("--seconds", type=float, default=60.0)
    d.add_argument("--clients", type=int, default=8)
    d.add_argument("--drain", type=float, default=30.0, help="seconds to wait for stragglers")
    args = parser.parse_args()
    commands: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
        "latency": latency,
        "chain": chain,
        "fanout": fanout,
        "throughput": throughput,
    }
    asyncio.run(commands[args.command](args))


if __name__ == "__main__":
    main()
