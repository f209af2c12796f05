"""The metrics service's unit of work over PostgreSQL: one pooled connection, one transaction."""

from __future__ import annotations

import asyncpg

from services.metrics.adapters.tables import (
    PostgresAttempts,
    PostgresCacheHits,
    PostgresExecutions,
    PostgresInbox,
    PostgresProgress,
    PostgresRollups,
)
from services.metrics.service_layer.unit_of_work import MetricsUnitOfWork, MetricsUoWFactory
from shared.db.pool import Connection
from shared.db.unit_of_work import PostgresUnitOfWork


class PostgresMetricsUnitOfWork(PostgresUnitOfWork, MetricsUnitOfWork):
    """The metrics service's repositories on the transaction's connection."""

    def _bind(self, conn: Connection) -> None:
        self.inbox = PostgresInbox(conn)
        self.attempts = PostgresAttempts(conn)
        self.executions = PostgresExecutions(conn)
        self.cache_hits = PostgresCacheHits(conn)
        self.rollups = PostgresRollups(conn)
        self.progress = PostgresProgress(conn)


def postgres_uow_factory(pool: asyncpg.Pool) -> MetricsUoWFactory:
    """Units of work on ``pool``'s connections (the metrics service's schema)."""

    def new(*, atomic: bool = True) -> MetricsUnitOfWork:
        return PostgresMetricsUnitOfWork(pool, atomic=atomic)

    return new
