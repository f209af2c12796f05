"""In-memory fakes of what a service layer is wired to, for unit tests without PostgreSQL.

``FakeUnitOfWork`` keeps a service's tables in a state object: entering it
copies the committed state, the repositories write to the copy, and
``commit()`` makes the copy the committed state, outbox events included. A
use case that raises or forgets to commit leaves nothing behind, as with the
real transaction.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Sequence
from typing import Generic, TypeVar

from shared.db.unit_of_work import OutboxItem, UnitOfWork
from shared.events.topics import AUDIT


class FakeOutbox:
    """The events a transaction writes, appended to its state's ``events``; its audit log
    entries (``contrail.audit``) to ``audited``, so tests read a use case's events apart."""

    def __init__(
        self, events: list[OutboxItem], atomic: bool, audited: list[OutboxItem] | None = None
    ) -> None:
        self._events = events
        self._audited = audited if audited is not None else events
        self._atomic = atomic

    async def add(self, messages: Sequence[OutboxItem]) -> None:
        if not self._atomic:
            raise RuntimeError("outbox writes belong inside the state's transaction")
        for message in messages:
            kept = self._audited if message.topic == AUDIT else self._events
            kept.append(message)


class FakeState:
    """A service's tables; subclasses add theirs. ``events`` is the outbox, in order, but
    for the audit log entries, in ``audited``."""

    def __init__(self) -> None:
        self.events: list[OutboxItem] = []
        self.audited: list[OutboxItem] = []
        self.commits = 0


S = TypeVar("S", bound=FakeState)


class FakeUnitOfWork(UnitOfWork, abc.ABC, Generic[S]):
    """A unit of work over ``committed``: a copy while open, kept on ``commit()``."""

    def __init__(self, committed: S, *, atomic: bool = True) -> None:
        super().__init__(atomic=atomic)
        self.committed = committed
        self.working: S | None = None

    @abc.abstractmethod
    def _bind(self, state: S) -> None:
        """Make the repositories over ``state`` (the transaction's copy)."""

    async def _begin(self) -> None:
        # Without a transaction each write is kept at once.
        self.working = copy.deepcopy(self.committed) if self.atomic else self.committed
        self.outbox = FakeOutbox(self.working.events, self.atomic, self.working.audited)
        self._bind(self.working)

    async def _commit(self) -> None:
        assert self.working is not None, "commit outside 'async with'"
        if not self.atomic:
            return
        self.working.commits = self.committed.commits + 1
        self.committed.__dict__.update(self.working.__dict__)
        self.working = copy.deepcopy(self.committed)
        self._bind(self.working)

    async def _rollback(self) -> None:
        pass

    async def _end(self) -> None:
        self.working = None
