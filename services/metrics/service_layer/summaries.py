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
    """One page of rows (all when no limit), of ``total`` groups."""

    rows: list[dict[str, Any]]
    freshness: Freshness
    prices: dict[str, object]
    total: int


@dataclass
class _Group:
    values: dict[str, Any]
    rollup: Rollup
    cost: float = 0.0

    def key(self, query: SummaryQuery) -> tuple[Any, ...]:
        return group_key(self.values, query)

    def row(self) -> dict[str, Any]:
        return {**self.values, **measures(self.rollup, self.cost)}


def group_key(values: dict[str, Any], query: SummaryQuery) -> tuple[Any, ...]:
    """A group's identity: its values of the query's dimensions, then its time."""
    return tuple(values[name] for name in (*query.group_by, *(["time"] if query.grain else [])))


def _merge(groups: Sequence[Any], query: SummaryQuery, prices: PriceTable) -> list[_Group]:
    """The groups over every project and domain (prices are per project and domain)."""
    merged: dict[tuple[Any, ...], _Group] = {}
    for group in groups:
        key = group_key(group.values, query)
        if key not in merged:
            merged[key] = _Group(group.values, Rollup())
        merged[key].rollup.merge(group.rollup)
        merged[key].cost += prices.cost(group.project, group.domain, group.rollup)
    return list(merged.values())


def _order(group: _Group, query: SummaryQuery) -> tuple[Any, ...]:
    head = (group.values["time"],) if query.grain else ()
    return (*head, *(str(group.values[name]) for name in query.group_by))


async def _answer(
    uow_factory: MetricsUoWFactory,
    prices: PriceTable,
    query: SummaryQuery,
    pick: Any,
) -> Summary:
    """Sums of every group; then the duration sketches of the groups ``pick`` keeps only."""
    # One read-only transaction: every read sees the same state.
    async with uow_factory() as uow:
        freshness = await uow.progress.read()
        groups = _merge(
            await uow.rollups.read(query, extra=("project", "domain"), sketches=()),
            query,
            prices,
        )
        chosen: list[_Group] = pick(groups)
        wanted = None if len(chosen) == len(groups) else [g.values for g in chosen]
        sketches = await uow.rollups.sketches(query, wanted, SUMMARY_SKETCHES)
    for group in chosen:
        for name, sketch in sketches.get(group.key(query), {}).items():
            setattr(group.rollup, name, sketch)
    return Summary([g.row() for g in chosen], freshness, prices.describe(), len(groups))


async def summarize(
    uow_factory: MetricsUoWFactory,
    prices: PriceTable,
    query: SummaryQuery,
    offset: int = 0,
    limit: int | None = None,
) -> Summary:
    """Every measure per group of ``query``, in time then group order: rows from ``offset``."""

    def page(groups: list[_Group]) -> list[_Group]:
        ordered = sorted(groups, key=lambda g: _order(g, query))
        return ordered[offset : None if limit is None else offset + limit]

    return await _answer(uow_factory, prices, query, page)


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
    measure = by
    if by == "failures":
        # A workflow's failures are failed executions; a task's, failed attempts.
        measure = "attempts_failed" if "task" in query.group_by else "failed"

    def ranked(groups: list[_Group]) -> list[_Group]:
        scored = [(g.row().get(measure) or 0, g) for g in groups]
        best = sorted((pair for pair in scored if pair[0]), key=lambda pair: -pair[0])
        return [g for _, g in best[:n]]

    return await _answer(uow_factory, prices, query, ranked)


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
