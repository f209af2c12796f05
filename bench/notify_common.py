"""What the notifier's benchmarks share: a notifier process of their own, its API, Mailpit.

Each benchmark runs ``python -m services.notifier`` with its own schema, group
and execution topic (``tests/integration/notifier_support.py``), so it sees only
the events it publishes and pollutes nothing the stack's services read.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from shared.kafka import ensure_topics
from shared.settings import StackSettings
from tests.integration.notifier_support import NotifierProcess


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def own_notifier(
    stack: StackSettings, env: dict[str, str] | None = None
) -> Iterator[NotifierProcess]:
    topic = f"bench.notify.{uuid.uuid4().hex[:10]}"
    asyncio.run(ensure_topics(stack, [topic]))
    log = Path(tempfile.mkdtemp(prefix="notify-bench-")) / "notifier.log"
    process = NotifierProcess(topic, {"CONTRAIL_LOG_LEVEL": "WARNING", **(env or {})}, log)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        asyncio.run(_drop(stack, process.schema))


async def _drop(stack: StackSettings, schema: str) -> None:
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def consumed(stack: StackSettings, schema: str) -> int:
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".consumed_events'))
    finally:
        await conn.close()


def subscribe(notifier: NotifierProcess, body: dict[str, Any]) -> str:
    with notifier.api() as api:
        response = api.post("/api/v1/subscriptions", json=body)
        response.raise_for_status()
        return str(response.json()["id"])


def wait(what: str, check: Any, timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout} s")
        time.sleep(interval)
