"""The usage API under /api/v1/usage: summaries, top-N, right-sizing, raw attempts, freshness.

Each route parses its query (a 400 naming the parameter for a bad one), calls
one use case and renders. Summaries are paginated with the one page token of
``shared.db.paging`` (it carries the offset of the next row).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.metrics.bootstrap import MetricsServices
from services.metrics.domain.query import MAX_PAGE_SIZE, SummaryQuery
from services.metrics.domain.summary import DIMENSIONS, GRAINS
from services.metrics.service_layer import summaries
from services.metrics.service_layer.unit_of_work import Freshness as FreshnessState
from shared.auth.dependency import Authenticated
from shared.auth.principal import require_list
from shared.auth.roles import Role
from shared.db.paging import decode_token, encode_token
from shared.service.errors import error_responses

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])

_ERRORS = {
    400: "A bad query; details[].field names the parameter (group_by, until, page_size, token...)."
}


def services(request: Request) -> MetricsServices:
    found: MetricsServices = request.app.state.metrics
    return found


Services = Annotated[MetricsServices, Depends(services)]

Since = Annotated[
    str | None,
    Query(description="Start of the range: ISO 8601, or a span back from now (30m, 24h, 7d)."),
]
Until = Annotated[str | None, Query(description="End of the range (excluded); default now.")]
GroupBy = Annotated[
    list[str],
    Query(description=f"Group by any of {', '.join(DIMENSIONS)}; repeated or comma-separated."),
]
Grain = Annotated[str | None, Query(description=f"Group by time too: {', '.join(GRAINS)}.")]
Labels = Annotated[
    list[str], Query(alias="label", description="key=value; executions with all these labels.")
]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")]


class Freshness(BaseModel):
    newest_event_at: datetime | None = Field(
        description="The data is complete up to this event time: the newest event applied."
    )
    applied_at: datetime | None = Field(description="When that event was applied.")
    events: int = Field(description="Events applied since the tables were made.")


class Prices(BaseModel):
    currency: str
    cpu_hour: float
    gb_hour: float
    overrides: dict[str, dict[str, float]]


class SummaryRow(BaseModel):
    """One group: its dimension values (those grouped by) and every measure."""

    time: datetime | None = None
    project: str | None = None
    domain: str | None = None
    workflow: str | None = None
    launch_plan: str | None = None
    task: str | None = None
    phase: str | None = None
    worker: str | None = None
    executions: int
    succeeded: int
    failed: int
    failure_rate: float | None
    attempts: int
    attempts_succeeded: int
    attempts_failed: int
    attempt_failure_rate: float | None
    retries: int
    cache_hits: int
    cache_hit_rate: float | None
    oom_kills: int
    wall_hours: float
    cpu_hours: float
    cpu_hours_reserved: float
    cpu_efficiency: float | None
    memory_gb_hours: float
    memory_gb_hours_reserved: float
    memory_efficiency: float | None
    cost: float
    execution_duration_p50: float | None
    execution_duration_p90: float | None
    execution_duration_p99: float | None
    task_duration_p50: float | None
    task_duration_p90: float | None
    task_duration_p99: float | None


class SummaryPage(BaseModel):
    items: list[SummaryRow]
    next_token: str | None
    since: datetime
    until: datetime
    group_by: list[str]
    time: str | None
    freshness: Freshness
    prices: Prices


class Advice(BaseModel):
    project: str
    domain: str
    task: str
    resource: str = Field(description="memory_bytes or cpu (cores).")
    requested: float
    observed_p95: float
    suggested: float
    attempts: int


class OomKilled(BaseModel):
    project: str
    domain: str
    task: str
    oom_kills: int
    attempts: int
    peak_memory_bytes: int
    requested_memory_bytes: int | None


class Rightsizing(BaseModel):
    since: datetime
    until: datetime
    overprovisioned: list[Advice]
    oom_killed: list[OomKilled]
    freshness: Freshness


class AttemptRow(BaseModel):
    id: int
    project: str
    domain: str
    execution_name: str
    workflow: str
    launch_plan: str
    task: str
    node_id: str
    attempt: int
    phase: str
    worker: str
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime
    wall_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int
    requested_cpu: float | None
    requested_memory_bytes: int | None
    limit_cpu: float | None
    limit_memory_bytes: int | None
    error_kind: str | None
    error_code: str | None
    labels: dict[str, str]


class AttemptPage(BaseModel):
    items: list[AttemptRow]
    next_token: str | None


def _freshness(state: FreshnessState) -> Freshness:
    return Freshness(
        newest_event_at=state.newest_event_at, applied_at=state.applied_at, events=state.events
    )


def _query(
    since: str | None,
    until: str | None,
    group_by: list[str],
    time: str | None,
    project: str | None,
    domain: str | None,
    labels: list[str],
) -> SummaryQuery:
    return SummaryQuery.parse(
        now=datetime.now(UTC),
        since=since,
        until=until,
        group_by=group_by,
        time=time,
        project=project,
        domain=domain,
        labels=labels,
    )


def _page(query: SummaryQuery, summary: summaries.Summary, offset: int) -> SummaryPage:
    """The page of ``summary`` that starts at row ``offset``."""
    more = offset + len(summary.rows) < summary.total
    return SummaryPage(
        items=[SummaryRow.model_validate(row) for row in summary.rows],
        next_token=encode_token(offset + len(summary.rows)) if more else None,
        since=query.since,
        until=query.until,
        group_by=list(query.group_by),
        time=query.grain,
        freshness=_freshness(summary.freshness),
        prices=Prices.model_validate(summary.prices),
    )


@router.get(
    "/summary",
    response_model=SummaryPage,
    summary="Usage grouped by any dimensions and time",
    responses=error_responses(_ERRORS, 400),
)
async def summary(
    svc: Services,
    principal: Authenticated,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = [],  # noqa: B006 (FastAPI copies query defaults)
    time: Grain = None,
    project: str | None = None,
    domain: str | None = None,
    labels: Labels = [],  # noqa: B006
    page_size: PageSize = 100,
    token: str | None = None,
) -> SummaryPage:
    require_list(principal, Role.VIEWER, project, domain)
    query = _query(since, until, group_by, time, project, domain, labels)
    offset = decode_token(token) or 0
    result = await summaries.summarize(svc.uow_factory, svc.prices, query, offset, page_size)
    return _page(query, result, offset)


@router.get(
    "/top",
    response_model=SummaryPage,
    summary="The most expensive or most failing workflows or tasks",
    responses=error_responses(_ERRORS, 400),
)
async def top(
    svc: Services,
    principal: Authenticated,
    by: Annotated[str, Query(description=", ".join(summaries.TOP_MEASURES))] = "cost",
    group_by: Annotated[
        list[str], Query(description="workflow (default), task, or any dimensions")
    ] = ["workflow"],  # noqa: B006
    n: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
    since: Since = None,
    until: Until = None,
    project: str | None = None,
    domain: str | None = None,
    labels: Labels = [],  # noqa: B006
) -> SummaryPage:
    require_list(principal, Role.VIEWER, project, domain)
    query = _query(since, until, group_by, None, project, domain, labels)
    result = await summaries.top(svc.uow_factory, svc.prices, query, by, n)
    return _page(query, replace(result, total=len(result.rows)), 0)


@router.get(
    "/rightsizing",
    response_model=Rightsizing,
    summary="Tasks that use far less than they request, and tasks killed for memory",
    responses=error_responses(_ERRORS, 400),
)
async def rightsizing(
    svc: Services,
    principal: Authenticated,
    since: Since = "7d",
    until: Until = None,
    project: str | None = None,
    domain: str | None = None,
    threshold: Annotated[float, Query(gt=0, le=1, description="p95 below this share")] = 0.5,
    headroom: Annotated[float, Query(ge=0, le=10, description="added to the p95")] = 0.2,
) -> Rightsizing:
    require_list(principal, Role.VIEWER, project, domain)
    query = _query(since, until, [], None, project, domain, [])
    over, killed, fresh = await summaries.rightsizing(
        svc.uow_factory, query, threshold=threshold, headroom=headroom
    )
    return Rightsizing(
        since=query.since,
        until=query.until,
        overprovisioned=[Advice.model_validate(row) for row in over],
        oom_killed=[OomKilled.model_validate(row) for row in killed],
        freshness=_freshness(fresh),
    )


@router.get(
    "/attempts",
    response_model=AttemptPage,
    summary="Raw task attempts that ended in a range, newest first (for export)",
    responses=error_responses(_ERRORS, 400),
)
async def attempts(
    svc: Services,
    principal: Authenticated,
    since: Since = None,
    until: Until = None,
    project: str | None = None,
    domain: str | None = None,
    labels: Labels = [],  # noqa: B006
    page_size: PageSize = 500,
    token: str | None = None,
) -> AttemptPage:
    require_list(principal, Role.VIEWER, project, domain)
    query = _query(since, until, [], None, project, domain, labels)
    fetched = await summaries.attempts_page(
        svc.uow_factory, query, page_size + 1, decode_token(token)
    )
    items = fetched[:page_size]
    more = len(fetched) > page_size and items
    return AttemptPage(
        items=[AttemptRow.model_validate(row) for _, row in items],
        next_token=encode_token(items[-1][0]) if more else None,
    )


@router.get("/freshness", response_model=Freshness, summary="Up to when the data is complete")
async def freshness(svc: Services) -> Freshness:
    return _freshness(await summaries.freshness(svc.uow_factory))
