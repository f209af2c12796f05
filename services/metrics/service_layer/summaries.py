"""Summaries, top-N and right-sizing, answered from the roll-ups (never from raw attempts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.metrics.domain.pricing import PriceTable
from services.metrics.domain.query import SummaryQuery
from services.metrics.domain.records import Rollup
from services.metrics.domain.rightsizing import advise
from services.metrics.domain.summary import measures
from services.metrics.service_layer.unit_of_work import Freshness, MetricsUoWFactory
from shared.errors import InvalidRequest

TOP_MEASURES = ("cost", "failures", "failure_rate", "cpu_hours", "wall_hours", "retries")
TOP_GROUPS = ("workflow", "task", "project", "launch_plan", "worker")
SUMMARY_SKETCHES = ("execution_durations", "task_durations")
RIGHTSIZING_SKETCHES = ("peak_memory", "cpu_cores")


@dataclass(frozen=True)
class Summary:
    rows: list[dict[str, Any]]
    freshness: Freshness
    prices: dict[str, object]


def _merge(groups: Sequence[Any], query: SummaryQuery, prices: PriceTable) -> list[dict[str, Any]]:
    merged: dict[tuple[Any, ...], tuple[dict[str, Any], Rollup, list[float]]] = {}
    for group in groups:
        key = tuple(group.values.items())
        if key not in merged:
            merged[key] = (group.values, Rollup(), [0.0])
        _, rollup, cost = merged[key]
        rollup.merge(group.rollup)
        cost[0] += prices.cost(group.project, group.domain, group.rollup)
    return [{**values, **measures(rollup, cost[0])} for values, rollup, cost in merged.values()]


def _order(row: dict[str, Any], query: SummaryQuery) -> tuple[Any, ...]:
    head = (row["time"],) if query.grain else ()
    return (*head, *(str(row[name]) for name in query.group_by))


async def summarize(
    uow_factory: MetricsUoWFactory, prices: PriceTable, query: SummaryQuery
) -> Summary:
    """Every measure per group of ``query``, in time then group order."""
    # One read-only transaction: both reads see the same state.
    async with uow_factory() as uow:
        freshness = await uow.progress.read()
        groups = await uow.rollups.read(
            query, extra=("project", "domain"), sketches=SUMMARY_SKETCHES
        )
    rows = sorted(_merge(groups, query, prices), key=lambda row: _order(row, query))
    return Summary(rows, freshness, prices.describe())


async def top(
    uow_factory: MetricsUoWFactory,
    prices: PriceTable,
    query: SummaryQuery,
    by: str,
    n: int,
) -> Summary:
    """The ``n`` groups with the highest ``by`` (cost, failures...)."""
    if by not in TOP_MEASURES:
        raise InvalidRequest(
            f"by: unknown measure {by!r}",
            [{"field": "by", "message": f"one of {', '.join(TOP_MEASURES)}"}],
        )
    summary = await summarize(uow_factory, prices, query)
    measure = "failed" if by == "failures" else by
    if by == "failures":
        # A workflow's failures are failed executions; a task's, failed attempts.
        measure = "attempts_failed" if "task" in query.group_by else "failed"
    ranked = sorted(summary.rows, key=lambda row: -(row.get(measure) or 0))
    return Summary(
        [row for row in ranked if row.get(measure)][:n], summary.freshness, summary.prices
    )


async def rightsizing(
    uow_factory: MetricsUoWFactory,
    query: SummaryQuery,
    *,
    threshold: float,
    headroom: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Freshness]:
    """Over-provisioned tasks (advice per resource) and tasks killed for memory."""
    by_task = SummaryQuery(
        since=query.since,
        until=query.until,
        group_by=("project", "domain", "task"),
        project=query.project,
        domain=query.domain,
        labels=query.labels,
    )
    async with uow_factory() as uow:
        freshness = await uow.progress.read()
        groups = await uow.rollups.read(by_task, sketches=RIGHTSIZING_SKETCHES)
    over: list[dict[str, Any]] = []
    killed: list[dict[str, Any]] = []
    for group in groups:
        if not group.values["task"] or not group.rollup.attempts:
            continue
        for advice in advise(group.rollup, threshold=threshold, headroom=headroom):
            over.append(
                {
                    **group.values,
                    "resource": advice.resource,
                    "requested": advice.requested,
                    "observed_p95": advice.observed_p95,
                    "suggested": advice.suggested,
                    "attempts": advice.attempts,
                }
            )
        if group.rollup.oom_kills:
            killed.append(
                {
                    **group.values,
                    "oom_kills": group.rollup.oom_kills,
                    "attempts": group.rollup.attempts,
                    "peak_memory_bytes": group.rollup.peak_memory_max,
                    "requested_memory_bytes": group.rollup.requested_memory_max or None,
                }
            )
    over.sort(key=lambda row: (-(row["requested"] - row["suggested"]), row["task"]))
    killed.sort(key=lambda row: (-row["oom_kills"], row["task"]))
    return over, killed, freshness


async def attempts_page(
    uow_factory: MetricsUoWFactory, query: SummaryQuery, limit: int, before: int | None
) -> list[tuple[int, dict[str, Any]]]:
    """Raw attempts for export (the one read of raw rows; summaries never scan them)."""
    async with uow_factory(atomic=False) as uow:
        return await uow.attempts.page(query, limit, before)


async def freshness(uow_factory: MetricsUoWFactory) -> Freshness:
    async with uow_factory(atomic=False) as uow:
        return await uow.progress.read()
