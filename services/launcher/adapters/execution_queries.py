"""Reading executions for the API: one execution, a filtered page, its nodes."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from services.launcher.adapters.executions import Executor
from services.launcher.domain import NodeState
from shared.db.paging import Where, decode_token, newest_first, page_of

_COLUMNS = """id, key, project, domain, name, workflow, launch_plan, phase, inputs, outputs,
    error, labels, relaunched_from, recovered_from, created_at, started_at, updated_at,
    ended_at, closure_digest, scheduled_at"""


@dataclass(frozen=True)
class ExecutionRow:
    key: str
    project: str
    domain: str
    name: str
    workflow: dict[str, Any]
    launch_plan: dict[str, Any] | None
    phase: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None
    labels: dict[str, str]
    relaunched_from: str | None
    recovered_from: str | None
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    ended_at: datetime | None
    closure_digest: str
    scheduled_at: datetime | None = None


_JSON_COLUMNS = ("workflow", "launch_plan", "inputs", "outputs", "error", "labels")


def _execution(row: Any) -> ExecutionRow:
    values = {column.name: row[column.name] for column in fields(ExecutionRow)}
    for column in _JSON_COLUMNS:
        text = values[column]
        values[column] = None if text is None else json.loads(text)
    values["labels"] = values["labels"] or {}
    return ExecutionRow(**values)


@dataclass(frozen=True)
class ExecutionFilter:
    project: str | None = None
    domain: str | None = None
    workflow: str | None = None
    launch_plan: str | None = None
    phase: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def get_execution(db: Executor, key: str) -> ExecutionRow | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM executions WHERE key = $1", key)
    return None if row is None else _execution(row)


async def list_executions(
    db: Executor, where: ExecutionFilter, limit: int, token: str | None
) -> tuple[list[ExecutionRow], str | None]:
    """A page of executions, newest first, and the token of the next page.

    Raises:
        InvalidPageToken: ``token`` is not a ``next_token`` the API gave.
    """
    conditions = Where(
        ("project = {}", where.project),
        ("domain = {}", where.domain),
        ("workflow_name = {}", where.workflow),
        ("launch_plan_name = {}", where.launch_plan),
        ("phase = {}", where.phase),
        ("created_at >= {}", where.since),
        ("created_at < {}", where.until),
    )
    before = decode_token(token)
    rows = await db.fetch(
        *newest_first(_COLUMNS, "executions", conditions, limit=limit + 1, before=before)
    )
    page = page_of(list(rows), limit, lambda row: int(row["id"]))
    return [_execution(row) for row in page.items], page.next_token


async def node_states(db: Executor, key: str) -> list[tuple[str, NodeState]]:
    """The execution's node states by path, in the order they were created."""
    rows = await db.fetch(
        "SELECT path, state FROM nodes WHERE execution_key = $1 ORDER BY position, path", key
    )
    return [(row["path"], NodeState.model_validate_json(row["state"])) for row in rows]


async def recovered_paths(db: Executor, key: str) -> set[str]:
    """The paths of the nodes whose outputs execution ``key`` reuses (``recover``)."""
    found = await db.fetchval("SELECT recovered FROM executions WHERE key = $1", key)
    return set(json.loads(found)) if found else set()
