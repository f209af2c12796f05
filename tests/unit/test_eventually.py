"""tests.eventually: returns the value that satisfied the predicate, fails with what it last saw.

Time is injected (a fake clock that the fake sleep advances), so nothing here waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.eventually import NotEventually, eventually, eventually_async


class _Time:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def _counter(values: list[Any]) -> Callable[[], Any]:
    """A probe that returns the values in turn, then keeps returning the last one."""
    seen: Iterator[object] = iter(values)
    last: list[object] = []

    def probe() -> object:
        last[:] = [next(seen, *last)]
        value = last[0]
        if isinstance(value, Exception):
            raise value
        return value

    return probe


def test_returns_the_first_value_that_satisfies_the_predicate() -> None:
    time = _Time()
    value = eventually(
        _counter(["PENDING", "QUEUED", "RUNNING", "SUCCEEDED"]),
        lambda phase: phase == "RUNNING",
        clock=time.clock,
        sleep=time.sleep,
    )
    assert value == "RUNNING"
    assert time.sleeps == [0.1, 0.1]


def test_returns_at_once_without_sleeping_when_it_already_holds() -> None:
    time = _Time()
    assert eventually(lambda: [1, 2], clock=time.clock, sleep=time.sleep) == [1, 2]
    assert time.sleeps == []


def test_fails_with_the_last_value_the_tries_and_the_time() -> None:
    time = _Time()
    with pytest.raises(NotEventually) as failure:
        eventually(
            _counter([{"phase": "QUEUED"}, {"phase": "RUNNING"}]),
            lambda document: document["phase"] == "SUCCEEDED",
            timeout=1.0,
            interval=0.25,
            what="the execution to succeed",
            clock=time.clock,
            sleep=time.sleep,
        )
    message = str(failure.value)
    assert message.startswith("not the execution to succeed after 5 tries in 1.0 s (timeout 1.0 s)")
    assert "last value (at the last try): {'phase': 'RUNNING'}" in message
    assert "exception" not in message
    assert failure.value.last_value == {"phase": "RUNNING"}
    assert failure.value.tries == 5
    assert failure.value.elapsed == pytest.approx(1.0)
    # The last sleep is cut so that the last try happens at the deadline, not past it.
    assert sum(time.sleeps) == pytest.approx(1.0)


def test_it_is_an_assertion_error_so_pytest_reports_a_failed_test() -> None:
    time = _Time()
    with pytest.raises(AssertionError):
        eventually(lambda: False, timeout=0.3, clock=time.clock, sleep=time.sleep)


def test_an_exception_from_the_probe_counts_as_not_yet() -> None:
    time = _Time()
    probe = _counter([ConnectionRefusedError("gateway down"), KeyError("e-1"), "found"])
    assert eventually(probe, clock=time.clock, sleep=time.sleep) == "found"
    assert len(time.sleeps) == 2


def test_fails_with_the_last_exception_and_chains_it() -> None:
    time = _Time()
    with pytest.raises(NotEventually) as failure:
        eventually(
            _counter([ConnectionRefusedError("gateway down")]),
            timeout=0.5,
            interval=0.125,
            what="the gateway to answer",
            clock=time.clock,
            sleep=time.sleep,
        )
    message = str(failure.value)
    assert "after 5 tries in 0.5 s" in message
    assert "last exception (at the last try): ConnectionRefusedError: gateway down" in message
    assert "last value" not in message
    assert isinstance(failure.value.__cause__, ConnectionRefusedError)
    assert isinstance(failure.value.last_error, ConnectionRefusedError)


def test_reports_both_the_last_value_and_an_earlier_exception() -> None:
    time = _Time()
    with pytest.raises(NotEventually) as failure:
        eventually(
            _counter([TimeoutError("slow"), 0, 1]),
            lambda n: n >= 3,
            timeout=0.3,
            clock=time.clock,
            sleep=time.sleep,
        )
    message = str(failure.value)
    assert "last value (at the last try): 1" in message
    assert "last exception (at try 1): TimeoutError: slow" in message


def test_an_assertion_in_the_predicate_is_retried_and_its_message_kept() -> None:
    time = _Time()

    def has_three(values: list[int]) -> bool:
        assert len(values) == 3, f"{len(values)} values"
        return True

    with pytest.raises(NotEventually) as failure:
        eventually(lambda: [1, 2], has_three, timeout=0.2, clock=time.clock, sleep=time.sleep)
    assert "last value (at the last try): [1, 2]" in str(failure.value)
    assert "AssertionError: 2 values" in str(failure.value)


def test_exceptions_outside_retry_on_propagate_at_once() -> None:
    time = _Time()
    with pytest.raises(ValueError, match="bad document"):
        eventually(
            _counter([ValueError("bad document")]),
            retry_on=(ConnectionError,),
            clock=time.clock,
            sleep=time.sleep,
        )
    assert time.sleeps == []


def test_a_long_value_is_shortened_to_its_start_and_end_in_the_message() -> None:
    time = _Time()
    with pytest.raises(NotEventually) as failure:
        eventually(lambda: "a" + "x" * 10_000 + "z", lambda _: False, timeout=0, clock=time.clock)
    message = str(failure.value)
    assert len(message) < 2_200
    assert "'axxx" in message
    assert "xx ... (10004 chars) ... xx" in message
    assert message.endswith("xxz'")


async def test_async_awaits_a_coroutine_probe_and_returns_its_value() -> None:
    time = _Time()
    phases = iter(["QUEUED", "RUNNING"])

    async def phase() -> str:
        return next(phases)

    value = await eventually_async(
        phase, lambda p: p == "RUNNING", clock=time.clock, sleep=time.asleep
    )
    assert value == "RUNNING"
    assert time.sleeps == [0.1]


async def test_async_accepts_a_plain_probe() -> None:
    time = _Time()
    records: list[int] = []

    def probe() -> bool:
        records.append(1)
        return len(records) >= 3

    assert await eventually_async(probe, clock=time.clock, sleep=time.asleep) is True
    assert len(time.sleeps) == 2


async def test_async_fails_with_the_last_value_and_exception() -> None:
    time = _Time()
    answers = _counter([OSError("refused"), {"phase": "QUEUED"}])

    async def fetch() -> object:
        return answers()

    with pytest.raises(NotEventually) as failure:
        await eventually_async(
            fetch,
            lambda d: d == {"phase": "RUNNING"},
            timeout=1.0,
            interval=0.5,
            what="RUNNING",
            clock=time.clock,
            sleep=time.asleep,
        )
    message = str(failure.value)
    assert message.startswith("not RUNNING after 3 tries in 1.0 s")
    assert "last value (at the last try): {'phase': 'QUEUED'}" in message
    assert "last exception (at try 1): OSError: refused" in message


async def test_async_never_swallows_cancellation() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await eventually_async(cancelled, retry_on=(BaseException,))


async def test_async_lets_the_event_loop_run_between_tries() -> None:
    # With the real asyncio.sleep, a task started by the test makes progress while we wait.
    done = asyncio.Event()
    task = asyncio.get_running_loop().call_soon(done.set)
    assert await eventually_async(done.is_set, timeout=5, interval=0.01) is True
    task.cancel()
