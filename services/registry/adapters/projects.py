"""The ``projects`` table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db.paging import Where, newest_first
from shared.db.pool import Connection


@dataclass(frozen=True)
class StoredProject:
    id: int
    name: str
    description: str
    domains: tuple[str, ...]
    created_at: datetime


def _project(row: asyncpg.Record) -> StoredProject:
    return StoredProject(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        domains=tuple(row["domains"]),
        created_at=row["created_at"],
    )


_COLUMNS = "id, name, description, domains, created_at"


class ProjectRepository:
    """Projects, read and written on one connection (the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, name: str) -> StoredProject | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM projects WHERE name = $1", name)
        return _project(row) if row is not None else None

    async def insert(
        self, name: str, description: str, domains: Sequence[str]
    ) -> StoredProject | None:
        """The new project, or None when one of that name exists already."""
        row = await self._conn.fetchrow(
            f"""INSERT INTO projects (name, description, domains) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}""",
            name,
            description,
            list(domains),
        )
        return _project(row) if row is not None else None

    async def newest(self, limit: int, before_id: int | None) -> list[StoredProject]:
        """Up to ``limit`` projects, newest first, older than ``before_id`` when given."""
        rows = await self._conn.fetch(
            *newest_first(_COLUMNS, "projects", Where(), limit=limit, before=before_id)
        )
        return [_project(row) for row in rows]
