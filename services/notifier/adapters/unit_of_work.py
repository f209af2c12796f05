"""The notifier service's unit of work over PostgreSQL: one pooled connection, one transaction."""

from __future__ import annotations

import asyncpg

from services.notifier.adapters.repositories import (
    PostgresAlerted,
    PostgresDeliveries,
    PostgresInbox,
    PostgresStreaks,
    PostgresSubscriptions,
)
from services.notifier.service_layer.unit_of_work import NotifierUnitOfWork, NotifierUoWFactory
from shared.db.pool import Connection
from shared.db.unit_of_work import PostgresUnitOfWork


class PostgresNotifierUnitOfWork(PostgresUnitOfWork, NotifierUnitOfWork):
    """The notifier service's repositories on the transaction's connection."""

    def _bind(self, conn: Connection) -> None:
        self.subscriptions = PostgresSubscriptions(conn)
        self.consumed = PostgresInbox(conn)
        self.streaks = PostgresStreaks(conn)
        self.alerted = PostgresAlerted(conn)
        self.deliveries = PostgresDeliveries(conn)


def postgres_uow_factory(pool: asyncpg.Pool) -> NotifierUoWFactory:
    """Units of work on ``pool``'s connections (the notifier service's schema)."""

    def new(*, atomic: bool = True) -> NotifierUnitOfWork:
        return PostgresNotifierUnitOfWork(pool, atomic=atomic)

    return new
