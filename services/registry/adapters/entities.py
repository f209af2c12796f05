"""The ``tasks``, ``workflows`` and ``launch_plans`` tables.

Specs and closures are written twice, as jsonb and as their canonical bytes;
reads return the bytes, which are what the digest was computed over.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db.paging import Where, newest_first
from shared.db.pool import Connection
from shared.db.rows import identifier_of
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType

TABLES: dict[ResourceType, str] = {
    ResourceType.TASK: "tasks",
    ResourceType.WORKFLOW: "workflows",
    ResourceType.LAUNCH_PLAN: "launch_plans",
}


class UnstorableText(ValueError):
    """A spec holds text the store cannot keep (``\\u0000``); nothing was stored."""


@dataclass(frozen=True)
class StoredEntity:
    """One registered entity as stored; ``spec_bytes`` is None when not asked for."""

    id: int
    identifier: Identifier
    digest: str
    created_at: datetime
    spec_bytes: bytes | None = None
    closure_bytes: bytes | None = None
    state: LaunchPlanState | None = None


@dataclass(frozen=True)
class NewEntity:
    """What one registration writes: the spec, and the closure or workflow it implies."""

    identifier: Identifier
    digest: str
    spec_bytes: bytes
    closure_bytes: bytes | None = None
    workflow_id: int | None = None


@dataclass(frozen=True)
class EntityFilter:
    """The list filters; None matches everything."""

    project: str | None = None
    domain: str | None = None
    name: str | None = None
    version: str | None = None
    state: LaunchPlanState | None = None


def _columns(kind: ResourceType, *, spec: bool, closure: bool) -> str:
    columns = ["id", "project", "domain", "name", "version", "digest", "created_at"]
    if spec:
        columns.append("spec_bytes")
    if closure and kind is ResourceType.WORKFLOW:
        columns.append("closure_bytes")
    if kind is ResourceType.LAUNCH_PLAN:
        columns.append("state")
    return ", ".join(columns)


def _entity(kind: ResourceType, row: asyncpg.Record) -> StoredEntity:
    keys = set(row.keys())
    return StoredEntity(
        id=row["id"],
        identifier=identifier_of(kind, row),
        digest=row["digest"],
        created_at=row["created_at"],
        spec_bytes=row["spec_bytes"] if "spec_bytes" in keys else None,
        closure_bytes=row["closure_bytes"] if "closure_bytes" in keys else None,
        state=LaunchPlanState(row["state"]) if "state" in keys else None,
    )


def _unnest(identifiers: Collection[Identifier]) -> list[list[str]]:
    return [
        [i.project for i in identifiers],
        [i.domain for i in identifiers],
        [i.name for i in identifiers],
        [i.version for i in identifiers],
    ]


class EntityRepository:
    """Registered entities, read and written on one connection (the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(
        self, identifier: Identifier, *, closure: bool = True, for_update: bool = False
    ) -> StoredEntity | None:
        kind = identifier.resource_type
        row = await self._conn.fetchrow(
            f"""SELECT {_columns(kind, spec=True, closure=closure)} FROM {TABLES[kind]}
                WHERE project = $1 AND domain = $2 AND name = $3 AND version = $4
                {"FOR UPDATE" if for_update else ""}""",
            identifier.project,
            identifier.domain,
            identifier.name,
            identifier.version,
        )
        return _entity(kind, row) if row is not None else None

    async def insert(self, entity: NewEntity) -> StoredEntity | None:
        """The stored entity, or None when its identifier is taken already.

        Raises ``UnstorableText`` for a spec holding a character PostgreSQL refuses.
        """
        identifier = entity.identifier
        kind = identifier.resource_type
        columns = ["project", "domain", "name", "version", "digest", "spec", "spec_bytes"]
        values: list[Any] = [
            identifier.project,
            identifier.domain,
            identifier.name,
            identifier.version,
            entity.digest,
            entity.spec_bytes.decode(),
            entity.spec_bytes,
        ]
        if kind is ResourceType.WORKFLOW:
            assert entity.closure_bytes is not None, "a workflow is stored with its closure"
            columns += ["closure", "closure_bytes"]
            values += [entity.closure_bytes.decode(), entity.closure_bytes]
        if kind is ResourceType.LAUNCH_PLAN:
            assert entity.workflow_id is not None, "a launch plan is stored with its workflow"
            columns.append("workflow_id")
            values.append(entity.workflow_id)
        placeholders = ", ".join(
            f"${n}::jsonb" if column in ("spec", "closure") else f"${n}"
            for n, column in enumerate(columns, start=1)
        )
        try:
            row = await self._conn.fetchrow(
                f"""INSERT INTO {TABLES[kind]} ({", ".join(columns)}) VALUES ({placeholders})
                    ON CONFLICT (project, domain, name, version) DO NOTHING
                    RETURNING {_columns(kind, spec=False, closure=False)}""",
                *values,
            )
        except asyncpg.UntranslatableCharacterError as exc:
            raise UnstorableText(
                "the spec contains a character PostgreSQL cannot store (\\u0000)"
            ) from exc
        return _entity(kind, row) if row is not None else None

    async def newest(
        self,
        kind: ResourceType,
        where: EntityFilter,
        *,
        limit: int,
        before_id: int | None,
        spec: bool,
    ) -> list[StoredEntity]:
        """Up to ``limit`` entities matching ``where``, newest first, older than ``before_id``."""
        conditions = Where(
            ("project = {}", where.project),
            ("domain = {}", where.domain),
            ("name = {}", where.name),
            ("version = {}", where.version),
        )
        if kind is ResourceType.LAUNCH_PLAN and where.state is not None:
            conditions.add("state = {}", where.state.value)
        columns = _columns(kind, spec=spec, closure=False)
        rows = await self._conn.fetch(
            *newest_first(columns, TABLES[kind], conditions, limit=limit, before=before_id)
        )
        return [_entity(kind, row) for row in rows]

    async def task_specs(self, identifiers: Collection[Identifier]) -> dict[Identifier, bytes]:
        """The canonical spec bytes of those of ``identifiers`` that are registered tasks."""
        rows = await self._conn.fetch(
            """SELECT t.project, t.domain, t.name, t.version, t.spec_bytes
               FROM tasks t
               JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[])
                    AS wanted (project, domain, name, version)
               USING (project, domain, name, version)""",
            *_unnest(identifiers),
        )
        return {identifier_of(ResourceType.TASK, row): row["spec_bytes"] for row in rows}

    async def workflow_closures(
        self, identifiers: Collection[Identifier]
    ) -> dict[Identifier, bytes]:
        """The canonical closure bytes of those of ``identifiers`` that are registered."""
        rows = await self._conn.fetch(
            """SELECT w.project, w.domain, w.name, w.version, w.closure_bytes
               FROM workflows w
               JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[])
                    AS wanted (project, domain, name, version)
               USING (project, domain, name, version)""",
            *_unnest(identifiers),
        )
        return {identifier_of(ResourceType.WORKFLOW, row): row["closure_bytes"] for row in rows}

    # --- launch plan state -----------------------------------------------------------

    async def lock_launch_plan_name(self, project: str, domain: str, name: str) -> None:
        """Serialise state changes of one launch plan name until the transaction ends."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"registry.launch_plans/{project}/{domain}/{name}",
        )

    async def deactivate_others(self, identifier: Identifier) -> list[Identifier]:
        """Deactivate the active versions of the name other than ``identifier``'s."""
        rows = await self._conn.fetch(
            """UPDATE launch_plans SET state = 'INACTIVE', state_changed_at = now()
               WHERE project = $1 AND domain = $2 AND name = $3 AND version <> $4
                 AND state = 'ACTIVE'
               RETURNING project, domain, name, version""",
            identifier.project,
            identifier.domain,
            identifier.name,
            identifier.version,
        )
        return [identifier_of(ResourceType.LAUNCH_PLAN, row) for row in rows]

    async def set_state(self, identifier: Identifier, state: LaunchPlanState) -> None:
        await self._conn.execute(
            """UPDATE launch_plans SET state = $5, state_changed_at = now()
               WHERE project = $1 AND domain = $2 AND name = $3 AND version = $4""",
            identifier.project,
            identifier.domain,
            identifier.name,
            identifier.version,
            state.value,
        )
