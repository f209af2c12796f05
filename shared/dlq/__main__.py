"""``python -m shared.dlq {count,list,replay} TOPIC``: the dead letters of one topic.

``TOPIC`` is the original topic or its dead-letter topic (``contrail.attempts``
or ``contrail.attempts.dlq``). ``count`` and ``list`` show what the next
``replay`` would publish back to the original topic; ``replay`` does it.
Kafka is found through the ``CONTRAIL_*`` settings, as for the services.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared.dlq import count, list_dead_letters, replay, topics_of
from shared.settings import InfraSettings
from shared.telemetry import configure_logging


def _preview(value: bytes, width: int = 120) -> str:
    text = value.decode(errors="replace").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


async def _run(command: str, topic: str, limit: int | None) -> int:
    settings = InfraSettings()
    original, dlq = topics_of(topic)
    if command == "count":
        per_partition = await count(settings, topic)
        for partition, n in sorted(per_partition.items()):
            if n:
                print(f"{dlq}[{partition}]\t{n}")
        print(f"{sum(per_partition.values())} dead letters of {original} to replay")
    elif command == "list":
        for letter in await list_dead_letters(settings, topic, limit):
            key = (letter.key or b"").decode(errors="replace")
            print(
                f"{dlq}[{letter.partition}]@{letter.offset}\tkey={key}\t"
                f"from={letter.origin}\treason={letter.reason}\n    {_preview(letter.value)}"
            )
    else:
        replayed = await replay(settings, topic)
        print(f"replayed {replayed} dead letters from {dlq} to {original}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__)
    parser.add_argument("command", choices=["count", "list", "replay"])
    parser.add_argument("topic", help="the original topic, or its .dlq topic")
    parser.add_argument("--limit", type=int, default=None, help="list at most this many")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    configure_logging("dlq", args.log_level)
    try:
        sys.exit(asyncio.run(_run(args.command, args.topic, args.limit)))
    except (LookupError, ValueError) as exc:
        sys.exit(f"python -m shared.dlq: {exc}")


if __name__ == "__main__":
    main()
