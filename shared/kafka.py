"""Kafka: the one producer configuration, the two ways to consume, dead letters, topics.

Producing: ``producer_options`` is every producer's configuration (idempotent,
``acks=all``, so a retried send never duplicates or reorders records of one
partition). ``create_broker`` (FastStream, for typed messages; its telemetry
middleware puts the trace context in each record's headers) and
``create_producer`` (bare aiokafka, for records forwarded as stored) both use it.

Consuming, one of two ways:

- a FastStream typed subscriber on the broker of ``create_broker``: an async
  function whose parameter is a pydantic model, one record at a time (the
  default; ``of_type`` picks one event type of a topic that carries several);
- ``BatchConsumer``, where a fetched batch is handled at once for speed (one
  transaction per batch): each record decoded into a declared type.

Both follow one policy. A transient fault (``shared.retry.is_transient``:
PostgreSQL restarting, a Kafka leader change, a broker restart) is retried with
backoff and jitter for as long as it lasts, and the record is not committed
meanwhile. A record that fails for its own sake (unparseable, invalid, a
violated constraint) goes to ``<topic>.dlq`` with its key, its headers and
``x-contrail-dlq-reason``, and consuming goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, TypeAlias, TypedDict, TypeVar, overload

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, TopicAlreadyExistsError
from faststream import BaseMiddleware, ContextRepo
from faststream.exceptions import HandlerException, SubscriberNotFound
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.message import StreamMessage
from opentelemetry.sdk.trace import TracerProvider
from pydantic import TypeAdapter

from shared.events.envelope import CONTENT_TYPE, EventData
from shared.events.topics import ALL_TOPICS, dead_letter
from shared.retry import DEFAULT_BACKOFF, Backoff, is_transient, retry_transient
from shared.settings import InfraSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

Record: TypeAlias = ConsumerRecord[bytes, bytes]

# --- producing ---------------------------------------------------------------------


class ProducerOptions(TypedDict):
    """The keyword arguments every Contrail producer is made with."""

    bootstrap_servers: str
    client_id: str
    enable_idempotence: bool
    acks: Literal["all"]
    request_timeout_ms: int


def producer_options(settings: InfraSettings, client_id: str) -> ProducerOptions:
    """Idempotent, waiting for all in-sync replicas, a request given up after 15 s."""
    return ProducerOptions(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=15_000,
    )


def create_producer(settings: InfraSettings, client_id: str) -> AIOKafkaProducer:
    """A bare producer, for records forwarded exactly as stored (the outbox relay's).

    Such records carry their trace context already, so they need none of the
    broker's per-message middleware.
    """
    return AIOKafkaProducer(**producer_options(settings, client_id))


def create_broker(
    settings: InfraSettings,
    client_id: str,
    tracer_provider: TracerProvider | None = None,
) -> KafkaBroker:
    """A FastStream broker for typed messages, producing with ``producer_options``.

    Its subscribers decode CloudEvents JSON, retry transient faults in place and
    dead-letter a record that fails for its own sake (see ``DeadLetterMiddleware``).
    """
    dead_letters = DeadLetterMiddleware()
    broker = KafkaBroker(
        **producer_options(settings, client_id),
        decoder=_decode_cloudevents,
        # The dead-letter middleware last: it wraps the handler itself, inside
        # the telemetry span.
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider), dead_letters],
        logger=logging.getLogger(f"contrail.kafka.{client_id}"),
        # "Received" and "Processed" for every message: thousands of lines a
        # second under load, so only at DEBUG.
        log_level=logging.DEBUG,
    )
    dead_letters.broker = broker
    return broker


# --- dead letters --------------------------------------------------------------------

DLQ_REASON = "x-contrail-dlq-reason"
"""Header of a dead-lettered record: why it was set aside."""
DLQ_ORIGIN = "x-contrail-dlq-origin"
"""Header of a dead-lettered record: ``topic/partition/offset`` it was read at."""
_MAX_REASON = 1000


def dead_letter_headers(record: Record, reason: str) -> dict[str, str]:
    """The record's own headers, plus why and where from it was set aside."""
    headers = {
        name: value.decode(errors="replace")
        for name, value in record.headers
        if not name.startswith("x-contrail-dlq-")
    }
    headers[DLQ_REASON] = reason[:_MAX_REASON]
    headers[DLQ_ORIGIN] = f"{record.topic}/{record.partition}/{record.offset}"
    return headers


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --- FastStream subscribers -----------------------------------------------------------


async def _decode_cloudevents(
    message: StreamMessage[Any], default: Callable[[StreamMessage[Any]], Awaitable[Any]]
) -> Any:
    """CloudEvents records (``application/cloudevents+json``) are JSON too."""
    if (message.content_type or "").startswith(CONTENT_TYPE):
        return json.loads(message.body)
    return await default(message)


def of_type(data: type[EventData]) -> Callable[[StreamMessage[Any]], Awaitable[bool]]:
    """A subscriber filter: the record is an event whose ``data`` is ``data``.

    A record that no handler of a subscriber takes is committed and skipped:
    it is not for that consumer.
    """

    async def matches(message: StreamMessage[Any]) -> bool:
        body = await message.decode()
        return isinstance(body, dict) and body.get("type") == data.event_type

    matches.__name__ = f"of_type_{data.__name__}"
    return matches


class DeadLetterMiddleware:
    """The consuming policy of a FastStream subscriber (built per record).

    Transient faults of the handler are retried in place, with backoff, for as
    long as they last: the partition waits, in order. Any other failure
    (undecodable, invalid, the handler's own) sends the record to
    ``<topic>.dlq`` through the broker and commits it. A record no handler
    takes (``of_type`` filters) is committed and skipped.
    """

    def __init__(self, backoff: Backoff = DEFAULT_BACKOFF) -> None:
        self.broker: KafkaBroker | None = None
        self.backoff = backoff

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _DeadLetterScope:
        return _DeadLetterScope(msg, context=context, policy=self)


class _DeadLetterScope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, policy: DeadLetterMiddleware) -> None:
        super().__init__(msg, context=context)
        self._policy = policy

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        topic = getattr(self.msg, "topic", "?")
        return await retry_transient(
            lambda: call_next(msg),
            what=f"handling a record of {topic}",
            backoff=self._policy.backoff,
            logger=log,
        )

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        if not isinstance(exc_val, Exception) or isinstance(exc_val, HandlerException):
            return False  # success, cancellation, or an explicit ack/nack
        if isinstance(exc_val, SubscriberNotFound):
            return True
        if is_transient(exc_val) or not isinstance(self.msg, ConsumerRecord):
            # A transient fault outside the handler (decoding): read it again.
            return False
        record: Record = self.msg
        broker = self._policy.broker
        if broker is None:
            return False
        log.error(
            "dead-lettering a record",
            exc_info=exc_val,
            extra={"topic": record.topic, "offset": record.offset, "error": _failure(exc_val)},
        )
        headers = dead_letter_headers(record, _failure(exc_val))
        await retry_transient(
            lambda: broker.publish(
                record.value, dead_letter(record.topic), key=record.key, headers=headers
            ),
            what=f"dead-lettering to {dead_letter(record.topic)}",
            backoff=self._policy.backoff,
            logger=log,
        )
        return True


# --- batch consumer ----------------------------------------------------------------------


Deferred: TypeAlias = Awaitable[Sequence[bool]]
"""What a handler may return to commit its batch later: once it completes, one
flag per value it was given, True for a value whose record may be committed."""

Handler: TypeAlias = Callable[[list[T]], Awaitable[Deferred | None]]

_PAUSED_POLL_SECONDS = 5.0
"""While ``max_records`` says 0, the consumer still polls this often, to stay in its group."""


class BatchConsumer(Generic[T]):
    """Reads a topic as a member of a consumer group, one fetched batch at a time.

    Each record's value is decoded first: with ``message_type``, as JSON into
    that type (a pydantic model or any type pydantic validates); with
    ``decode``, by that function, which returns None for a record this
    consumer skips; with neither, the handler gets the records themselves. A
    record that cannot be decoded goes to ``<topic>.dlq``.

    ``handler`` gets the decoded values of a fetch (up to ``max_records``, in
    order within each partition); the group's offsets are committed once it
    returns. Delivery is at least once, so the handler must be idempotent.

    - A transient fault (``shared.retry.is_transient``): the consumer goes back
      to the batch's first records and reads them again after the next wait of
      ``backoff``, for as long as the fault lasts.
    - Any other failure: the batch's records are handled one at a time (each
      retried while the fault is transient); one that fails for its own sake
      goes to ``<topic>.dlq`` with ``x-contrail-dlq-reason``, and the rest go on.

    Two features for a consumer whose handler only starts long work:

    - Flow control: ``max_records`` may be a function, asked before each fetch
      how many records the consumer may take now. While it says 0 the
      consumer pauses its partitions and still polls (empty) every few seconds
      so the group keeps it; ``wake()`` makes it ask again at once (call it when
      capacity frees). A partition assigned while paused gives its records back.
    - Deferred commit: the handler may return an awaitable (``Deferred``) that
      completes with one flag per value. The batch's offsets are committed once
      it completes, in order after earlier batches' commits, while the consumer
      goes on fetching: per partition, up to the first record whose flag is
      False (neither it nor any later record of that partition is committed;
      the partition's next owner reads them again). Undecodable and skipped
      records count as done.

    ``stop()`` ends ``run`` gracefully: no more fetching, pending commits done,
    then the consumer leaves its group. Cancelling ``run`` ends it at once.

    A fetch returns as soon as records arrive and otherwise waits
    ``fetch_max_wait_ms`` at the broker.
    """

    @overload
    def __init__(
        self: BatchConsumer[Record],
        settings: InfraSettings,
        topic: str,
        group_id: str,
        handler: Handler[Record],
        *,
        client_id: str,
        max_records: int | Callable[[], int] = 500,
        fetch_max_wait_ms: int = 250,
        max_partition_fetch_bytes: int = 1024 * 1024,
        backoff: Backoff = DEFAULT_BACKOFF,
        retry_seconds: float | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        settings: InfraSettings,
        topic: str,
        group_id: str,
        handler: Handler[T],
        *,
        client_id: str,
        message_type: type[T],
        max_records: int | Callable[[], int] = 500,
        fetch_max_wait_ms: int = 250,
        max_partition_fetch_bytes: int = 1024 * 1024,
        backoff: Backoff = DEFAULT_BACKOFF,
        retry_seconds: float | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        settings: InfraSettings,
        topic: str,
        group_id: str,
        handler: Handler[T],
        *,
        client_id: str,
        decode: Callable[[Record], T | None],
        max_records: int | Callable[[], int] = 500,
        fetch_max_wait_ms: int = 250,
        max_partition_fetch_bytes: int = 1024 * 1024,
        backoff: Backoff = DEFAULT_BACKOFF,
        retry_seconds: float | None = None,
    ) -> None: ...

    def __init__(
        self,
        settings: InfraSettings,
        topic: str,
        group_id: str,
        handler: Handler[Any],
        *,
        client_id: str,
        message_type: Any = None,
        decode: Callable[[Record], Any] | None = None,
        max_records: int | Callable[[], int] = 500,
        fetch_max_wait_ms: int = 250,
        max_partition_fetch_bytes: int = 1024 * 1024,
        backoff: Backoff = DEFAULT_BACKOFF,
        retry_seconds: float | None = None,
    ) -> None:
        """``retry_seconds``, when given, is the first wait of ``backoff`` (tests)."""
        if message_type is not None and decode is not None:
            raise TypeError("give message_type or decode, not both")
        self._settings = settings
        self.topic = topic
        self.group_id = group_id
        self._handler = handler
        self._client_id = client_id
        self._decode = _decoder(message_type, decode)
        self._max_records: Callable[[], int] = (
            max_records if callable(max_records) else _fixed(max_records)
        )
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._max_partition_fetch_bytes = max_partition_fetch_bytes
        if retry_seconds is not None:
            backoff = Backoff(first=retry_seconds, cap=max(retry_seconds, backoff.cap))
        self._backoff = backoff
        self._failures = backoff.delays()
        self._dead_letters: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._paused = False
        # The latest deferred batch's commit, which waits for the one before it.
        self._committing: asyncio.Task[None] | None = None
        self.dead_lettered = 0
        """Records this consumer sent to the dead-letter topic."""

    def stop(self) -> None:
        """Stop fetching; ``run`` finishes pending commits, leaves the group and returns."""
        self._stopping.set()
        self._woken.set()

    def wake(self) -> None:
        """Capacity freed: ask ``max_records`` again now rather than at the next poll."""
        self._woken.set()

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self.group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            max_partition_fetch_bytes=self._max_partition_fetch_bytes,
        )

    async def run(self) -> None:
        """Consume until ``stop()`` or cancelled; reconnect (with backoff) when Kafka goes away."""
        reconnects = self._backoff.delays()
        try:
            while not self._stopping.is_set():
                consumer = self._consumer()
                self._paused = False
                cancelled = False
                try:
                    await consumer.start()
                    while not self._stopping.is_set():
                        fetched = await self._fetch(consumer)
                        reconnects.reset()
                        if fetched:
                            await self._handle(consumer, fetched)
                except asyncio.CancelledError:
                    cancelled = True
                    raise
                except Exception as exc:
                    delay = reconnects.next()
                    log.warning(
                        "Kafka consumer failed; reconnecting in %.1fs",
                        delay,
                        exc_info=not is_transient(exc),
                        extra={"topic": self.topic, "error": _failure(exc)},
                    )
                    await self._wait(delay, self._stopping)
                finally:
                    await self._settle_commits(cancel=cancelled)
                    with contextlib.suppress(Exception):
                        await consumer.stop()
        finally:
            producer, self._dead_letters = self._dead_letters, None
            if producer is not None:
                with contextlib.suppress(Exception):
                    await producer.stop()

    async def _settle_commits(self, *, cancel: bool) -> None:
        """Before leaving the group: finish the deferred commits (or drop them if cancelled)."""
        pending, self._committing = self._committing, None
        if pending is None:
            return
        if cancel:
            pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)

    async def _wait(self, seconds: float, until: asyncio.Event) -> bool:
        """Wait ``seconds`` or until ``until`` is set (``stop()`` sets both); True if it was."""
        if self._stopping.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), seconds)
            return True
        return False

    async def _fetch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Record]]:
        self._woken.clear()
        wanted = self._max_records()
        if wanted <= 0:
            await self._paused_poll(consumer)
            return {}
        if self._paused:
            with contextlib.suppress(Exception):  # not ours any more after a rebalance
                consumer.resume(*consumer.assignment())
            self._paused = False
        fetch = asyncio.ensure_future(consumer.getmany(timeout_ms=1000, max_records=wanted))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
        return fetch.result() if not fetch.cancelled() else {}

    async def _paused_poll(self, consumer: AIOKafkaConsumer) -> None:
        """No capacity: pause, and keep polling (empty) so the group keeps this member."""
        consumer.pause(*consumer.assignment())
        self._paused = True
        if await self._wait(_PAUSED_POLL_SECONDS, self._woken):
            return
        # Partitions assigned since the pause aren't paused: give their records back.
        fetched = await consumer.getmany(timeout_ms=0)
        for tp, records in fetched.items():
            consumer.seek(tp, records[0].offset)
        consumer.pause(*consumer.assignment())

    async def _handle(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Record]]
    ) -> None:
        records = [record for batch in fetched.values() for record in batch]
        decoded: list[tuple[Record, Any]] = []
        undecodable: list[tuple[Record, str]] = []
        for record in records:
            try:
                value = self._decode(record)
            except Exception as exc:
                undecodable.append((record, f"undecodable: {_failure(exc)}"))
                continue
            if value is not None:
                decoded.append((record, value))
        deferred: list[tuple[list[Record], Deferred]] = []
        if decoded:
            try:
                later = await self._handler([value for _, value in decoded])
            except Exception as exc:
                if is_transient(exc):
                    await self._again_later(consumer, fetched, exc)
                    return
                log.warning(
                    "a batch failed; handling its records one at a time",
                    exc_info=True,
                    extra={"topic": self.topic, "records": len(decoded)},
                )
                for record, value in decoded:
                    alone = await self._handle_alone(record, value)
                    if alone is not None:
                        deferred.append(([record], alone))
            else:
                if later is not None:
                    deferred.append(([record for record, _ in decoded], later))
        self._failures.reset()
        for record, reason in undecodable:
            await self.send_to_dead_letters(record, reason)
        if self._committing is not None and self._committing.done():
            self._committing = None
        if not deferred and self._committing is None:
            try:
                # This batch's offsets, not the positions: a deferred batch may
                # have left records of other partitions uncommitted on purpose.
                await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in fetched.items()})
            except CommitFailedError:
                # The group rebalanced meanwhile: the new owner reads these again.
                log.warning("offset commit failed after a rebalance", extra={"topic": self.topic})
            return
        self._committing = asyncio.create_task(
            self._commit_later(consumer, self._committing, fetched, deferred)
        )

    async def _commit_later(
        self,
        consumer: AIOKafkaConsumer,
        previous: asyncio.Task[None] | None,
        fetched: dict[TopicPartition, list[Record]],
        deferred: list[tuple[list[Record], Deferred]],
    ) -> None:
        """Commit ``fetched`` once its deferred work is done, after ``previous`` commits."""
        not_done: set[tuple[TopicPartition, int]] = set()
        for records, later in deferred:
            try:
                flags = list(await later)
            except Exception:
                log.warning("a deferred batch failed", exc_info=True, extra={"topic": self.topic})
                flags = [False] * len(records)
            for record, done in zip(records, flags, strict=True):
                if not done:
                    not_done.add((TopicPartition(record.topic, record.partition), record.offset))
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        offsets: dict[TopicPartition, int] = {}
        for tp, records in fetched.items():
            for record in records:
                if (tp, record.offset) in not_done:
                    break
                offsets[tp] = record.offset + 1
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except Exception:
            # The work goes on anyway; another member may read these again after a rebalance.
            log.warning(
                "could not commit a deferred batch", exc_info=True, extra={"topic": self.topic}
            )

    async def _again_later(
        self,
        consumer: AIOKafkaConsumer,
        fetched: dict[TopicPartition, list[Record]],
        exc: Exception,
    ) -> None:
        delay = self._failures.next()
        log.warning(
            "handling a batch failed (transient); reading it again in %.1fs",
            delay,
            extra={"topic": self.topic, "error": _failure(exc), "attempt": self._failures.failures},
        )
        for tp, batch in fetched.items():
            with contextlib.suppress(Exception):  # not ours any more after a rebalance
                consumer.seek(tp, batch[0].offset)
        await asyncio.sleep(delay)

    async def _handle_alone(self, record: Record, value: Any) -> Deferred | None:
        try:
            return await retry_transient(
                lambda: self._handler([value]),
                what=f"handling a record of {self.topic}",
                backoff=self._backoff,
                logger=log,
            )
        except Exception as exc:
            log.error(
                "dead-lettering a record",
                exc_info=True,
                extra={"topic": self.topic, "offset": record.offset, "error": _failure(exc)},
            )
            await self.send_to_dead_letters(record, _failure(exc))
            return None

    async def send_to_dead_letters(self, record: Record, reason: str) -> None:
        """Publish ``record`` to ``<topic>.dlq`` (retrying transient faults)."""
        await retry_transient(
            lambda: self._send_dead_letter(record, reason),
            what=f"dead-lettering to {dead_letter(self.topic)}",
            backoff=self._backoff,
            logger=log,
        )
        self.dead_lettered += 1

    async def _send_dead_letter(self, record: Record, reason: str) -> None:
        if self._dead_letters is None:
            producer = create_producer(self._settings, f"{self._client_id}-dlq")
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._dead_letters = producer
        headers = dead_letter_headers(record, reason)
        await self._dead_letters.send_and_wait(
            dead_letter(record.topic),
            record.value,
            key=record.key,
            headers=[(name, value.encode()) for name, value in headers.items()],
        )


def _fixed(count: int) -> Callable[[], int]:
    return lambda: count


def _decoder(message_type: Any, decode: Callable[[Record], Any] | None) -> Callable[[Record], Any]:
    if decode is not None:
        return decode
    if message_type is None:
        return _the_record
    adapter: TypeAdapter[Any] = TypeAdapter(message_type)

    def validate(record: Record) -> Any:
        return adapter.validate_json(record.value or b"")

    return validate


def _the_record(record: Record) -> Record:
    return record


# --- topics --------------------------------------------------------------------------------


def contrail_topics() -> list[str]:
    """Every topic Contrail uses, each with its dead-letter topic."""
    return [name for topic in ALL_TOPICS for name in (topic, dead_letter(topic))]


async def ensure_topics(settings: InfraSettings, topics: Iterable[str] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return those created."""
    wanted = list(topics) if topics is not None else contrail_topics()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="contrail-admin"
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        # Another service may create them between our list and create.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        name=topic,
                        num_partitions=settings.kafka_partitions,
                        replication_factor=settings.kafka_replication_factor,
                    )
                    for topic in missing
                ]
            )
        log.info("created Kafka topics", extra={"topics": missing})
        return missing
    finally:
        await admin.close()
