"""The registry's unit of work over PostgreSQL: one pooled connection, one transaction."""

from __future__ import annotations

import asyncpg

from services.registry.adapters.audit_log import AuditLogRepository
from services.registry.adapters.entities import EntityRepository
from services.registry.adapters.projects import ProjectRepository
from services.registry.service_layer.unit_of_work import RegistryUnitOfWork, RegistryUoWFactory
from shared.db.pool import Connection
from shared.db.unit_of_work import PostgresUnitOfWork


class PostgresRegistryUnitOfWork(PostgresUnitOfWork, RegistryUnitOfWork):
    """The registry's repositories on the transaction's connection."""

    def __init__(self, pool: asyncpg.Pool, *, atomic: bool = True) -> None:
        super().__init__(pool, atomic=atomic)

    def _bind(self, conn: Connection) -> None:
        self.entities = EntityRepository(conn)
        self.projects = ProjectRepository(conn)
        self.audit_log = AuditLogRepository(conn)


def postgres_uow_factory(pool: asyncpg.Pool) -> RegistryUoWFactory:
    """Units of work on ``pool``'s connections (the registry's schema)."""

    def new(*, atomic: bool = True) -> RegistryUnitOfWork:
        return PostgresRegistryUnitOfWork(pool, atomic=atomic)

    return new
