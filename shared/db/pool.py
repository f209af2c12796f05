"""The asyncpg pool and the one way to open a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.settings import InfraSettings

Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection, or a pool's proxy of one: what queries run on."""


async def create_pool(settings: InfraSettings, schema: str | None = None) -> asyncpg.Pool:
    """A pool whose connections see ``schema`` first on their search path."""
    server_settings = {"application_name": f"contrail-{schema or 'client'}"}
    if schema:
        server_settings["search_path"] = f'"{schema}", public'
    pool = await asyncpg.create_pool(
        dsn=settings.pg_dsn,
        min_size=settings.pg_pool_min,
        max_size=settings.pg_pool_max,
        server_settings=server_settings,
        timeout=5,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A connection inside one transaction: committed on exit, rolled back on error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
