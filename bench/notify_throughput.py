"""Benchmark: consumption of contrail.executions with 1,000 subscriptions defined.

Creates ``--subscriptions`` subscriptions (each on a project of its own, plus one
in ten with a project glob), stops the notifier, publishes ``--events``
execution events (QUEUED, RUNNING, then FAILED or SUCCEEDED, over many
executions, one subscription matching the failures), starts the notifier
again and measures how fast it consumes them (each batch one transaction:
event ids, streaks, dedup keys, deliveries), with the notifier's CPU time.
Needs the local stack (``make demo``).

    .venv/bin/python bench/notify_throughput.py --events 20000 --subscriptions 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer
from notify_common import consumed, cpu_seconds, own_notifier, subscribe

from shared.phases import ExecutionPhase
from shared.settings import StackSettings
from tests.integration.notifier_support import Receiver, failure_event

PHASES = (ExecutionPhase.QUEUED, ExecutionPhase.RUNNING, ExecutionPhase.SUCCEEDED)


async def publish(stack: StackSettings, topic: str, project: str, events: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = []
        for i in range(events):
            execution, step = divmod(i, 3)
            phase = PHASES[step]
            if step == 2 and execution % 10 == 0:
                phase = ExecutionPhase.FAILED
            event = failure_event(project, f"e{execution}", phase=phase, seq=step)
            key = event.data.execution.key.encode()
            sends.append(await producer.send(topic, event.to_json(), key=key))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--subscriptions", type=int, default=1000)
    args = parser.parse_args()
    stack = StackSettings()
    project = f"bench-{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    hook = {"kind": "webhook", "target": f"{receiver.url}/hook"}
    with own_notifier(stack) as notifier:
        started = time.monotonic()
        for i in range(args.subscriptions - 1):
            where = f"team-{i}-*" if i % 10 == 0 else f"team-{i}"
            subscribe(notifier, {"project": where, "phases": ["FAILED"], "channels": [hook]})
        subscribe(notifier, {"project": project, "phases": ["FAILED"], "channels": [hook]})
        print(f"{args.subscriptions} subscriptions in {time.monotonic() - started:.1f} s")
        notifier.stop()
        asyncio.run(publish(stack, notifier.topic, project, args.events))
        notifier.start()
        assert notifier.process is not None
        pid = notifier.process.pid
        first: tuple[float, int, float] | None = None
        while True:
            count = asyncio.run(consumed(stack, notifier.schema))
            now = time.monotonic()
            if first is None and count > 0:
                first = (now, count, cpu_seconds(pid))
            if count >= args.events:
                break
            time.sleep(0.05)
        assert first is not None
        seconds = now - first[0]
        cpu = cpu_seconds(pid) - first[2]
        rate = (count - first[1]) / seconds
        print(
            f"{count - first[1]} events in {seconds:.2f} s: {rate:,.0f} events/s; "
            f"notifier CPU {cpu:.2f} s ({100 * cpu / seconds:.0f}% of one core); "
            f"{args.events // 30} failures matched"
        )
    receiver.close()


if __name__ == "__main__":
    main()
