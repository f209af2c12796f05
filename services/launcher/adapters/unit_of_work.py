"""The launcher's unit of work over PostgreSQL: one pooled connection, one transaction."""

from __future__ import annotations

import asyncpg

from services.launcher.adapters.executions import ExecutionCaches, ExecutionRepository
from services.launcher.adapters.schedules import ScheduleRepository
from services.launcher.service_layer.unit_of_work import LauncherUnitOfWork, LauncherUoWFactory
from shared.db.pool import Connection
from shared.db.unit_of_work import PostgresUnitOfWork


class PostgresLauncherUnitOfWork(PostgresUnitOfWork, LauncherUnitOfWork):
    """The launcher's repositories on the transaction's connection.

    ``caches`` outlive the transaction: one per process, shared by all its units of work.
    """

    executions: ExecutionRepository

    def __init__(self, pool: asyncpg.Pool, caches: ExecutionCaches, *, atomic: bool = True) -> None:
        super().__init__(pool, atomic=atomic)
        self._caches = caches

    def _bind(self, conn: Connection) -> None:
        self.executions = ExecutionRepository(conn, self._caches)
        self.schedules = ScheduleRepository(conn)

    async def _commit(self) -> None:
        await super()._commit()
        self.executions.committed()


def postgres_uow_factory(pool: asyncpg.Pool, caches: ExecutionCaches) -> LauncherUoWFactory:
    """Units of work on ``pool``'s connections (the launcher's schema), sharing ``caches``."""

    def new(*, atomic: bool = True) -> LauncherUnitOfWork:
        return PostgresLauncherUnitOfWork(pool, caches, atomic=atomic)

    return new
