"""Reading executions for the API: one execution, a filtered page, its nodes."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.launcher.adapters.executions import Executor
from services.launcher.domain import NodeState

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


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _execution(row: Any) -> ExecutionRow:
    return ExecutionRow(
        key=row["key"],
        project=row["project"],
        domain=row["domain"],
        name=row["name"],
        workflow=_loads(row["workflow"]),
        launch_plan=_loads(row["launch_plan"]),
        phase=row["phase"],
        inputs=_loads(row["inputs"]),
        outputs=_loads(row["outputs"]),
        error=_loads(row["error"]),
        labels=_loads(row["labels"]) or {},
        relaunched_from=row["relaunched_from"],
        recovered_from=row["recovered_from"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        closure_digest=row["closure_digest"],
        scheduled_at=row["scheduled_at"],
    )


class BadToken(ValueError):
    """A page token the API did not issue."""


def _token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"e:{last_id}".encode()).decode().rstrip("=")


def _after(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != "e":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadToken(token) from exc


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
    """A page of executions, newest first, and the token of the next page."""
    clauses: list[str] = []
    args: list[Any] = []

    def add(clause: str, value: Any) -> None:
        args.append(value)
        clauses.append(clause.format(f"${len(args)}"))

    if where.project is not None:
        add("project = {}", where.project)
    if where.domain is not None:
        add("domain = {}", where.domain)
    if where.workflow is not None:
        add("workflow_name = {}", where.workflow)
    if where.launch_plan is not None:
        add("launch_plan_name = {}", where.launch_plan)
    if where.phase is not None:
        add("phase = {}", where.phase)
    if where.since is not None:
        add("created_at >= {}", where.since)
    if where.until is not None:
        add("created_at < {}", where.until)
    if token is not None:
        add("id < {}", _after(token))
    args.append(limit + 1)
    sql = (
        f"SELECT {_COLUMNS} FROM executions"
        + (" WHERE " + " AND ".join(clauses) if clauses else "")
        + f" ORDER BY id DESC LIMIT ${len(args)}"
    )
    rows = await db.fetch(sql, *args)
    more = len(rows) > limit
    rows = rows[:limit]
    next_token = _token(rows[-1]["id"]) if more and rows else None
    return [_execution(row) for row in rows], next_token


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
