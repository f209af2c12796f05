"""A background loop that works only while it leads: holds a PostgreSQL advisory lock.

Several processes may run the same loop (replicas of a service); one holds the
lock, on a dedicated connection, and works; the others wait as standbys and
take over within a poll interval when the leader's connection goes away. A
failure (PostgreSQL, Kafka, anything) drops the lead and retries with backoff:
the loop outlives every fault until it is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from abc import ABC, abstractmethod

import asyncpg

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """The advisory lock key (a signed 64-bit integer) named by ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLoop(ABC):
    """Runs ``lead(conn)`` while holding the advisory lock ``lock_name``."""

    def __init__(self, dsn: str, lock_name: str, standby_poll_seconds: float) -> None:
        self._dsn = dsn
        self._lock_name = lock_name
        self._standby_poll_seconds = standby_poll_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._lock_name)

    async def stop(self) -> None:
        """Let ``lead`` finish its round, then stop."""
        self._stopping.set()
        self._on_stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_stop(self) -> None:  # noqa: B027 (a hook; most loops need none)
        """Wake ``lead`` from whatever it waits on (subclasses with their own waits)."""

    async def sleep(self, seconds: float) -> None:
        """Sleep, or return at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    @abstractmethod
    async def lead(self, conn: asyncpg.Connection) -> None:
        """Work while leading; return when ``stopping``. ``conn`` holds the lock."""

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._hold_lock_and_lead()
                backoff = 0.5
            except Exception as exc:
                log.warning("%s failed; retrying", self._lock_name, extra={"error": repr(exc)})
                await self.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _hold_lock_and_lead(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn, timeout=5)
        try:
            key = lock_key(self._lock_name)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if self._stopping.is_set():
                    return
                await self.sleep(self._standby_poll_seconds)
            log.debug("%s leading", self._lock_name)
            await self.lead(conn)
        finally:
            await conn.close()
