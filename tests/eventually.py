"""Wait in a test until something holds, and fail with what was last seen if it never does.

The one way for a test to wait: no hand-rolled ``while``/``sleep``/deadline loops.

``eventually(probe, until)`` calls ``probe()`` every ``interval`` seconds until
``until(value)`` is true, and returns that value. A probe that raises counts as
"not yet" (a 404 before a row exists, a connection refused during a restart):
the exception is remembered and the probe is called again. If ``timeout``
seconds pass first, it raises :class:`NotEventually` (an ``AssertionError``, so
pytest reports it as a test failure) naming the last value, the last exception,
the number of tries and the time spent::

    from tests.eventually import eventually, eventually_async

    document = eventually(lambda: show(execution_id), lambda d: d["phase"] == "SUCCEEDED",
                          what=f"{execution_id} SUCCEEDED")

    execution = await eventually_async(
        lambda: client.get(url),              # a coroutine function or a plain one
        lambda response: response.status_code == 200,
        timeout=30,
        what=f"{url} found",
    )

    await eventually_async(lambda: records, lambda rs: len(rs) >= 3, what="three records")
    await eventually_async(lambda: marker.read_text(), what="a marker written")  # until=bool

``what`` completes the failure's first line: "not <what> after 12 tries in 30.0 s".
The probe returns what a failure message should show: return the whole
document, not ``document["phase"] == "RUNNING"``, so a timeout says which phase
it was stuck in. ``until`` may also raise (e.g. ``assert``): that counts as not
yet, and its message is part of the failure. ``retry_on`` narrows which
exceptions count as "not yet" (everything else propagates at once).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

T = TypeVar("T")

_NOTHING: Any = object()
_REPR_LIMIT = 2000


class NotEventually(AssertionError):
    """The condition did not hold within the timeout; the message says what was last seen."""

    def __init__(
        self,
        message: str,
        *,
        last_value: object,
        last_error: BaseException | None,
        tries: int,
        elapsed: float,
    ) -> None:
        super().__init__(message)
        self.last_value = None if last_value is _NOTHING else last_value
        self.last_error = last_error
        self.tries = tries
        self.elapsed = elapsed


def _shorten(text: str) -> str:
    """At most about ``_REPR_LIMIT`` characters: the start and the end (often the newest)."""
    if len(text) <= _REPR_LIMIT:
        return text
    half = _REPR_LIMIT // 2
    return f"{text[:half]} ... ({len(text)} chars) ... {text[-half:]}"


@dataclass
class _Attempts:
    """The bookkeeping shared by the sync and async loops."""

    what: str
    timeout: float
    clock: Callable[[], float]
    started: float = 0.0
    tries: int = 0
    last_value: Any = _NOTHING
    last_value_at: int = 0
    last_error: BaseException | None = None
    last_error_at: int = 0
    last_call: bool = False

    def __post_init__(self) -> None:
        self.started = self.clock()

    def record_value(self, value: object) -> None:
        self.last_value = value
        self.last_value_at = self.tries

    def record_error(self, error: BaseException) -> None:
        self.last_error = error
        self.last_error_at = self.tries

    def next_wait(self, interval: float) -> float | None:
        """How long to sleep before the next try, or None when time is up.

        The sleep that reaches the deadline is cut short and the try after it is
        the last, whatever the clock then says (so a clock that barely moves
        cannot make the loop spin).
        """
        remaining = self.timeout - (self.clock() - self.started)
        if remaining <= 0 or self.last_call:
            return None
        if remaining <= interval:
            self.last_call = True
        return min(interval, remaining)

    def _at(self, attempt: int) -> str:
        return "at the last try" if attempt == self.tries else f"at try {attempt}"

    def failure(self) -> NotEventually:
        elapsed = self.clock() - self.started
        tries = f"{self.tries} {'try' if self.tries == 1 else 'tries'}"
        lines = [f"not {self.what} after {tries} in {elapsed:.1f} s (timeout {self.timeout} s)"]
        if self.last_value is not _NOTHING:
            value = _shorten(repr(self.last_value))
            lines.append(f"last value ({self._at(self.last_value_at)}): {value}")
        if self.last_error is not None:
            error = _shorten(f"{type(self.last_error).__name__}: {self.last_error}")
            lines.append(f"last exception ({self._at(self.last_error_at)}): {error}")
        failure = NotEventually(
            "\n".join(lines),
            last_value=self.last_value,
            last_error=self.last_error,
            tries=self.tries,
            elapsed=elapsed,
        )
        failure.__cause__ = self.last_error
        return failure


def eventually(
    probe: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "true",
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``probe()`` until ``until(value)`` holds; return that value.

    Raises :class:`NotEventually` after ``timeout`` seconds, with the last value,
    the last exception (of ``retry_on``, from the probe or from ``until``), the
    number of tries and the time spent. The probe always runs at least once, and
    once more at the deadline. ``what`` completes "not ... after N tries".
    """
    attempts = _Attempts(what=what, timeout=timeout, clock=clock)
    while True:
        attempts.tries += 1
        try:
            value = probe()
            attempts.record_value(value)
            if until(value):
                return value
        except retry_on as error:
            attempts.record_error(error)
        wait = attempts.next_wait(interval)
        if wait is None:
            raise attempts.failure()
        sleep(wait)


@overload
async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], object] = ...,
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
    retry_on: tuple[type[BaseException], ...] = ...,
    clock: Callable[[], float] = ...,
    sleep: Callable[[float], Awaitable[object]] = ...,
) -> T: ...


@overload
async def eventually_async(
    probe: Callable[[], T],
    until: Callable[[T], object] = ...,
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
    retry_on: tuple[type[BaseException], ...] = ...,
    clock: Callable[[], float] = ...,
    sleep: Callable[[float], Awaitable[object]] = ...,
) -> T: ...


async def eventually_async(
    probe: Callable[[], Any],
    until: Callable[[Any], object] = bool,
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "true",
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Any:
    """:func:`eventually` for async tests: ``probe`` may be a coroutine function or a plain one.

    Sleeps with ``asyncio.sleep`` so the event loop keeps running (consumers,
    relays and servers started by the test go on working between tries).
    ``asyncio.CancelledError`` is never swallowed.
    """
    attempts = _Attempts(what=what, timeout=timeout, clock=clock)
    while True:
        attempts.tries += 1
        try:
            result = probe()
            value = await result if inspect.isawaitable(result) else result
            attempts.record_value(value)
            if until(value):
                return value
        except asyncio.CancelledError:
            raise
        except retry_on as error:
            attempts.record_error(error)
        wait = attempts.next_wait(interval)
        if wait is None:
            raise attempts.failure()
        await sleep(wait)
