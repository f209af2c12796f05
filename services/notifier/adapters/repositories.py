"""The notifier's tables, on the unit of work's connection. All its SQL is here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.notifier.service_layer.unit_of_work import (
    DeliveryFilter,
    DeliveryRow,
    NewDelivery,
    SubscriptionRow,
)
from shared.db.paging import Where, newest_first
from shared.db.pool import Connection

_SUB_COLUMNS = "id, rule_id, spec, paused, created_at, updated_at"


def _sub(row: Any) -> SubscriptionRow:
    spec = row["spec"]
    return SubscriptionRow(
        id=row["id"],
        rule_id=row["rule_id"],
        spec=json.loads(spec) if isinstance(spec, str) else spec,
        paused=row["paused"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PostgresSubscriptions:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, rule_id: str, spec: dict[str, Any], paused: bool) -> SubscriptionRow:
        row = await self._conn.fetchrow(
            f"INSERT INTO subscriptions (rule_id, spec, paused) VALUES ($1, $2::jsonb, $3) "
            f"RETURNING {_SUB_COLUMNS}",
            rule_id,
            json.dumps(spec),
            paused,
        )
        return _sub(row)

    async def get(self, rule_id: str) -> SubscriptionRow | None:
        row = await self._conn.fetchrow(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE rule_id = $1", rule_id
        )
        return _sub(row) if row else None

    async def update(
        self, rule_id: str, spec: dict[str, Any], paused: bool
    ) -> SubscriptionRow | None:
        row = await self._conn.fetchrow(
            "UPDATE subscriptions SET spec = $2::jsonb, paused = $3, "
            "updated_at = clock_timestamp() "
            f"WHERE rule_id = $1 RETURNING {_SUB_COLUMNS}",
            rule_id,
            json.dumps(spec),
            paused,
        )
        return _sub(row) if row else None

    async def delete(self, rule_id: str) -> bool:
        done = await self._conn.execute("DELETE FROM subscriptions WHERE rule_id = $1", rule_id)
        return bool(done.endswith(" 1"))

    async def page(self, limit: int, before: int | None) -> list[SubscriptionRow]:
        rows = await self._conn.fetch(
            *newest_first(_SUB_COLUMNS, "subscriptions", Where(), limit=limit, before=before)
        )
        return [_sub(r) for r in rows]

    async def all(self) -> list[SubscriptionRow]:
        return [
            _sub(r) for r in await self._conn.fetch(f"SELECT {_SUB_COLUMNS} FROM subscriptions")
        ]

    async def version(self) -> tuple[int, datetime | None]:
        row = await self._conn.fetchrow(
            "SELECT count(*) AS n, max(updated_at) AS t FROM subscriptions"
        )
        assert row is not None
        return (int(row["n"]), row["t"])


class PostgresInbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(self, event_ids: Sequence[str]) -> set[str]:
        rows = await self._conn.fetch(
            "INSERT INTO consumed_events (event_id) SELECT unnest($1::text[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            list(dict.fromkeys(event_ids)),
        )
        return {r["event_id"] for r in rows}

    async def forget(self, older_than_hours: float) -> int:
        done = await self._conn.execute(
            "DELETE FROM consumed_events "
            "WHERE consumed_at < now() - make_interval(secs => $1 * 3600)",
            older_than_hours,
        )
        return int(done.split()[-1])

    async def installed_at(self) -> datetime:
        installed: datetime = await self._conn.fetchval("SELECT installed_at FROM installation")
        return installed


class PostgresStreaks:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self, keys: Sequence[str]) -> dict[str, tuple[int, dict[str, str]]]:
        await self._conn.execute(
            "INSERT INTO streaks (key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", list(keys)
        )
        rows = await self._conn.fetch(
            "SELECT key, failures, incidents FROM streaks WHERE key = ANY($1::text[]) "
            "ORDER BY key FOR UPDATE",
            list(keys),
        )
        return {
            r["key"]: (
                r["failures"],
                json.loads(r["incidents"]) if isinstance(r["incidents"], str) else r["incidents"],
            )
            for r in rows
        }

    async def save(self, key: str, failures: int, incidents: dict[str, str]) -> None:
        await self._conn.execute(
            "UPDATE streaks SET failures = $2, incidents = $3::jsonb WHERE key = $1",
            key,
            failures,
            json.dumps(incidents),
        )


class PostgresAlerted:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, keys: Sequence[str]) -> set[str]:
        rows = await self._conn.fetch(
            "INSERT INTO alerted (key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING "
            "RETURNING key",
            list(keys),
        )
        return {r["key"] for r in rows}

    async def forget(self, older_than_hours: float) -> int:
        done = await self._conn.execute(
            "DELETE FROM alerted WHERE alerted_at < now() - make_interval(secs => $1 * 3600)",
            older_than_hours,
        )
        return int(done.split()[-1])


_DEL_COLUMNS = (
    "id, delivery_id::text AS delivery_id, rule_id, channel, target, execution, phase, alert, "
    "dedup_key, template, subject, digest_window, status, attempts, next_attempt_at, "
    "last_error, created_at, updated_at, sent_at"
)


def _delivery(row: Any) -> DeliveryRow:
    data = dict(row)
    subject = data["subject"]
    data["subject"] = json.loads(subject) if isinstance(subject, str) else subject
    return DeliveryRow(**data)


def _new_row(d: NewDelivery) -> tuple[Any, ...]:
    return (
        d.delivery_id,
        d.rule_id,
        d.channel,
        d.target,
        d.execution,
        d.phase,
        d.alert,
        d.dedup_key,
        d.template,
        json.dumps(d.subject) if d.subject is not None else None,
    )


_INSERT = (
    "INSERT INTO deliveries (delivery_id, rule_id, channel, target, execution, phase, alert, "
    "dedup_key, template, subject) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
)


class PostgresDeliveries:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        if deliveries:
            await self._conn.executemany(_INSERT, [_new_row(d) for d in deliveries])

    async def add_to_digest(
        self, delivery: NewDelivery, window: int, window_seconds: int, item: dict[str, Any]
    ) -> str:
        while True:
            await self._conn.execute(
                "INSERT INTO deliveries (delivery_id, rule_id, channel, target, alert, dedup_key, "
                "template, digest_window, next_attempt_at) VALUES ($1::uuid, $2, $3, $4, $5, "
                "$1::text, $6, $7::bigint, to_timestamp($7::bigint + $8::integer)) "
                "ON CONFLICT (rule_id, channel, target, digest_window) "
                "WHERE digest_window IS NOT NULL DO NOTHING",
                delivery.delivery_id,
                delivery.rule_id,
                delivery.channel,
                delivery.target,
                delivery.alert,
                delivery.template,
                window,
                window_seconds,
            )
            row = await self._conn.fetchrow(
                "SELECT delivery_id::text AS delivery_id, status, attempts, lease_until "
                "FROM deliveries WHERE rule_id = $1 AND channel = $2 AND target = $3 "
                "AND digest_window = $4 FOR UPDATE",
                delivery.rule_id,
                delivery.channel,
                delivery.target,
                window,
            )
            assert row is not None
            if row["status"] == "pending" and row["attempts"] == 0 and row["lease_until"] is None:
                await self._conn.execute(
                    "INSERT INTO digest_items (delivery_id, subject) VALUES ($1::uuid, $2::jsonb)",
                    row["delivery_id"],
                    json.dumps(item),
                )
                return str(row["delivery_id"])
            window += window_seconds  # the sender has it: the item opens the next window's

    async def claim(self, limit: int, lease_seconds: float) -> list[DeliveryRow]:
        rows = await self._conn.fetch(
            f"UPDATE deliveries SET lease_until = clock_timestamp() + make_interval(secs => $2) "
            f"WHERE delivery_id IN (SELECT delivery_id FROM deliveries "
            f"WHERE status IN ('pending', 'failed') AND next_attempt_at <= clock_timestamp() "
            f"AND (lease_until IS NULL OR lease_until < clock_timestamp()) "
            f"ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING {_DEL_COLUMNS}",
            limit,
            lease_seconds,
        )
        return sorted((_delivery(r) for r in rows), key=lambda d: d.id)

    async def digest_items(self, delivery_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(
            "SELECT subject FROM digest_items WHERE delivery_id = $1::uuid ORDER BY position",
            delivery_id,
        )
        return [
            json.loads(r["subject"]) if isinstance(r["subject"], str) else r["subject"]
            for r in rows
        ]

    async def record(
        self,
        delivery_id: str,
        status: str,
        attempts: int,
        error: str | None,
        retry_in_seconds: float | None,
    ) -> None:
        await self._conn.execute(
            "UPDATE deliveries SET status = $2, attempts = $3, last_error = $4, "
            "lease_until = NULL, "
            "next_attempt_at = clock_timestamp() + make_interval(secs => $5), "
            "updated_at = clock_timestamp(), "
            "sent_at = CASE WHEN $2 = 'sent' THEN clock_timestamp() ELSE sent_at END "
            "WHERE delivery_id = $1::uuid",
            delivery_id,
            status,
            attempts,
            error,
            retry_in_seconds or 0.0,
        )

    async def get(self, delivery_id: str) -> DeliveryRow | None:
        row = await self._conn.fetchrow(
            f"SELECT {_DEL_COLUMNS} FROM deliveries WHERE delivery_id::text = $1", delivery_id
        )
        return _delivery(row) if row else None

    async def page(
        self, where: DeliveryFilter, limit: int, before: int | None
    ) -> list[DeliveryRow]:
        w = Where(
            ("execution = {}", where.execution),
            ("rule_id = {}", where.rule_id),
            ("channel = {}", where.channel),
            ("status = {}", where.status),
        )
        rows = await self._conn.fetch(
            *newest_first(_DEL_COLUMNS, "deliveries", w, limit=limit, before=before)
        )
        return [_delivery(r) for r in rows]

    async def retry(self, delivery_id: str) -> DeliveryRow | None:
        row = await self._conn.fetchrow(
            "UPDATE deliveries SET status = 'pending', attempts = 0, lease_until = NULL, "
            "next_attempt_at = clock_timestamp(), updated_at = clock_timestamp() "
            f"WHERE delivery_id::text = $1 AND status = 'dead' RETURNING {_DEL_COLUMNS}",
            delivery_id,
        )
        return _delivery(row) if row else None
