"""The stack's first principals (``python -m services.registry.auth bootstrap``), on a schema of
the test's own with the registry's migrations, so the stack's own principals are left alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.registry.adapters.auth import PostgresAuthStore
from services.registry.entrypoints.http import MIGRATIONS
from services.registry.service_layer import auth as service
from services.registry.service_layer.errors import NotFound
from shared.auth.errors import Unauthenticated
from shared.auth.roles import Grant, Role
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.settings import StackSettings


@pytest.fixture
async def store(stack: StackSettings) -> AsyncIterator[PostgresAuthStore]:
    schema = f"test_auth_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, schema, service_migrations(MIGRATIONS, "registry"))
        pool = await create_pool(stack, schema)
        try:
            yield PostgresAuthStore(pool)
        finally:
            await pool.close()
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_bootstrap_makes_each_principal_once_and_reissues_on_demand(
    store: PostgresAuthStore,
) -> None:
    now = datetime.now(UTC)
    first = await service.bootstrap(store, now)
    assert sorted(first) == ["admin", "svc-launcher", "svc-metrics", "svc-notifier"]
    for name, token in first.items():
        principal = await service.resolve(store, token, now, None)
        assert principal.name == name
        assert principal.kind == ("user" if name == "admin" else "service")
        assert principal.grants == (Grant("*", None, Role.ADMIN),)

    assert await service.bootstrap(store, now) == {}  # each has a live token: nothing printed

    again = await service.bootstrap(store, now, ["admin"])
    assert list(again) == ["admin"]
    assert again["admin"] != first["admin"]
    assert (await service.resolve(store, again["admin"], now, None)).name == "admin"
    assert (await service.resolve(store, first["admin"], now, None)).name == "admin"

    with pytest.raises(NotFound, match="nobody"):
        await service.bootstrap(store, now, ["nobody"])


async def test_a_revoked_bootstrap_token_is_replaced_on_the_next_run(
    store: PostgresAuthStore,
) -> None:
    now = datetime.now(UTC)
    first = await service.bootstrap(store, now)
    token_id = first["svc-launcher"].split("_")[1]
    await store.revoke(token_id, now)
    with pytest.raises(Unauthenticated, match="revoked"):
        await service.resolve(store, first["svc-launcher"], now, None)

    assert list(await service.bootstrap(store, now)) == ["svc-launcher"]
