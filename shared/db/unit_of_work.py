"""The unit of work: one transaction whose state and outbox events commit together.

A service layer never sees a pool or a connection. It asks its factory for a
unit of work, and ``async with uow:`` opens one transaction; the repositories
and the outbox the unit of work exposes all write inside it. ``commit()`` keeps
the writes; leaving the block without it (or with an exception) rolls them
back, so events are published if, and only if, the state they describe is.

Each service specialises ``UnitOfWork`` with the repositories it holds (its
``service_layer/unit_of_work.py``), implements it over PostgreSQL with
``PostgresUnitOfWork`` (its adapters), and over dictionaries in unit tests.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from shared.db.pool import Connection
from shared.outbox.writer import OutboxMessage, OutboxRecord, enqueue

OutboxItem = OutboxMessage | OutboxRecord


class Outbox(Protocol):
    """Where a unit of work's events go: published once, and only if, it commits."""

    async def add(self, messages: Sequence[OutboxItem]) -> None:
        """Add ``messages``, in order, to what the transaction publishes."""


class UnitOfWork(abc.ABC):
    """One transaction over a service's repositories and its outbox.

    ``async with uow:`` begins it; ``commit()`` ends it keeping the writes;
    anything else (an exception, or no ``commit()``) rolls it back. The same
    object may be entered again once the block is left: each entry is a new
    transaction. A unit of work made with ``atomic=False`` runs each statement
    on its own (one round trip each, no BEGIN and COMMIT): for reads, and for
    single writes that need no transaction; the outbox refuses it.
    """

    outbox: Outbox

    def __init__(self, *, atomic: bool = True) -> None:
        self.atomic = atomic
        self._finished = False

    async def __aenter__(self) -> Self:
        self._finished = False
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._finished:
                try:
                    await self._rollback()
                except Exception:
                    if exc is None:
                        raise
                    # What ended the block says more (the pool resets the connection).
        finally:
            await self._end()

    async def commit(self) -> None:
        """Keep what the transaction wrote (and publish its outbox events)."""
        await self._commit()
        self._finished = True

    async def rollback(self) -> None:
        """Discard what the transaction wrote; leaving the block does it too."""
        if not self._finished:
            await self._rollback()
            self._finished = True

    @abc.abstractmethod
    async def _begin(self) -> None:
        """Open the transaction and bind the repositories and the outbox to it."""

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _rollback(self) -> None: ...

    @abc.abstractmethod
    async def _end(self) -> None:
        """Release what ``_begin`` took (a connection)."""


U_co = TypeVar("U_co", bound=UnitOfWork, covariant=True)


class UnitOfWorkFactory(Protocol[U_co]):
    """Makes a service's unit of work; one per use, as concurrent uses need their own."""

    def __call__(self, *, atomic: bool = True) -> U_co: ...


class PostgresOutbox:
    """The outbox table of the schema on the connection's search path."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, messages: Sequence[OutboxItem]) -> None:
        if messages:
            await enqueue(self._conn, messages)


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work on one pooled connection; subclasses bind their repositories in ``_bind``."""

    def __init__(self, pool: asyncpg.Pool, *, atomic: bool = True) -> None:
        super().__init__(atomic=atomic)
        self._pool = pool
        self._conn: PoolConnectionProxy | None = None
        self._transaction: Transaction | None = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._conn

    @abc.abstractmethod
    def _bind(self, conn: Connection) -> None:
        """Make the repositories of this transaction on ``conn``."""

    async def _begin(self) -> None:
        conn = await self._pool.acquire()
        self._conn = conn
        try:
            if self.atomic:
                self._transaction = conn.transaction()
                await self._transaction.start()
            self.outbox = PostgresOutbox(conn)
            self._bind(conn)
        except BaseException:
            await self._end()
            raise

    async def _commit(self) -> None:
        if self._transaction is not None:
            await self._transaction.commit()
            self._transaction = None

    async def _rollback(self) -> None:
        if self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            await transaction.rollback()

    async def _end(self) -> None:
        conn, self._conn, self._transaction = self._conn, None, None
        if conn is not None:
            await self._pool.release(conn)
