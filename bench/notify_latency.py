"""Benchmark: a failure event on Kafka → the alert accepted by the SMTP server (Mailpit).

Publishes ``--events`` FAILED execution events one at a time to a notifier of its
own, each matched by a subscription that emails, and measures from the publish
(acknowledged by Kafka) to the message's arrival time as Mailpit records it.
Needs the local stack (``make demo``).

    .venv/bin/python bench/notify_latency.py --events 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import datetime

import httpx
from aiokafka import AIOKafkaProducer
from notify_common import own_notifier, percentile, subscribe

from shared.settings import StackSettings
from tests.integration.notifier_support import failure_event


async def measure(stack: StackSettings, topic: str, project: str, events: int) -> list[float]:
    """Seconds from each publish to the message's arrival in Mailpit."""
    latencies: list[float] = []
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with httpx.AsyncClient(base_url=stack.mailpit_url) as mailpit:
            for i in range(events + 5):  # the first 5 warm the path up
                event = failure_event(project, f"e{i}")
                key = event.data.execution.key.encode()
                await producer.send_and_wait(topic, event.to_json(), key=key)
                sent_at = time.time()
                subject = f'subject:"[contrail] FAILED: {project}/development/e{i}"'
                deadline = time.monotonic() + 30
                found: list[dict[str, str]] = []
                while not found:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no email for e{i} within 30 s")
                    await asyncio.sleep(0.01)
                    answer = await mailpit.get("/api/v1/search", params={"query": subject})
                    found = list(answer.json().get("messages") or [])
                created = datetime.fromisoformat(found[0]["Created"]).timestamp()
                if i >= 5:
                    latencies.append(created - sent_at)
            await mailpit.request(
                "DELETE", "/api/v1/search", params={"query": f"to:{project}@example.com"}
            )
    finally:
        await producer.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    stack = StackSettings()
    project = f"bench-{uuid.uuid4().hex[:8]}"
    with own_notifier(stack) as notifier:
        channel = {"kind": "email", "target": f"{project}@example.com"}
        subscribe(notifier, {"project": project, "phases": ["FAILED"], "channels": [channel]})
        latencies = asyncio.run(measure(stack, notifier.topic, project, args.events))
    ms = [1000 * v for v in latencies]
    print(
        f"{len(ms)} alerts, one at a time: p50 {percentile(ms, 0.5):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
        f"max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms"
    )


if __name__ == "__main__":
    main()
