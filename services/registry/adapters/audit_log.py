"""The ``audit_log`` table: entries kept once each, listed newest first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db.paging import Where, newest_first
from shared.db.pool import Connection


@dataclass(frozen=True)
class AuditEntry:
    """One entry as the audit event carried it; ``id`` orders the log (None before it is kept)."""

    event_id: str
    at: datetime
    actor: str
    action: str
    project: str | None
    domain: str | None
    resource: str
    details: dict[str, Any]
    source: str
    id: int | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Entries matching every field given (None: any); ``since`` inclusive, ``until`` not."""

    project: str | None = None
    domain: str | None = None
    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_COLUMNS = "id, event_id, at, actor, action, project, domain, resource, details, source"


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        event_id=row["event_id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        project=row["project"],
        domain=row["domain"],
        resource=row["resource"],
        details=json.loads(row["details"]),
        source=row["source"],
    )


class AuditLogRepository:
    """The audit log on one connection (the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, entries: Sequence[AuditEntry]) -> int:
        """Keep the entries whose event id is new; return how many were."""
        if not entries:
            return 0
        rows = await self._conn.fetch(
            """INSERT INTO audit_log
                   (event_id, at, actor, action, project, domain, resource, details, source)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],
                                    $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::text[])
               ON CONFLICT (event_id) DO NOTHING
               RETURNING id""",
            [e.event_id for e in entries],
            [e.at for e in entries],
            [e.actor for e in entries],
            [e.action for e in entries],
            [e.project for e in entries],
            [e.domain for e in entries],
            [e.resource for e in entries],
            [json.dumps(e.details) for e in entries],
            [e.source for e in entries],
        )
        return len(rows)

    async def newest(
        self, where: AuditFilter, *, limit: int, before_id: int | None
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries matching ``where``, newest first, older than ``before_id``."""
        conditions = Where(
            ("project = {}", where.project),
            ("domain = {}", where.domain),
            ("action = {}", where.action),
            ("actor = {}", where.actor),
            ("at >= {}", where.since),
            ("at < {}", where.until),
        )
        query = newest_first(_COLUMNS, "audit_log", conditions, limit=limit, before=before_id)
        return [_entry(row) for row in await self._conn.fetch(*query)]
