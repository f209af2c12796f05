"""Metrics ingest and summaries over in-memory fakes: exactly once, and the 400s of bad queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.domain.pricing import Price, PriceTable
from services.metrics.domain.query import SummaryQuery, check_page_size
from services.metrics.service_layer.ingest import apply_events
from services.metrics.service_layer.summaries import rightsizing, summarize, top
from shared.errors import InvalidRequest
from shared.events.catalogue import (
    ExecutionPhaseChanged,
    NodePhaseChanged,
    Resources,
    ResourceSpec,
    ResourceUsage,
    TaskAttemptPhaseChanged,
)
from shared.events.envelope import CloudEvent
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.phases import ExecutionPhase, NodePhase, TaskAttemptPhase
from tests.unit.fakes_metrics import FakeMetricsUoWFactory

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PRICES = PriceTable(Price(cpu_hour=1.0, gb_hour=0.5), "EUR", {"q": Price(2.0, 0.0)})
GIB = 2**30


def _wf(project: str, name: str) -> Identifier:
    return Identifier(
        resource_type=ResourceType.WORKFLOW, project=project, domain="d", name=name, version="v"
    )


def _events(project: str, name: str, workflow: str, *, fail_first: bool) -> list[CloudEvent]:  # type: ignore[type-arg]
    ex = ExecutionIdentifier(project=project, domain="d", name=name)
    wf = _wf(project, workflow)
    task = Identifier(
        resource_type=ResourceType.TASK, project=project, domain="d", name="t", version="v"
    )
    out: list[CloudEvent] = []  # type: ignore[type-arg]
    seq = 0

    def add(data: object) -> None:
        out.append(CloudEvent.wrap(data, source="/contrail/launcher"))

    attempts = (
        [TaskAttemptPhase.RETRYABLE_FAILED, TaskAttemptPhase.SUCCEEDED]
        if fail_first
        else [TaskAttemptPhase.SUCCEEDED]
    )
    for number, phase in enumerate(attempts, start=1):
        seq += 1
        add(
            TaskAttemptPhaseChanged(
                execution=ex,
                workflow=wf,
                seq=seq,
                node_id="n0",
                task=task,
                attempt=number,
                phase=phase,
                worker_id="w",
                resources_requested=Resources(requests=ResourceSpec(cpu=1.0, memory_bytes=4 * GIB)),
                resources_used=ResourceUsage(
                    cpu_seconds=1800.0, peak_memory_bytes=GIB, wall_seconds=3600.0
                ),
                ended_at=NOW - timedelta(minutes=30),
            )
        )
    seq += 1
    add(
        NodePhaseChanged(
            execution=ex,
            workflow=wf,
            seq=seq,
            node_id="n1",
            phase=NodePhase.SUCCEEDED,
            cache_hit=True,
        )
    )
    seq += 1
    add(
        ExecutionPhaseChanged(
            execution=ex,
            workflow=wf,
            seq=seq,
            phase=ExecutionPhase.SUCCEEDED,
            ended_at=NOW - timedelta(minutes=20),
            duration_seconds=100.0,
        )
    )
    return out


def _query(**kwargs: object) -> SummaryQuery:
    return SummaryQuery.parse(now=NOW, since="1d", **kwargs)  # type: ignore[arg-type]


async def test_a_redelivered_batch_changes_nothing() -> None:
    uow = FakeMetricsUoWFactory()
    events = _events("p", "x1", "wf", fail_first=True)
    assert await apply_events(uow, events) == len(events)
    before = (await summarize(uow, PRICES, _query())).rows
    assert await apply_events(uow, events) == 0
    assert await apply_events(uow, events[1:3]) == 0
    assert (await summarize(uow, PRICES, _query())).rows == before
    (row,) = before
    assert (row["executions"], row["succeeded"], row["attempts"], row["retries"]) == (1, 1, 2, 1)
    assert (row["cache_hits"], row["cache_hit_rate"]) == (1, 0.5)
    assert row["cpu_hours"] == pytest.approx(1.0)
    assert row["cpu_hours_reserved"] == pytest.approx(2.0)
    assert row["memory_gb_hours_reserved"] == pytest.approx(8.0)
    assert row["cost"] == pytest.approx(2.0 * 1.0 + 8.0 * 0.5)


async def test_the_same_event_under_a_new_id_is_still_counted_once() -> None:
    uow = FakeMetricsUoWFactory()
    events = _events("p", "x1", "wf", fail_first=False)
    await apply_events(uow, events)
    again = [CloudEvent.wrap(e.data, source=e.source) for e in events]
    assert await apply_events(uow, again) == len(again)  # new ids: applied...
    (row,) = (await summarize(uow, PRICES, _query())).rows
    assert (row["executions"], row["attempts"], row["cache_hits"]) == (1, 1, 1)  # ...once


async def test_groups_prices_per_project_and_top() -> None:
    uow = FakeMetricsUoWFactory()
    await apply_events(uow, _events("p", "x1", "a", fail_first=True))
    await apply_events(uow, _events("q", "x2", "b", fail_first=False))
    rows = (await summarize(uow, PRICES, _query(group_by=["workflow"]))).rows
    assert [(r["workflow"], r["attempts"]) for r in rows] == [("a", 2), ("b", 1)]
    costs = {r["workflow"]: r["cost"] for r in rows}
    assert costs == {"a": pytest.approx(6.0), "b": pytest.approx(2.0)}
    ranked = (await top(uow, PRICES, _query(group_by=["workflow"]), "cost", 1)).rows
    assert [r["workflow"] for r in ranked] == ["a"]
    over, killed, _ = await rightsizing(uow, _query(), threshold=0.5, headroom=0.2)
    assert {(a["task"], a["resource"]) for a in over} == {("t", "memory_bytes")}
    assert killed == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"group_by": ["colour"]}, "group_by"),
        ({"until": "2026-11-01T00:00:00"}, "until"),
        ({"time": "fortnight"}, "time"),
        ({"labels": ["nokey"]}, "label"),
    ],
)
def test_bad_queries_name_their_parameter(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _query(**kwargs)
    assert caught.value.details[0]["field"] == field


def test_page_size_over_the_limit() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_page_size(5000)
    assert caught.value.details[0]["field"] == "page_size"


async def test_an_event_twice_in_one_batch_counts_once() -> None:
    uow = FakeMetricsUoWFactory()
    events = _events("p", "x1", "wf", fail_first=False)
    assert await apply_events(uow, events + events) == len(events)
    (row,) = (await summarize(uow, PRICES, _query())).rows
    assert (row["executions"], row["attempts"], row["cache_hits"]) == (1, 1, 1)
