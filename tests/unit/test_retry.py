"""shared.retry: the classification of faults, the backoff schedule, the two retry loops.

No I/O and no waiting: sleep, clock and randomness are injected.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
import pydantic
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from asyncpg.exceptions._base import DataError as ArgumentDataError
from botocore.exceptions import ClientError, EndpointConnectionError

from shared.retry import (
    Backoff,
    RetryDeadlineExceeded,
    is_transient,
    log_failure,
    retry_transient,
    retry_until,
)


class _Model(pydantic.BaseModel):
    n: int


def _validation_error() -> pydantic.ValidationError:
    try:
        _Model.model_validate({"n": "many"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


def _s3_error(status: int, operation: str) -> ClientError:
    response: Any = {"ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.TooManyConnectionsError("too many clients"),
        asyncpg.SerializationError("could not serialize access"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        OSError(113, "No route to host"),
        TimeoutError(),
        KafkaConnectionError("Unable to bootstrap"),
        LeaderNotAvailableError(),
        NotLeaderForPartitionError(),
        RequestTimedOutError(),
        NodeNotReadyError(),
        KafkaTimeoutError(),
        EndpointConnectionError(endpoint_url="http://minio:9000"),
        _s3_error(503, "HeadBucket"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_infrastructure_faults_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        json.JSONDecodeError("Expecting value", "{", 1),
        ValueError("bad"),
        KeyError("missing"),
        _validation_error(),
        asyncpg.UniqueViolationError("duplicate key value"),
        asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
        asyncpg.CheckViolationError("violates check constraint"),
        asyncpg.exceptions.DataError("invalid input syntax"),
        ArgumentDataError("invalid input for query argument $1"),
        MessageSizeTooLargeError(),
        _s3_error(403, "PutObject"),
        RuntimeError("a bug"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_messages_own_failure_is_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_wrapper_raised_from_a_transient_fault_is_transient() -> None:
    outer = RuntimeError("handler failed")
    outer.__cause__ = asyncpg.CannotConnectNowError("starting up")
    assert is_transient(outer)


def test_an_error_raised_while_handling_a_fault_is_judged_by_itself() -> None:
    exc = ValueError("unparseable")
    exc.__context__ = ConnectionResetError()
    assert not is_transient(exc)


def test_an_exception_group_is_transient_only_when_every_member_is() -> None:
    assert is_transient(ExceptionGroup("g", [TimeoutError(), ConnectionResetError()]))
    assert not is_transient(ExceptionGroup("g", [TimeoutError(), ValueError()]))


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, cap=4.0, factor=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(10_000) == 4.0


def test_jitter_takes_off_at_most_its_fraction() -> None:
    backoff = Backoff(first=1.0, cap=8.0, jitter=0.5)
    assert backoff.delay(3, random=lambda: 0.0) == 8.0
    assert backoff.delay(3, random=lambda: 1.0) == 4.0
    assert backoff.delay(3, random=lambda: 0.25) == 7.0


@pytest.mark.parametrize(
    "kwargs", [{"first": 0}, {"first": 2, "cap": 1}, {"factor": 0.5}, {"jitter": 1.5}]
)
def test_a_nonsensical_backoff_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"backoff|jitter"):
        Backoff(**kwargs)


def test_delays_count_failures_and_reset_after_a_success() -> None:
    delays = Backoff(first=1.0, cap=10.0, jitter=0.0).delays()
    assert [delays.next(), delays.next(), delays.next()] == [1.0, 2.0, 4.0]
    assert delays.failures == 3
    delays.reset()
    assert delays.next() == 1.0


class _Script:
    """A call that raises the scripted exceptions in turn, then returns ``"done"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


NO_JITTER = Backoff(first=1.0, cap=5.0, jitter=0.0)


async def test_retry_transient_waits_out_any_number_of_transient_faults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = _FakeTime()
    call = _Script(*[ConnectionResetError()] * 50)
    with caplog.at_level(logging.WARNING, logger="shared.retry"):
        result = await retry_transient(call, what="the thing", backoff=NO_JITTER, sleep=time.sleep)
    assert result == "done"
    assert call.calls == 51
    assert time.slept[:4] == [1.0, 2.0, 4.0, 5.0]
    assert set(time.slept[3:]) == {5.0}
    waits = [r for r in caplog.records if r.name == "shared.retry"]
    assert len(waits) == 50
    assert "the thing failed (transient)" in waits[0].getMessage()
    assert waits[0].__dict__["error"] == "ConnectionResetError: "


async def test_retry_transient_raises_a_messages_own_failure_at_once() -> None:
    time = _FakeTime()
    call = _Script(TimeoutError(), asyncpg.UniqueViolationError("duplicate"))
    with pytest.raises(asyncpg.UniqueViolationError):
        await retry_transient(call, what="insert", backoff=NO_JITTER, sleep=time.sleep)
    assert call.calls == 2
    assert time.slept == [1.0]


async def test_retry_transient_accepts_another_classification() -> None:
    time = _FakeTime()
    call = _Script(ValueError("odd"), ValueError("odd"))
    result = await retry_transient(
        call, what="x", backoff=NO_JITTER, sleep=time.sleep, transient=lambda _: True
    )
    assert result == "done"
    assert time.slept == [1.0, 2.0]


async def test_retry_until_succeeds_within_its_deadline() -> None:
    time = _FakeTime()
    call = _Script(asyncpg.CannotConnectNowError("starting up"), ConnectionRefusedError())
    result = await retry_until(
        call, what="PostgreSQL", deadline=60, backoff=NO_JITTER, sleep=time.sleep, clock=time.clock
    )
    assert result == "done"
    assert time.slept == [1.0, 2.0]


async def test_retry_until_gives_up_at_its_deadline_and_never_sleeps_past_it() -> None:
    time = _FakeTime()
    call = _Script(*[ConnectionRefusedError()] * 100)
    with pytest.raises(RetryDeadlineExceeded, match="Kafka unreachable for 12s") as raised:
        await retry_until(
            call, what="Kafka", deadline=12, backoff=NO_JITTER, sleep=time.sleep, clock=time.clock
        )
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    assert time.slept == [1.0, 2.0, 4.0, 5.0]
    assert time.now == 12.0
    assert call.calls == 5


async def test_retry_until_raises_a_permanent_error_at_once() -> None:
    time = _FakeTime()
    call = _Script(asyncpg.InvalidPasswordError("password authentication failed"))
    with pytest.raises(asyncpg.InvalidPasswordError):
        await retry_until(call, what="PostgreSQL", deadline=60, sleep=time.sleep, clock=time.clock)
    assert time.slept == []


def test_log_failure_warns_once_for_a_transient_fault_and_errs_with_traceback_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.retry.log_failure")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        log_failure(logger, "heartbeat check", ConnectionRefusedError("down"))
        log_failure(logger, "heartbeat check", ValueError("bug"))
    transient, other = caplog.records
    assert (transient.levelno, transient.exc_info) == (logging.WARNING, None)
    assert "heartbeat check failed (transient)" in transient.getMessage()
    assert other.levelno == logging.ERROR
    assert other.exc_info is not None
    assert isinstance(other.exc_info[1], ValueError)


def test_a_connection_left_mid_operation_by_a_crashed_postgresql_is_transient() -> None:
    """What asyncpg raised on the connections PostgreSQL's SIGKILL dropped (the chaos run:
    the metrics service dead-lettered an event for it)."""
    dropped = asyncpg.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    )
    assert is_transient(dropped)
    assert not is_transient(asyncpg.InternalClientError("some other protocol bug"))
