"""The stack's first principals (``python -m services.registry.auth bootstrap``), on a schema of
the test's own with the registry's migrations, so the stack's own principals are left alone."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.registry.adapters.auth import PostgresAuthStore
from services.registry.auth import run_bootstrap, tokens_from_env
from services.registry.entrypoints.http import MIGRATIONS
from services.registry.service_layer import auth as service
from services.registry.service_layer.errors import InvalidRequest, NotFound
from shared.auth.errors import Unauthenticated
from shared.auth.roles import Grant, Role
from shared.auth.tokens import new_token
from shared.db import apply_migrations, create_pool
from shared.db.migrations import service_migrations
from shared.settings import RegistrySettings, StackSettings


@pytest.fixture
async def schema(stack: StackSettings) -> AsyncIterator[str]:
    """A schema name of the test's own, dropped afterwards."""
    name = f"test_auth_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        conn = await asyncpg.connect(stack.pg_dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def store(stack: StackSettings, schema: str) -> AsyncIterator[PostgresAuthStore]:
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, schema, service_migrations(MIGRATIONS, "registry"))
    finally:
        await conn.close()
    pool = await create_pool(stack, schema)
    try:
        yield PostgresAuthStore(pool)
    finally:
        await pool.close()


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


def _env_tokens() -> dict[str, str]:
    """Tokens as `make env` writes them into .env, one per bootstrap principal."""
    return {name: new_token().token for name in service.BOOTSTRAP_PRINCIPALS}


@pytest.fixture
async def adopted(store: PostgresAuthStore) -> dict[str, str]:
    """.env's tokens, adopted once."""
    tokens = _env_tokens()
    await service.adopt(store, datetime.now(UTC), tokens)
    return tokens


async def test_adopting_env_tokens_creates_them_once_and_they_resolve(
    store: PostgresAuthStore,
) -> None:
    now = datetime.now(UTC)
    tokens = _env_tokens()
    assert tokens_from_env({service.token_variable(n): t for n, t in tokens.items()}) == tokens

    assert await service.adopt(store, now, tokens) == dict.fromkeys(tokens, "adopted")
    # The adopted principals have a live token: the bootstrap makes (and prints) none.
    assert await service.bootstrap(store, now, adopted=tokens) == {}
    for name, token in tokens.items():
        principal = await service.resolve(store, token, now, None)
        assert principal.name == name
        assert principal.kind == ("user" if name == "admin" else "service")
        assert principal.grants == (Grant("*", None, Role.ADMIN),)
        assert principal.token_id == token.split("_")[1]

    # A rerun (`docker compose up` again) changes nothing: same tokens, no new row.
    listed = await store.tokens(None, 100, None)
    assert await service.adopt(store, now, tokens) == dict.fromkeys(tokens, "valid")
    assert await service.bootstrap(store, now, adopted=tokens) == {}
    assert await store.tokens(None, 100, None) == listed
    assert len(listed) == len(tokens)
    assert {meta.name for _, meta in listed} == {"bootstrap"}


async def test_an_adopted_token_stores_only_its_hash(
    store: PostgresAuthStore, adopted: dict[str, str]
) -> None:
    tokens = adopted
    found = await store.credential(tokens["admin"].split("_")[1])
    assert found is not None
    stored_hash, salt, _, _ = found
    assert stored_hash.startswith("scrypt$")
    assert tokens["admin"] not in stored_hash
    assert tokens["admin"].split("_", 2)[2] not in stored_hash
    assert len(salt) >= 16


async def test_a_revoked_adopted_token_stays_revoked_and_none_is_made(
    store: PostgresAuthStore, adopted: dict[str, str]
) -> None:
    now, tokens = datetime.now(UTC), dict(adopted)
    await store.revoke(tokens["svc-notifier"].split("_")[1], now)

    outcomes = await service.adopt(store, now, tokens)
    assert outcomes["svc-notifier"] == "revoked"
    assert {name: o for name, o in outcomes.items() if name != "svc-notifier"} == dict.fromkeys(
        ["admin", "svc-launcher", "svc-metrics"], "valid"
    )
    assert await service.bootstrap(store, now, adopted=tokens) == {}  # no token printed to a log
    with pytest.raises(Unauthenticated, match="revoked"):
        await service.resolve(store, tokens["svc-notifier"], now, None)

    # A new token in .env is adopted beside the revoked one.
    tokens["svc-notifier"] = new_token().token
    assert (await service.adopt(store, now, tokens))["svc-notifier"] == "adopted"
    resolved = await service.resolve(store, tokens["svc-notifier"], now, None)
    assert resolved.name == "svc-notifier"


async def test_adopt_refuses_another_principals_token_and_malformed_ones(
    store: PostgresAuthStore, adopted: dict[str, str]
) -> None:
    now, tokens = datetime.now(UTC), adopted
    with pytest.raises(InvalidRequest, match=r"CONTRAIL_ADMIN_TOKEN.*another principal"):
        await service.adopt(store, now, {"admin": tokens["svc-launcher"]})
    forged = tokens["admin"][:-4] + ("AAAA" if not tokens["admin"].endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidRequest, match="another secret"):
        await service.adopt(store, now, {"admin": forged})
    with pytest.raises(InvalidRequest, match="CONTRAIL_SVC_METRICS_TOKEN"):
        await service.adopt(store, now, {"svc-metrics": "ctr_short_x"})
    with pytest.raises(InvalidRequest, match="not one of"):
        await service.adopt(store, now, {"nobody": new_token().token})
    assert await store.principal("nobody") is None


async def test_the_command_adopts_from_env_on_its_schema(
    stack: StackSettings, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bootstrap --adopt-from-env``'s run: migrations, then adoption, on a schema of its own."""

    class ThrowawayRegistry(RegistrySettings):
        @property
        def schema_name(self) -> str:
            return schema

    settings = ThrowawayRegistry()
    tokens = _env_tokens()
    for name, token in tokens.items():
        monkeypatch.setenv(service.token_variable(name), token)
    assert tokens_from_env(os.environ) == tokens
    assert await run_bootstrap(settings, [], tokens_from_env(os.environ)) == {}
    assert await run_bootstrap(settings, [], tokens_from_env(os.environ)) == {}  # a rerun
    pool = await create_pool(stack, schema)
    try:
        store = PostgresAuthStore(pool)
        principal = await service.resolve(store, tokens["admin"], datetime.now(UTC), None)
        assert principal.name == "admin"
        assert len(await store.tokens(None, 100, None)) == len(tokens)
    finally:
        await pool.close()
