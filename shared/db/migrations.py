"""Versioned SQL migrations, one schema per service.

A service's migrations are the shared ones (the outbox) followed by its own
``migrations/NNNN_name.sql`` files. Each runs once, in its own transaction,
with the schema first on the search path; the applied versions are recorded
in ``<schema>.schema_migrations``. An advisory lock serialises concurrent
starts, so running them twice, or from two processes at once, changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SHARED_MIGRATIONS = Path(__file__).parent / "sql"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MigrationError(RuntimeError):
    """A migration file is malformed, or an applied one was edited."""


@dataclass(frozen=True)
class Migration:
    version: str
    """``<origin>:<NNNN>_<name>``, e.g. ``shared:0001_outbox``."""
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path, origin: str) -> list[Migration]:
    """The ``NNNN_name.sql`` files of ``directory``, in order."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        if not _FILE.match(path.name):
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        migrations.append(Migration(f"{origin}:{path.stem}", path.read_text()))
    return migrations


def service_migrations(service_dir: Path | None, origin: str) -> list[Migration]:
    """The shared migrations followed by a service's own."""
    migrations = load_migrations(SHARED_MIGRATIONS, "shared")
    if service_dir is not None and service_dir.is_dir():
        migrations += load_migrations(service_dir, origin)
    return migrations


async def apply_migrations(
    conn: asyncpg.Connection, schema: str, migrations: list[Migration]
) -> list[str]:
    """Apply what is not yet applied to ``schema``; return the versions applied now."""
    if not _SCHEMA.match(schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    lock_key = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big", signed=True)
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    version text PRIMARY KEY,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
        applied = {row["version"]: row["checksum"] for row in rows}
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} was edited after it was applied to "
                        f"schema {schema}; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                await conn.execute(migration.sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now
