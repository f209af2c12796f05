"""Migrations on the real PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from shared.db import apply_migrations
from shared.db.migrations import Migration, MigrationError, service_migrations
from shared.settings import StackSettings

pytestmark = pytest.mark.integration

SERVICES = Path(__file__).resolve().parents[2] / "services"


async def _shape(conn: asyncpg.Connection, schema: str) -> list[tuple[object, ...]]:
    columns = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2",
        schema,
    )
    applied = await conn.fetch(
        f'SELECT version, checksum, applied_at FROM "{schema}".schema_migrations ORDER BY 1'
    )
    return [tuple(r) for r in columns] + [tuple(r) for r in applied]


@pytest.mark.parametrize("service", ["registry", "launcher", "notifier", "metrics"])
async def test_migrations_run_twice_change_nothing(stack: StackSettings, service: str) -> None:
    schema = f"test_{service}_{uuid.uuid4().hex[:8]}"
    migrations = service_migrations(SERVICES / service / "migrations", service)
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        first = await apply_migrations(conn, schema, migrations)
        shape = await _shape(conn, schema)
        second = await apply_migrations(conn, schema, migrations)

        assert first == [m.version for m in migrations]
        assert second == []
        assert await _shape(conn, schema) == shape
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_an_applied_migration_that_was_edited_is_refused(stack: StackSettings) -> None:
    schema = f"test_edit_{uuid.uuid4().hex[:8]}"
    original = [Migration("test:0001_t", "CREATE TABLE t (a int);")]
    edited = [Migration("test:0001_t", "CREATE TABLE t (a bigint);")]
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        await apply_migrations(conn, schema, original)
        with pytest.raises(MigrationError, match="was edited after it was applied"):
            await apply_migrations(conn, schema, edited)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(stack: StackSettings) -> None:
    schema = f"test_fail_{uuid.uuid4().hex[:8]}"
    broken = [Migration("test:0001_broken", "CREATE TABLE ok (a int); SELECT no_such_fn();")]
    conn = await asyncpg.connect(stack.pg_dsn)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await apply_migrations(conn, schema, broken)
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        assert [r["table_name"] for r in tables] == ["schema_migrations"]
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
