"""The unit of work's contract (shared.db.unit_of_work), and the bootstraps of the
services that have no use case yet. PostgresUnitOfWork is exercised on the real
database by every registry and launcher integration test."""

from __future__ import annotations

import pytest

from services.metrics.bootstrap import bootstrap as bootstrap_metrics
from services.metrics.service_layer.unit_of_work import MetricsUnitOfWork
from services.notifier.bootstrap import bootstrap as bootstrap_notifier
from services.notifier.service_layer.unit_of_work import NotifierUnitOfWork
from shared.db.unit_of_work import OutboxItem, UnitOfWork
from tests.unit.fakes import FakeOutbox


class Recording(UnitOfWork):
    """Says what the base class asked of it, in order."""

    def __init__(self, *, atomic: bool = True) -> None:
        super().__init__(atomic=atomic)
        self.calls: list[str] = []
        self.events: list[OutboxItem] = []

    async def _begin(self) -> None:
        self.calls.append("begin")
        self.outbox = FakeOutbox(self.events, self.atomic)

    async def _commit(self) -> None:
        self.calls.append("commit")

    async def _rollback(self) -> None:
        self.calls.append("rollback")

    async def _end(self) -> None:
        self.calls.append("end")


async def test_commit_keeps_the_transaction_and_nothing_is_rolled_back() -> None:
    uow = Recording()
    async with uow:
        await uow.commit()
    assert uow.calls == ["begin", "commit", "end"]


async def test_leaving_without_commit_rolls_back() -> None:
    uow = Recording()
    async with uow:
        pass
    assert uow.calls == ["begin", "rollback", "end"]


async def test_an_exception_rolls_back_and_propagates() -> None:
    uow = Recording()
    with pytest.raises(LookupError):
        async with uow:
            raise LookupError("refused")
    assert uow.calls == ["begin", "rollback", "end"]


class BrokenConnection(Recording):
    async def _rollback(self) -> None:
        await super()._rollback()
        raise ConnectionError("the connection is gone")


async def test_a_failed_rollback_does_not_hide_what_ended_the_block() -> None:
    uow = BrokenConnection()
    with pytest.raises(LookupError):
        async with uow:
            raise LookupError("refused")
    assert uow.calls == ["begin", "rollback", "end"]
    with pytest.raises(ConnectionError):
        async with uow:
            pass


async def test_an_explicit_rollback_is_not_repeated_on_exit() -> None:
    uow = Recording()
    async with uow:
        await uow.rollback()
    assert uow.calls == ["begin", "rollback", "end"]


async def test_each_entry_is_a_new_transaction() -> None:
    uow = Recording()
    async with uow:
        await uow.commit()
    async with uow:
        pass
    assert uow.calls == ["begin", "commit", "end", "begin", "rollback", "end"]


async def test_the_outbox_belongs_inside_a_transaction() -> None:
    uow = Recording(atomic=False)
    async with uow:
        with pytest.raises(RuntimeError, match="inside the state's transaction"):
            await uow.outbox.add([])


class NoTables(NotifierUnitOfWork, MetricsUnitOfWork):
    async def _begin(self) -> None: ...

    async def _commit(self) -> None: ...

    async def _rollback(self) -> None: ...

    async def _end(self) -> None: ...


def no_tables(*, atomic: bool = True) -> NoTables:
    return NoTables(atomic=atomic)


def test_the_notifier_and_metrics_bootstraps_wire_what_they_are_given() -> None:
    assert bootstrap_notifier(uow_factory=no_tables).uow_factory is no_tables
    assert bootstrap_metrics(uow_factory=no_tables).uow_factory is no_tables
    with pytest.raises(ValueError, match="needs a runtime"):
        bootstrap_notifier()
    with pytest.raises(ValueError, match="needs a runtime"):
        bootstrap_metrics()
