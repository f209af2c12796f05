"""The metrics service's repositories over PostgreSQL: all of its SQL.

Batches are written with one statement each: the rows go as one jsonb array
(``jsonb_to_recordset``), and ``RETURNING`` says which were new.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from services.metrics.domain.levels import LEVELS, Level, Part, coarsen, plan
from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import (
    AttemptRecord,
    CacheHit,
    ExecutionRecord,
    Rollup,
    RollupKey,
)
from services.metrics.domain.sketch import Sketch
from services.metrics.service_layer.unit_of_work import Freshness, RollupGroup
from shared.db.paging import Where
from shared.db.pool import Connection


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Sketch):
        return value.counts
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


R = TypeVar("R")


def _firsts(records: Sequence[R], inserted: set[Any], key: Callable[[R], Any]) -> list[R]:
    """The records whose key was inserted, the first of each key only (one row each)."""
    left = set(inserted)
    out = []
    for record in records:
        if key(record) in left:
            left.discard(key(record))
            out.append(record)
    return out


class PostgresInbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, ids: Sequence[str]) -> set[str]:
        rows = await self._conn.fetch(
            "INSERT INTO applied_events (id) SELECT unnest($1::text[]) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            list(ids),
        )
        return {row["id"] for row in rows}


_ATTEMPT_COLUMNS = (
    "execution_key text, node_id text, attempt integer, project text, domain text, "
    "execution_name text, workflow text, launch_plan text, task text, phase text, worker text, "
    "queued_at timestamptz, started_at timestamptz, ended_at timestamptz, "
    "wall_seconds double precision, cpu_seconds double precision, peak_memory_bytes bigint, "
    "requested_cpu double precision, requested_memory_bytes bigint, limit_cpu double precision, "
    "limit_memory_bytes bigint, error_kind text, error_code text, labels jsonb, event_id text"
)
_ATTEMPT_NAMES = ", ".join(column.split()[0] for column in _ATTEMPT_COLUMNS.split(", "))

EXPORT_COLUMNS = (
    "id",
    "project",
    "domain",
    "execution_name",
    "workflow",
    "launch_plan",
    "task",
    "node_id",
    "attempt",
    "phase",
    "worker",
    "queued_at",
    "started_at",
    "ended_at",
    "wall_seconds",
    "cpu_seconds",
    "peak_memory_bytes",
    "requested_cpu",
    "requested_memory_bytes",
    "limit_cpu",
    "limit_memory_bytes",
    "error_kind",
    "error_code",
    "labels",
)


class PostgresAttempts:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        if not records:
            return []
        rows = await self._conn.fetch(
            f"INSERT INTO attempts ({_ATTEMPT_NAMES}) "
            f"SELECT {_ATTEMPT_NAMES} FROM jsonb_to_recordset($1::jsonb) AS r({_ATTEMPT_COLUMNS}) "
            "ON CONFLICT (execution_key, node_id, attempt) DO NOTHING "
            "RETURNING execution_key, node_id, attempt",
            _json([dataclasses.asdict(record) for record in records]),
        )
        inserted = {(row["execution_key"], row["node_id"], row["attempt"]) for row in rows}
        return _firsts(records, inserted, lambda r: (r.execution_key, r.node_id, r.attempt))

    async def page(
        self, query: SummaryQuery, limit: int, before: int | None
    ) -> list[tuple[int, dict[str, Any]]]:
        where = _filters(query, "ended_at")
        where.add("id < {}", before)
        rows = await self._conn.fetch(
            f"SELECT {', '.join(EXPORT_COLUMNS)} FROM attempts {where.sql} "
            f"ORDER BY id DESC LIMIT {where.param(limit)}",
            *where.args,
        )
        out = []
        for row in rows:
            item = dict(row)
            item["labels"] = json.loads(item["labels"]) if item["labels"] else {}
            out.append((row["id"], item))
        return out


_EXECUTION_COLUMNS = (
    "key text, project text, domain text, name text, workflow text, launch_plan text, "
    "phase text, terminal boolean, queued_at timestamptz, started_at timestamptz, "
    "ended_at timestamptz, duration_seconds double precision, labels jsonb, trigger jsonb, "
    "updated_at timestamptz"
)
_EXECUTION_NAMES = ", ".join(column.split()[0] for column in _EXECUTION_COLUMNS.split(", "))


class PostgresExecutions:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def save(self, records: Sequence[ExecutionRecord]) -> list[ExecutionRecord]:
        if not records:
            return []
        rows = [
            {
                "key": r.execution_key,
                "project": r.project,
                "domain": r.domain,
                "name": r.name,
                "workflow": r.workflow,
                "launch_plan": r.launch_plan,
                "phase": r.phase,
                "terminal": r.terminal,
                "queued_at": r.queued_at,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "duration_seconds": r.duration_seconds,
                "labels": r.labels,
                "trigger": r.trigger,
                "updated_at": r.at,
            }
            for r in records
        ]
        updates = ", ".join(
            f"{name} = EXCLUDED.{name}" for name in _EXECUTION_NAMES.split(", ")[1:]
        )
        # An ended execution is never changed again: its roll-up is counted once.
        ended = await self._conn.fetch(
            f"INSERT INTO executions ({_EXECUTION_NAMES}) "
            f"SELECT {_EXECUTION_NAMES} FROM jsonb_to_recordset($1::jsonb) "
            f"AS r({_EXECUTION_COLUMNS}) "
            f"ON CONFLICT (key) DO UPDATE SET {updates} WHERE NOT executions.terminal "
            "RETURNING key, terminal",
            _json(rows),
        )
        now_ended = {row["key"] for row in ended if row["terminal"]}
        return [r for r in records if r.execution_key in now_ended]


class PostgresCacheHits:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, hits: Sequence[CacheHit]) -> list[CacheHit]:
        if not hits:
            return []
        rows = await self._conn.fetch(
            "INSERT INTO cache_hits (execution_key, node_id, at) "
            "SELECT execution_key, node_id, at FROM jsonb_to_recordset($1::jsonb) "
            "AS r(execution_key text, node_id text, at timestamptz) "
            "ON CONFLICT DO NOTHING RETURNING execution_key, node_id",
            _json(
                [{"execution_key": h.execution_key, "node_id": h.node_id, "at": h.at} for h in hits]
            ),
        )
        inserted = {(row["execution_key"], row["node_id"]) for row in rows}
        return _firsts(hits, inserted, lambda h: (h.execution_key, h.node_id))


_KEY_TYPES = {"hour": "timestamptz", "labels": "jsonb"}
_SUM_TYPES = {
    name: ("bigint" if isinstance(getattr(Rollup(), name), int) else "double precision")
    for name in Rollup.SUMS
}
_MAX_TYPES = {
    "requested_cpu_max": "double precision",
    "requested_memory_max": "bigint",
    "peak_memory_max": "bigint",
}


def _rollup_columns(level: Level) -> str:
    keys = [f"{name} {_KEY_TYPES.get(name, 'text')}" for name in level.key_columns]
    measures = [f"{name} {kind}" for name, kind in {**_SUM_TYPES, **_MAX_TYPES}.items()]
    sketches = [f"{name} jsonb" for name in Rollup.SKETCHES]
    return ", ".join([*keys, *measures, *sketches])


def _upsert(level: Level) -> str:
    """One statement adding a jsonb array of rows to ``level``'s table."""
    columns = _rollup_columns(level)
    names = ", ".join(column.split()[0] for column in columns.split(", "))
    table = level.table
    updates = ", ".join(
        [f"{name} = {table}.{name} + EXCLUDED.{name}" for name in Rollup.SUMS]
        + [f"{name} = greatest({table}.{name}, EXCLUDED.{name})" for name in Rollup.MAXIMA]
        + [f"{name} = sketch_merge({table}.{name}, EXCLUDED.{name})" for name in Rollup.SKETCHES]
    )
    return (
        f"INSERT INTO {table} ({names}) "
        f"SELECT {names} FROM jsonb_to_recordset($1::jsonb) AS r({columns}) "
        f"ON CONFLICT ({', '.join(level.key_columns)}) DO UPDATE SET {updates}"
    )


_UPSERTS = {level.table: _upsert(level) for level in LEVELS}
_READ_MEASURES = ", ".join(
    [f"sum({name}) AS {name}" for name in Rollup.SUMS]
    + [f"max({name}) AS {name}" for name in Rollup.MAXIMA]
)


def _sketch_values(names: Sequence[str]) -> str:
    unknown = set(names) - set(Rollup.SKETCHES)
    if unknown:
        raise ValueError(f"no sketches {sorted(unknown)}")
    return ", ".join(f"('{name}', {name})" for name in names)


def _filters(query: SummaryQuery, time_column: str) -> Where:
    where = Where(
        (f"{time_column} >= {{}}", query.since),
        (f"{time_column} < {{}}", query.until),
        ("project = {}", query.project),
        ("domain = {}", query.domain),
    )
    if query.labels:
        where.add("labels @> {}::jsonb", json.dumps(query.labels))
    return where


def _part_filters(query: SummaryQuery, part: Part) -> Where:
    """``query``'s filters over one part of its range (bucket-aligned bounds)."""
    return _filters(dataclasses.replace(query, since=part.since, until=part.until), "hour")


async def _analytic(conn: Connection) -> None:
    """For a summary's reads, in its transaction: no JIT (it costs more than it saves here),
    and the memory to group hundreds of thousands of roll-up rows by hashing, not on disk."""
    await conn.execute("SET LOCAL jit = off")
    await conn.execute("SET LOCAL work_mem = '64MB'")


class PostgresRollups:
    """Every level's table (``domain/levels.py``): increments go to each, reads to the
    coarsest that answers each part of a query's range, merged."""

    def __init__(self, conn: Connection, levels: tuple[Level, ...] = LEVELS) -> None:
        self._conn = conn
        self._levels = levels

    async def add(self, rows: dict[RollupKey, Rollup]) -> None:
        if not rows:
            return
        for level in self._levels:
            coarse = coarsen(rows, level)
            payload = [
                {
                    **dict(zip(level.key_columns, key, strict=True)),
                    **({"labels": json.loads(key[-1])} if level.labels else {}),
                    **_rollup_fields(rollup),
                }
                # Sorted keys: concurrent batches lock rows in the same order.
                for key, rollup in sorted(coarse.items(), key=lambda item: item[0])
            ]
            await self._conn.execute(_UPSERTS[level.table], _json(payload))

    async def read(
        self,
        query: SummaryQuery,
        extra: Sequence[str] = (),
        sketches: Sequence[str] = Rollup.SKETCHES,
    ) -> list[RollupGroup]:
        """Sums and maxima in one grouped query per part; the ``sketches``' buckets added
        up in another.

        Settings for such reads are set in the unit of work's transaction (``_analytic``).
        """
        await _analytic(self._conn)
        dimensions = list(dict.fromkeys([*query.group_by, *extra]))
        wide = dataclasses.replace(query, group_by=tuple(dimensions))
        selected = list(dimensions)
        if query.grain:
            selected.append(f"date_trunc('{query.grain}', hour, 'UTC') AS time")
        keys = [*dimensions, *(["time"] if query.grain else [])]
        group = ", ".join(keys)
        columns = ", ".join([*selected, _READ_MEASURES])
        groups: dict[tuple[Any, ...], RollupGroup] = {}
        for part in plan(wide, self._levels):
            where = _part_filters(query, part)
            table = part.level.table
            sql = f"SELECT {columns} FROM {table} {where.sql}" + (
                f" GROUP BY {group}" if group else ""
            )
            for row in await self._conn.fetch(sql, *where.args):
                key = tuple(row[name] for name in keys)
                if key in groups:
                    groups[key].rollup.merge(_rollup_of(row))
                    continue
                values = {name: row[name] for name in query.group_by}
                if query.grain:
                    values["time"] = row["time"]
                project = row["project"] if "project" in dimensions else ""
                domain = row["domain"] if "domain" in dimensions else ""
                groups[key] = RollupGroup(values, project, domain, _rollup_of(row))
            if not sketches:
                continue
            buckets = await self._conn.fetch(
                f"SELECT {', '.join([*selected, 's.name', 'b.key', 'sum(b.value::bigint) AS n'])} "
                f"FROM {table} CROSS JOIN LATERAL (VALUES {_sketch_values(sketches)}) "
                "AS s(name, sketch) "
                f"CROSS JOIN LATERAL jsonb_each_text(s.sketch) AS b {where.sql} "
                f"GROUP BY {', '.join([*keys, 's.name', 'b.key'])}",
                *where.args,
            )
            for bucket in buckets:
                group_of = groups.get(tuple(bucket[name] for name in keys))
                if group_of is not None:
                    getattr(group_of.rollup, bucket["name"]).add_count(bucket["key"], bucket["n"])
        return list(groups.values())

    async def sketches(
        self,
        query: SummaryQuery,
        groups: Sequence[dict[str, Any]] | None,
        names: Sequence[str],
    ) -> dict[tuple[Any, ...], dict[str, Sketch]]:
        """The named sketches of only these groups (values of the query's dimensions and
        time; None: all of them)."""
        if groups == [] or not names:
            return {}
        await _analytic(self._conn)
        time = f"date_trunc('{query.grain}', hour, 'UTC')" if query.grain else None
        keys = [*query.group_by, *(["time"] if query.grain else [])]
        selected = [*query.group_by, *([f"{time} AS time"] if time else [])]
        group_by = ", ".join([*keys, "s.name", "b.key"])
        values = _sketch_values(names)
        found: dict[tuple[Any, ...], dict[str, Sketch]] = {}
        for part in plan(query, self._levels):
            where = _part_filters(query, part)
            table = part.level.table
            join = ""
            if keys and groups is not None:
                columns = ", ".join(
                    [f"k_{name} text" for name in query.group_by]
                    + (["k_time timestamptz"] if time else [])
                )
                matches = " AND ".join(
                    [f"{table}.{name} = k.k_{name}" for name in query.group_by]
                    + ([f"{time} = k.k_time"] if time else [])
                )
                wanted = [
                    {
                        **{f"k_{n}": g[n] for n in query.group_by},
                        **({"k_time": g["time"]} if time else {}),
                    }
                    for g in groups
                ]
                join = (
                    f"JOIN jsonb_to_recordset({where.param(_json(wanted))}::jsonb) "
                    f"AS k({columns}) ON {matches}"
                )
            if part.level.compact and groups is not None:
                rows = await self._conn.fetch(
                    f"SELECT {', '.join([*selected, *(f'{n}::text AS {n}' for n in names)])} "
                    f"FROM {table} {join} {where.sql}",
                    *where.args,
                )
                for row in rows:
                    sketches = found.setdefault(tuple(row[name] for name in keys), {})
                    for name in names:
                        sketches.setdefault(name, Sketch()).merge(json.loads(row[name]))
                continue
            buckets = (
                f"SELECT {', '.join([*selected, 's.name', 'b.key', 'sum(b.value::bigint) AS n'])} "
                f"FROM {table} {join} "
                f"CROSS JOIN LATERAL (VALUES {values}) AS s(name, sketch) "
                f"CROSS JOIN LATERAL jsonb_each_text(s.sketch) AS b {where.sql} "
                f"GROUP BY {group_by}"
            )
            # One row per group and sketch (its buckets as one object), not one per bucket.
            rows = await self._conn.fetch(
                f"SELECT {', '.join([*keys, 'name'])}, jsonb_object_agg(key, n)::text AS counts "
                f"FROM ({buckets}) AS buckets GROUP BY {', '.join([*keys, 'name'])}",
                *where.args,
            )
            for row in rows:
                sketches = found.setdefault(tuple(row[name] for name in keys), {})
                sketches.setdefault(row["name"], Sketch()).merge(json.loads(row["counts"]))
        return found


def _rollup_fields(rollup: Rollup) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: getattr(rollup, name) for name in (*Rollup.SUMS, *Rollup.MAXIMA)
    }
    fields.update({name: getattr(rollup, name).counts for name in Rollup.SKETCHES})
    return fields


def _rollup_of(row: Any) -> Rollup:
    """The sums and maxima of a grouped row (its sketches are read apart)."""
    rollup = Rollup()
    for name in (*Rollup.SUMS, *Rollup.MAXIMA):
        value = row[name]
        kind = type(getattr(rollup, name))
        setattr(rollup, name, kind(value) if value is not None else kind())
    return rollup


class PostgresProgress:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def advance(self, newest_event_at: datetime, events: int) -> None:
        await self._conn.execute(
            "UPDATE ingest_progress SET "
            "newest_event_at = greatest(newest_event_at, $1), applied_at = now(), "
            "events = events + $2 WHERE id = 1",
            newest_event_at,
            events,
        )

    async def read(self) -> Freshness:
        row = await self._conn.fetchrow(
            "SELECT newest_event_at, applied_at, events FROM ingest_progress WHERE id = 1"
        )
        if row is None:
            return Freshness(None, None, 0)
        return Freshness(row["newest_event_at"], row["applied_at"], row["events"])
