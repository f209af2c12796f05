"""The scheduler's adapters: its ``schedules`` table, the registry's launch plans, its settings.

The launcher keeps its own copy of what it schedules (launch plan, cron,
kickoff input, since when it is active, the last tick that fired) so that it
never reads the registry's tables; it learns about launch plans over the
registry's HTTP API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from services.launcher.adapters.registry import RegistryUnavailable as RegistryUnavailable
from shared.db.paging import Where
from shared.db.pool import Connection
from shared.db.rows import identifier_of
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType
from shared.specs import LaunchPlanSpec, Schedule


@dataclass(frozen=True)
class ScheduleRow:
    """One scheduled launch plan, as the launcher stores it."""

    launch_plan: Identifier
    cron: str
    kickoff_time_input: str | None
    active_since: datetime
    last_tick: datetime | None
    last_error: str | None = None


def _key(identifier: Identifier) -> tuple[str, str, str, str]:
    return identifier.project, identifier.domain, identifier.name, identifier.version


def _row(record: asyncpg.Record) -> ScheduleRow:
    return ScheduleRow(
        launch_plan=identifier_of(ResourceType.LAUNCH_PLAN, record),
        cron=record["cron"],
        kickoff_time_input=record["kickoff_time_input"],
        active_since=record["active_since"],
        last_tick=record["last_tick"],
        last_error=record["last_error"],
    )


_COLUMNS = (
    "project, domain, name, version, cron, kickoff_time_input, active_since, last_tick, last_error"
)
_KEY = "project = $1 AND domain = $2 AND name = $3 AND version = $4"


class ScheduleRepository:
    """Reads and writes the launcher's ``schedules`` table on one connection (the unit of
    work's)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def upsert(
        self,
        launch_plan: Identifier,
        schedule: Schedule,
        active_since: datetime,
    ) -> bool:
        """Schedule ``launch_plan``; True if it was not scheduled yet.

        A launch plan already scheduled keeps its ``active_since`` and
        ``last_tick``: a redelivered activation must not make ticks fire again.
        """
        inserted = await self._conn.fetchval(
            f"""INSERT INTO schedules ({_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)
                ON CONFLICT (project, domain, name, version) DO UPDATE
                    SET cron = EXCLUDED.cron,
                        kickoff_time_input = EXCLUDED.kickoff_time_input,
                        updated_at = now()
                RETURNING (xmax = 0)""",
            *_key(launch_plan),
            schedule.cron,
            schedule.kickoff_time_input,
            active_since,
        )
        return bool(inserted)

    async def remove(self, launch_plan: Identifier) -> bool:
        """Stop scheduling ``launch_plan``; True if it was scheduled."""
        removed = await self._conn.fetchval(
            f"DELETE FROM schedules WHERE {_KEY} RETURNING true", *_key(launch_plan)
        )
        return bool(removed)

    async def get(self, launch_plan: Identifier) -> ScheduleRow | None:
        record = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM schedules WHERE {_KEY}", *_key(launch_plan)
        )
        return None if record is None else _row(record)

    async def all(self, project: str | None = None) -> list[ScheduleRow]:
        """Every schedule (of ``project`` when given), in a stable order."""
        where = Where(("project = {}", project))
        records = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM schedules {where.sql} ORDER BY project, domain, name, version",
            *where.args,
        )
        return [_row(r) for r in records]

    async def lock(self, launch_plan: Identifier) -> ScheduleRow | None:
        """The schedule, locked until the transaction ends; None if it is gone or
        someone else is firing it right now."""
        record = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM schedules WHERE {_KEY} FOR UPDATE SKIP LOCKED",
            *_key(launch_plan),
        )
        return None if record is None else _row(record)

    async def advance(self, launch_plan: Identifier, tick: datetime, error: str | None) -> None:
        """Record ``tick`` as the last one handled (never moving backwards)."""
        await self._conn.execute(
            f"""UPDATE schedules
                SET last_tick = GREATEST(last_tick, $5), last_error = $6, updated_at = now()
                WHERE {_KEY}""",
            *_key(launch_plan),
            tick,
            error,
        )


class RegistryLaunchPlans:
    """The registry's launch plans with their current state, over its HTTP API.

    Unlike ``RegistryClient`` this caches nothing: a launch plan's state changes.
    """

    PAGE = 200

    def __init__(
        self, base_url: str, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, identifier: Identifier) -> tuple[LaunchPlanSpec, LaunchPlanState] | None:
        """The launch plan's spec and current state; None if it is not registered."""
        path = "/".join(_key(identifier))
        try:
            response = await self._client.get(f"/api/v1/launch_plans/{path}")
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"registry unreachable: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryUnavailable(
                f"registry answered {response.status_code} for launch plan {path}"
            )
        body: dict[str, Any] = response.json()
        return LaunchPlanSpec.model_validate(body["spec"]), LaunchPlanState(body["state"])

    async def active(self) -> AsyncIterator[tuple[Identifier, LaunchPlanSpec]]:
        """Every ACTIVE launch plan, in every project, with its spec."""
        token: str | None = None
        while True:
            params: dict[str, str | int] = {
                "state": LaunchPlanState.ACTIVE.value,
                "include_spec": "true",
                "limit": self.PAGE,
            }
            if token:
                params["token"] = token
            try:
                response = await self._client.get("/api/v1/launch_plans", params=params)
            except httpx.HTTPError as exc:
                raise RegistryUnavailable(f"registry unreachable: {exc}") from exc
            if response.status_code != 200:
                raise RegistryUnavailable(
                    f"registry answered {response.status_code} listing active launch plans"
                )
            page: dict[str, Any] = response.json()
            for item in page["items"]:
                yield (
                    Identifier.model_validate(item["identifier"]),
                    LaunchPlanSpec.model_validate(item["spec"]),
                )
            token = page.get("next_token")
            if not token:
                return
