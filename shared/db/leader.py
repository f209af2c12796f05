"""A background loop that works only while it leads: holds a PostgreSQL advisory lock.

Several processes may run the same loop (replicas of a service); one holds the
lock, a session-level advisory lock on a dedicated connection, and works; the
others wait as standbys and take over within a poll interval (plus the
takeover grace, below) once the leader's session is gone. A failure
(PostgreSQL, Kafka, anything) drops the lead and retries with
``shared.retry``'s backoff: the loop outlives every fault until it is stopped.

Losing the lead. The lock lives exactly as long as the leader's session, and
that session can die while the process and its other connections live on
(``pg_terminate_backend``, an idle-session timeout, a proxy dropping one
connection). The leader learns it at once when PostgreSQL closes the socket
(a termination listener marks the lead lost), and otherwise at its next
``confirm_lead()``, which asks ``pg_locks``, on the lock's own connection,
whether this session still holds the lock; any error or timeout there counts
as lost. Work that must never overlap with another leader's calls
``confirm_lead()`` before each round and checks ``still_leading()`` before
each step with an effect outside PostgreSQL; ``still_leading()`` is false once
the lead is lost or ``lease_seconds`` after the last confirmation.

Taking over. A standby that found the lock held, and so replaces a leader
that may still be finishing its last step, waits ``takeover_grace_seconds``
after acquiring the lock before it calls ``lead``. A loop whose last step
outlives its confirmation (the relay's records in flight to Kafka) sets the
grace to cover it; with the lease this bounds any overlap, as long as the old
leader's process is not frozen for longer than that. A loop that finds the
lock free at its first try leads at once (a service starting must not wait):
the grace does not cover a process that starts in the very moment after a
leader's session died while that leader's process lives on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from abc import ABC, abstractmethod

import asyncpg

from shared.retry import Backoff, is_transient

log = logging.getLogger(__name__)

RETRY_BACKOFF = Backoff(first=0.5, cap=10.0)
"""How long the loop waits after its lead failed, before it connects again."""

CONFIRM_TIMEOUT_SECONDS = 10.0
"""How long ``confirm_lead`` waits for PostgreSQL before it counts the lead as lost."""

_HOLDS_LOCK = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 1"
    " AND ((classid::bigint << 32) | objid::bigint) = $1)"
)
"""Whether this session holds the advisory lock ``$1`` (a bigint key is split in two oids)."""


def lock_key(name: str) -> int:
    """The advisory lock key (a signed 64-bit integer) named by ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeadershipLost(RuntimeError):
    """The lock's session is gone (or cannot be confirmed): another may lead now."""


class LeaderLoop(ABC):
    """Runs ``lead(conn)`` while holding the advisory lock ``lock_name``.

    ``standby_poll_seconds``: how often a standby tries the lock.
    ``lease_seconds``: how long a ``confirm_lead()`` keeps ``still_leading()`` true.
    ``takeover_grace_seconds``: how long a standby that found the lock held
    waits after acquiring it, before leading.
    """

    def __init__(
        self,
        dsn: str,
        lock_name: str,
        standby_poll_seconds: float,
        *,
        lease_seconds: float = 2.0,
        takeover_grace_seconds: float = 0.0,
    ) -> None:
        self._dsn = dsn
        self._lock_name = lock_name
        self._standby_poll_seconds = standby_poll_seconds
        self._lease_seconds = lease_seconds
        self._takeover_grace_seconds = takeover_grace_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = True
        self._confirmed_at = float("-inf")
        self.standing_by = False
        """True while this loop waits for a lock that another session holds."""

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def session_pid(self) -> int | None:
        """The PostgreSQL backend pid of the session that holds (or waits for) the lock."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else conn.get_server_pid()

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
        """Work while leading; return when ``stopping``. ``conn`` holds the lock.

        Raise (``LeadershipLost`` or anything else) to drop the lead; the loop
        then retries with backoff, as a standby.
        """

    async def confirm_lead(self) -> None:
        """Check, on the lock's connection, that this session still holds the lock.

        Raises ``LeadershipLost`` if it does not, if the connection is gone, or
        if PostgreSQL does not answer within ``CONFIRM_TIMEOUT_SECONDS``;
        otherwise ``still_leading()`` is true until ``lease_seconds`` after
        the question was asked (so a slow answer leaves little or no lease).
        """
        conn = self._conn
        if conn is None or self._lost or conn.is_closed():
            raise LeadershipLost(f"{self._lock_name}: the lock's session is gone")
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        try:
            held = await conn.fetchval(
                _HOLDS_LOCK, lock_key(self._lock_name), timeout=CONFIRM_TIMEOUT_SECONDS
            )
        except Exception as exc:
            self._lost = True
            raise LeadershipLost(f"{self._lock_name}: cannot confirm the lock: {exc!r}") from exc
        if not held:
            self._lost = True
            raise LeadershipLost(f"{self._lock_name}: the session no longer holds the lock")
        # The lease runs from the question, not the answer: the lock was held then.
        self._confirmed_at = asked_at

    def still_leading(self) -> bool:
        """True while the lead is neither lost nor older than a lease since its confirmation."""
        if self._lost or self._conn is None or self._conn.is_closed():
            return False
        return asyncio.get_running_loop().time() - self._confirmed_at < self._lease_seconds

    async def _run(self) -> None:
        delays = RETRY_BACKOFF.delays()
        while not self._stopping.is_set():
            try:
                await self._hold_lock_and_lead()
                delays.reset()
            except Exception as exc:
                delay = delays.next()
                if isinstance(exc, LeadershipLost):
                    log.warning(
                        "%s lost its lock; standing by again in %.1fs",
                        self._lock_name,
                        delay,
                        extra={"error": str(exc)},
                    )
                elif is_transient(exc):
                    log.warning(
                        "%s failed (transient); trying again in %.1fs",
                        self._lock_name,
                        delay,
                        extra={"error": f"{type(exc).__name__}: {exc}"},
                    )
                else:
                    log.exception("%s failed; retrying in %.1fs", self._lock_name, delay)
                await self.sleep(delay)

    def _on_terminated(self, conn: object) -> None:
        if conn is self._conn:
            self._lost = True

    async def _hold_lock_and_lead(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn, timeout=5)
        self._conn, self._lost = conn, False
        conn.add_termination_listener(self._on_terminated)
        try:
            key = lock_key(self._lock_name)
            waited = False
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if self._stopping.is_set():
                    return
                waited = self.standing_by = True
                await self.sleep(self._standby_poll_seconds)
            self.standing_by = False
            if waited and self._takeover_grace_seconds > 0:
                log.info(
                    "%s: lock taken over; waiting out the old leader's last round",
                    self._lock_name,
                    extra={"grace_seconds": self._takeover_grace_seconds},
                )
                await self.sleep(self._takeover_grace_seconds)
                if self._stopping.is_set():
                    return
            await self.confirm_lead()
            log.debug("%s leading", self._lock_name)
            await self.lead(conn)
        finally:
            self._lost = True
            self._conn = None
            self.standing_by = False
            try:
                await conn.close(timeout=5)
            except Exception:  # already gone, or PostgreSQL does not answer
                conn.terminate()
