"""Follow Contrail's execution events from your own Kafka consumer.

A team that wants every execution event points a plain Kafka client at
``contrail.executions``. This one uses aiokafka; any client works the same way:

- each record's value is a CloudEvents 1.0 envelope in JSON;
- delivery is at least once, so remember the ``id`` of what you processed and
  skip repeats;
- one execution's events share a key (``project/domain/name``), so they arrive
  in order, and ``data.seq`` counts 0, 1, 2, ... per execution with no gaps:
  a jump means you missed something.

Run it with the checkout's Python, which has aiokafka (elsewhere:
``pip install aiokafka`` first)::

    .venv/bin/python examples/consumers/follow_executions.py --bootstrap 127.0.0.1:19092 \
        --group my-team --project flytesnacks
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer


class ExecutionFollower:
    """Dedupes by event id and checks that each execution's seq has no gap."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.next_seq: dict[str, int] = {}

    def accept(self, envelope: dict[str, Any]) -> str | None:
        """A line describing the event, or None for a duplicate."""
        if envelope["id"] in self.seen:
            return None
        self.seen.add(envelope["id"])
        data = envelope["data"]
        execution = data["execution"]
        key = f"{execution['project']}/{execution['domain']}/{execution['name']}"
        expected = self.next_seq.get(key, 0)
        gap = "" if data["seq"] == expected else f"  (expected seq {expected}: missed events)"
        self.next_seq[key] = max(expected, data["seq"] + 1)
        what = data.get("node_id", "")
        if "attempt" in data:
            what = f"{what}#{data['attempt']}"
        return (
            f"{envelope['time']}  {key}  seq {data['seq']:>3}  "
            f"{envelope['type'].removeprefix('contrail.'):<32} {what:<12} {data['phase']}{gap}"
        )


async def follow(bootstrap: str, group: str, project: str | None, from_start: bool) -> None:
    consumer = AIOKafkaConsumer(
        "contrail.executions",
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest" if from_start else "latest",
    )
    follower = ExecutionFollower()
    await consumer.start()
    try:
        async for record in consumer:
            envelope = json.loads(record.value)
            if project and envelope["data"]["execution"]["project"] != project:
                continue
            line = follower.accept(envelope)
            if line is not None:
                print(line, flush=True)
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Print Contrail's execution events.")
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--group", default="my-team")
    parser.add_argument("--project")
    parser.add_argument("--from-start", action="store_true")
    args = parser.parse_args()
    asyncio.run(follow(args.bootstrap, args.group, args.project, args.from_start))


if __name__ == "__main__":
    main()
