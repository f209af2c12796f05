"""A PostgreSQL password with @ : / % ? # works through the project's own DSN and pool."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from contrail.demo.layout import Layout
from contrail.demo.postgres import SUPERUSER, quote_ident, quote_literal
from shared.db import create_pool
from shared.settings import StackSettings

pytestmark = pytest.mark.integration

PASSWORD = "p@ss:w/rd%?#x 40"


async def _superuser(stack: StackSettings) -> asyncpg.Connection:
    """The local stack's ``postgres`` superuser over its socket (trusted), else the stack's
    own role when that is a superuser (the docker stack's), else the test is skipped."""
    socket_dir = Layout.of(stack).postgres_socket_dir
    if (socket_dir / f".s.PGSQL.{stack.pg_port}").exists():
        conn: asyncpg.Connection = await asyncpg.connect(
            host=str(socket_dir), port=stack.pg_port, user=SUPERUSER, database="postgres"
        )
        return conn
    conn = await asyncpg.connect(stack.pg_dsn)
    if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        await conn.close()
        pytest.skip("no superuser to create a role with")
    return conn


@pytest.fixture
async def role(stack: StackSettings) -> AsyncIterator[str]:
    """A login role whose password has every character a URL gives a meaning to."""
    name = f"test_pw_{uuid.uuid4().hex[:10]}"
    admin = await _superuser(stack)
    try:
        await admin.execute(
            f"CREATE ROLE {quote_ident(name)} LOGIN PASSWORD {quote_literal(PASSWORD)}"
        )
        yield name
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {quote_ident(name)}")
        await admin.close()


async def test_a_password_with_url_characters_connects(stack: StackSettings, role: str) -> None:
    settings = stack.model_copy(update={"pg_user": role, "pg_password": SecretStr(PASSWORD)})
    assert PASSWORD not in settings.pg_dsn  # quoted
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_user") == role
    finally:
        await pool.close()
    # The password matters: a wrong one is refused, and the error does not show it.
    wrong = settings.model_copy(update={"pg_password": SecretStr(PASSWORD + "!")})
    with pytest.raises(asyncpg.InvalidPasswordError) as refused:
        await create_pool(wrong)
    assert PASSWORD not in str(refused.value)
