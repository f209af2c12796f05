"""Benchmark: a storm of failing executions under a digest rule.

Publishes ``--executions`` FAILED events spread over ``--seconds`` seconds to a
notifier of its own whose one subscription digests every ``--window`` seconds
to a webhook on 127.0.0.1, waits for the digests, and checks that there is at
most one message per window and that every execution is listed exactly once.
Needs the local stack (``make demo``).

    .venv/bin/python bench/notify_digest.py --executions 1000 --seconds 60 --window 30
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter

from aiokafka import AIOKafkaProducer
from notify_common import own_notifier, subscribe, wait

from shared.settings import StackSettings
from tests.integration.notifier_support import Receiver, failure_event


async def storm(stack: StackSettings, topic: str, project: str, count: int, seconds: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        start = time.monotonic()
        for i in range(count):
            event = failure_event(project, f"e{i}")
            await producer.send(topic, event.to_json(), key=event.data.execution.key.encode())
            due = start + seconds * (i + 1) / count
            if (pause := due - time.monotonic()) > 0:
                await asyncio.sleep(pause)
        await producer.flush()
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--window", type=int, default=30)
    args = parser.parse_args()
    stack = StackSettings()
    project = f"bench-{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    with own_notifier(stack) as notifier:
        hook = {"kind": "webhook", "target": f"{receiver.url}/digest"}
        subscribe(
            notifier,
            {
                "project": project,
                "phases": ["FAILED"],
                "digest_seconds": args.window,
                "channels": [hook],
            },
        )
        began = time.time()
        asyncio.run(storm(stack, notifier.topic, project, args.executions, args.seconds))
        ended = time.time()

        def listed() -> Counter[str]:
            return Counter(
                item["execution"]
                for r in receiver.requests
                for item in r.json()["contrail"]["items"]
            )

        wait(
            "every execution in a digest", lambda: len(listed()) >= args.executions, args.window * 3
        )
        windows = int(ended // args.window) - int(began // args.window) + 1
        counts = listed()
        print(
            f"{args.executions} failures in {ended - began:.0f} s, window {args.window} s: "
            f"{len(receiver.requests)} digest message(s) for {windows} window(s) spanned; "
            f"{len(counts)} executions listed, {sum(1 for c in counts.values() if c > 1)} twice, "
            f"{args.executions - len(counts)} missing"
        )
        assert len(receiver.requests) <= windows
        assert len(counts) == args.executions
        assert all(c == 1 for c in counts.values())
    receiver.close()


if __name__ == "__main__":
    main()
