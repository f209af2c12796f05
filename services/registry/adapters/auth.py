"""The ``principals``, ``grants`` and ``tokens`` tables, each change in one transaction.

A change that is audited writes its audit records to the outbox in the same
transaction (``audit=``), so an entry exists if, and only if, the change was kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.registry.service_layer.auth import StoredPrincipal, StoredToken
from shared.auth.roles import Grant, Role
from shared.auth.tokens import NewToken
from shared.db.pool import Connection
from shared.outbox.writer import OutboxMessage, enqueue

_TOKEN_COLUMNS = """t.token_id, p.name AS principal, t.name, t.created_at, t.expires_at,
    t.revoked_at, t.last_used_at"""


def _token(row: asyncpg.Record) -> StoredToken:
    return StoredToken(
        id=row["token_id"],
        principal=row["principal"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _grant(row: asyncpg.Record) -> Grant:
    return Grant(row["project"], row["domain"] or None, Role(row["role"]))


class PostgresAuthStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _grants(self, conn: Connection, principal_id: int) -> tuple[Grant, ...]:
        rows = await conn.fetch(
            "SELECT project, domain, role FROM grants WHERE principal_id = $1 "
            "ORDER BY project, domain, role",
            principal_id,
        )
        return tuple(_grant(row) for row in rows)

    async def credential(
        self, token_id: str
    ) -> tuple[str, bytes, StoredToken, StoredPrincipal] | None:
        """The stored hash and salt of a token, with its metadata and principal."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""SELECT t.hash, t.salt, t.principal_id, p.kind, {_TOKEN_COLUMNS}
                    FROM tokens t JOIN principals p ON p.id = t.principal_id
                    WHERE t.token_id = $1""",
                token_id,
            )
            if row is None:
                return None
            grants = await self._grants(conn, row["principal_id"])
        principal = StoredPrincipal(row["principal"], row["kind"], grants)
        return row["hash"], bytes(row["salt"]), _token(row), principal

    async def touch(self, token_id: str, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE tokens SET last_used_at = $2 WHERE token_id = $1", token_id, at
        )

    async def principal(self, name: str) -> StoredPrincipal | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT id, name, kind FROM principals WHERE name = $1", name)
            if row is None:
                return None
            return StoredPrincipal(row["name"], row["kind"], await self._grants(conn, row["id"]))

    async def _ensure_principal(self, conn: Connection, name: str, kind: str) -> int:
        found: int | None = await conn.fetchval(
            """INSERT INTO principals (name, kind) VALUES ($1, $2)
               ON CONFLICT (name) DO NOTHING RETURNING id""",
            name,
            kind,
        )
        if found is None:
            found = await conn.fetchval("SELECT id FROM principals WHERE name = $1", name)
        assert found is not None
        return found

    async def _add_grant(self, conn: Connection, principal_id: int, grant: Grant) -> bool:
        added = await conn.fetchval(
            """INSERT INTO grants (principal_id, project, domain, role) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING RETURNING 1""",
            principal_id,
            grant.project,
            grant.domain or "",
            grant.role.value,
        )
        return added is not None

    async def create_token(
        self,
        principal: str,
        kind: str,
        grants: Sequence[Grant],
        token: NewToken,
        label: str,
        expires_at: datetime | None,
        audit: Sequence[OutboxMessage] = (),
    ) -> tuple[StoredToken, StoredPrincipal]:
        """A new token for ``principal`` (created as ``kind`` if missing), ``grants`` added."""
        async with self._pool.acquire() as conn, conn.transaction():
            principal_id = await self._ensure_principal(conn, principal, kind)
            for grant in grants:
                await self._add_grant(conn, principal_id, grant)
            await conn.execute(
                """INSERT INTO tokens (token_id, principal_id, hash, salt, name, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                token.token_id,
                principal_id,
                token.hash,
                token.salt,
                label,
                expires_at,
            )
            row = await conn.fetchrow(
                f"""SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN principals p ON p.id = t.principal_id
                    WHERE t.token_id = $1""",
                token.token_id,
            )
            kind_now = await conn.fetchval(
                "SELECT kind FROM principals WHERE id = $1", principal_id
            )
            stored = StoredPrincipal(principal, kind_now, await self._grants(conn, principal_id))
            assert row is not None
            if audit:
                await enqueue(conn, audit)
        return _token(row), stored

    async def tokens(
        self, principals: Sequence[str] | None, limit: int, before: int | None
    ) -> list[tuple[int, StoredToken]]:
        """Tokens of ``principals`` (None: all), newest first, each with its row id for paging."""
        rows = await self._pool.fetch(
            f"""SELECT t.id, {_TOKEN_COLUMNS}
                FROM tokens t JOIN principals p ON p.id = t.principal_id
                WHERE ($1::text[] IS NULL OR p.name = ANY($1::text[]))
                  AND ($2::bigint IS NULL OR t.id < $2)
                ORDER BY t.id DESC LIMIT $3""",
            list(principals) if principals is not None else None,
            before,
            limit,
        )
        return [(row["id"], _token(row)) for row in rows]

    async def token(self, token_id: str) -> tuple[StoredToken, StoredPrincipal] | None:
        found = await self.credential(token_id)
        return None if found is None else (found[2], found[3])

    async def revoke(
        self, token_id: str, at: datetime, audit: Sequence[OutboxMessage] = ()
    ) -> StoredToken | None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, $2) WHERE token_id = $1",
                token_id,
                at,
            )
            row = await conn.fetchrow(
                f"""SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN principals p ON p.id = t.principal_id
                    WHERE t.token_id = $1""",
                token_id,
            )
            if row is not None and audit:
                await enqueue(conn, audit)
        return _token(row) if row is not None else None

    async def grants(self, principal: str | None) -> list[tuple[str, Grant]]:
        rows = await self._pool.fetch(
            """SELECT p.name, g.project, g.domain, g.role FROM grants g
               JOIN principals p ON p.id = g.principal_id
               WHERE $1::text IS NULL OR p.name = $1
               ORDER BY p.name, g.project, g.domain, g.role""",
            principal,
        )
        return [(row["name"], _grant(row)) for row in rows]

    async def add_grant(
        self, principal: str, kind: str, grant: Grant, audit: Sequence[OutboxMessage] = ()
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            principal_id = await self._ensure_principal(conn, principal, kind)
            added = await self._add_grant(conn, principal_id, grant)
            if added and audit:
                await enqueue(conn, audit)
        return added

    async def delete_grant(
        self, principal: str, grant: Grant, audit: Sequence[OutboxMessage] = ()
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            deleted = await conn.fetchval(
                """DELETE FROM grants g USING principals p
                   WHERE p.id = g.principal_id AND p.name = $1 AND g.project = $2
                     AND g.domain = $3 AND g.role = $4 RETURNING 1""",
                principal,
                grant.project,
                grant.domain or "",
                grant.role.value,
            )
            if deleted is not None and audit:
                await enqueue(conn, audit)
        return deleted is not None

    async def principals_on(self, projects: Sequence[str]) -> list[str]:
        """The principals holding a grant on one of ``projects``."""
        rows = await self._pool.fetch(
            """SELECT DISTINCT p.name FROM grants g JOIN principals p ON p.id = g.principal_id
               WHERE g.project = ANY($1::text[]) ORDER BY p.name""",
            list(projects),
        )
        return [row["name"] for row in rows]

    async def live_token_count(self, principal: str, now: datetime) -> int:
        count: int = await self._pool.fetchval(
            """SELECT count(*) FROM tokens t JOIN principals p ON p.id = t.principal_id
               WHERE p.name = $1 AND t.revoked_at IS NULL
                 AND (t.expires_at IS NULL OR t.expires_at > $2)""",
            principal,
            now,
        )
        return count
