"""The one retry policy: backoff with jitter, and which faults are worth retrying.

A fault is *transient* when the same call, repeated later, may succeed: a
PostgreSQL restart or failover, a dropped connection, a Kafka leader change or
broker restart, a timeout. Everything else is the call's (or the message's)
own failure: unparseable JSON, a validation error, a violated constraint, a
bug. Transient faults are retried for as long as they last; the others are
raised at once, so that a consumer can dead-letter the message that caused
them (and only that message).

The API, smallest first:

- ``is_transient(exc)``: the classification.
- ``Backoff``: the delay schedule (exponential, capped, jittered);
  ``Backoff.delays()`` gives a ``Delays`` counter for loops that retry by
  themselves (``next()`` after a failure, ``reset()`` after a success).
- ``await retry_transient(call, what=...)``: call until it succeeds, retrying
  transient faults forever and logging each wait; other errors propagate.
- ``await retry_until(call, what=..., deadline=60)``: the same, for start-up:
  give up with ``RetryDeadlineExceeded`` once ``deadline`` seconds have passed.

Both take ``sleep``, ``clock`` and ``random`` so that tests run without I/O or
waiting, and ``sleep`` also lets a loop make its waits interruptible.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError, KafkaTimeoutError
from asyncpg.exceptions._base import (
    ClientConfigurationError,
    UnsupportedClientFeatureError,
    UnsupportedServerFeatureError,
)
from asyncpg.exceptions._base import DataError as ArgumentDataError
from botocore.exceptions import ClientError as BotoClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError as BotoHTTPClientError

log = logging.getLogger(__name__)

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]
Random = Callable[[], float]
Classifier = Callable[[BaseException], bool]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    # The connection or the server went away, or is starting or stopping.
    ConnectionError,
    OSError,
    TimeoutError,  # also asyncio.TimeoutError
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and ConnectionDoesNotExistError
    asyncpg.InterfaceError,  # client side: "connection is closed", "pool is closing"
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01: terminated by an administrator, or a fast shutdown
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.SerializationError,  # 40001: the transaction may simply be run again
    asyncpg.DeadlockDetectedError,  # 40P01
    BotoConnectionError,  # S3 endpoint unreachable, read or connect timeout
    BotoHTTPClientError,
)
"""Exception types that are transient whatever their message."""

NOT_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    # asyncpg's client-side errors that are no fault of the connection:
    # a query argument of the wrong type, a bad DSN, a missing feature.
    ArgumentDataError,
    ClientConfigurationError,
    UnsupportedClientFeatureError,
    UnsupportedServerFeatureError,
)
"""Subclasses of ``TRANSIENT_ERRORS`` that are not transient."""


def is_transient(exc: BaseException) -> bool:
    """True when repeating the failed call later may succeed.

    Transient: ``TRANSIENT_ERRORS``, and every Kafka error that Kafka itself
    marks retriable (``KafkaConnectionError``, ``LeaderNotAvailableError``,
    ``NotLeaderForPartitionError``, ``RequestTimedOutError``,
    ``NodeNotReadyError``, ...), plus aiokafka's ``KafkaTimeoutError``, and
    an S3 answer with a 5xx status (MinIO starting or overloaded). An
    exception raised ``from`` a transient one is transient (a wrapper); an
    exception group is transient when all its members are. Everything else
    (``ValueError``, pydantic's ``ValidationError``, asyncpg's
    ``IntegrityConstraintViolationError`` and ``DataError``, ...) is the
    failure of the call or message itself.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_itself(current):
            return True
        current = current.__cause__
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transient(member) for member in exc.exceptions)
    if isinstance(exc, NOT_TRANSIENT_ERRORS):
        return False
    if isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc):
        # A connection PostgreSQL dropped mid-query (a crash: the chaos run's SIGKILL) leaves
        # asyncpg's protocol in that state; the pool discards it, a new one works.
        return True
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
    if isinstance(exc, BotoClientError):
        # S3 answered, but with a server-side error (MinIO starting, overloaded).
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return isinstance(status, int) and status >= 500
    return False


@dataclass(frozen=True)
class Backoff:
    """Exponential delays with a cap and jitter.

    The n-th wait (n = 0, 1, ...) is ``min(cap, first * factor**n)``, of which
    a random fraction up to ``jitter`` is taken off, so that many clients
    failing together do not retry together. ``jitter=0`` gives exact delays,
    ``jitter=1`` "full jitter" (anywhere between 0 and the delay).
    """

    first: float = 0.2
    cap: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.first <= 0 or self.cap < self.first or self.factor < 1:
            raise ValueError(f"invalid backoff {self!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")

    def delay(self, failures: int, random: Random = _random.random) -> float:
        """The wait after the ``failures``-th consecutive failure (counted from 0)."""
        base = self.cap if failures >= 64 else min(self.cap, self.first * self.factor**failures)
        return base * (1 - self.jitter * random())

    def delays(self, random: Random = _random.random) -> Delays:
        """A counter of consecutive failures that hands out this schedule's waits."""
        return Delays(self, random)


class Delays:
    """The waits of one ``Backoff`` for a loop that retries by itself.

    ``next()`` after each failure returns how long to wait, growing up to the
    cap; ``reset()`` after a success starts again from ``first``.
    """

    def __init__(self, backoff: Backoff, random: Random = _random.random) -> None:
        self.backoff = backoff
        self.failures = 0
        self._random = random

    def next(self) -> float:
        delay = self.backoff.delay(self.failures, self._random)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


DEFAULT_BACKOFF = Backoff()
"""0.2 s, doubling, up to 10 s, each wait shortened by up to half at random."""


class RetryDeadlineExceeded(RuntimeError):
    """``retry_until`` gave up: ``what`` kept failing for ``deadline`` seconds."""

    def __init__(self, what: str, deadline: float, last: BaseException) -> None:
        super().__init__(f"{what} unreachable for {deadline:.0f}s: {type(last).__name__}: {last}")
        self.what = what
        self.deadline = deadline


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    transient: Classifier = is_transient,
    sleep: Sleep = asyncio.sleep,
    random: Random = _random.random,
    logger: logging.Logger = log,
) -> T:
    """Await ``call()`` until it succeeds, retrying transient faults forever.

    Each transient failure is logged (``what`` names the operation) before
    the wait. Any other exception propagates at once: it is the call's own
    failure, which repeating would not cure. Cancel the task to stop waiting,
    or pass a ``sleep`` that raises.
    """
    return await _retry(call, what, None, backoff, transient, sleep, time.monotonic, random, logger)


async def retry_until(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    deadline: float,
    backoff: Backoff = DEFAULT_BACKOFF,
    transient: Classifier = is_transient,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    random: Random = _random.random,
    logger: logging.Logger = log,
) -> T:
    """Await ``call()`` until it succeeds, retrying transient faults for ``deadline`` seconds.

    For start-up: wait for PostgreSQL, Kafka or S3 to come up, but not for
    ever. Raises ``RetryDeadlineExceeded`` (from the last fault) when a
    transient fault is still there after ``deadline`` seconds; any other
    exception propagates at once. No wait ends past the deadline.
    """
    return await _retry(call, what, deadline, backoff, transient, sleep, clock, random, logger)


async def _retry(
    call: Callable[[], Awaitable[T]],
    what: str,
    deadline: float | None,
    backoff: Backoff,
    transient: Classifier,
    sleep: Sleep,
    clock: Clock,
    random: Random,
    logger: logging.Logger,
) -> T:
    delays = backoff.delays(random)
    give_up_at = None if deadline is None else clock() + deadline
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient(exc):
                raise
            delay = delays.next()
            if give_up_at is not None and deadline is not None:
                left = give_up_at - clock()
                if left <= 0:
                    raise RetryDeadlineExceeded(what, deadline, exc) from exc
                delay = min(delay, left)
            logger.warning(
                "%s failed (transient); retrying in %.1fs",
                what,
                delay,
                extra={
                    "error": f"{type(exc).__name__}: {exc}",
                    "attempt": delays.failures,
                    "retry_in": round(delay, 3),
                },
            )
            await sleep(delay)


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log a failed step of a loop that will simply run again later.

    A transient fault (PostgreSQL restarting, say) is a one-line warning; any
    other failure is an error with its traceback, since it will not go away
    by itself.
    """
    if is_transient(exc):
        logger.warning(
            "%s failed (transient); trying again",
            what,
            extra={"error": f"{type(exc).__name__}: {exc}"},
        )
    else:
        logger.error("%s failed; trying again", what, exc_info=exc)
