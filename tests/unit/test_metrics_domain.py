"""The metrics domain: the sketch's error bound, records, roll-ups, cost, right-sizing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.domain.pricing import GB, Price, PriceTable
from services.metrics.domain.records import (
    AttemptRecord,
    CacheHit,
    ExecutionRecord,
    Rollup,
    add_up,
    fold,
)
from services.metrics.domain.rightsizing import advise
from services.metrics.domain.sketch import RELATIVE_ACCURACY, Sketch, exact_quantile
from services.metrics.domain.summary import measures
from shared.events.catalogue import (
    ErrorKind,
    ExecutionError,
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

T0 = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
EXECUTION = ExecutionIdentifier(project="p", domain="d", name="x1")
WORKFLOW = Identifier(
    resource_type=ResourceType.WORKFLOW, project="p", domain="d", name="wf", version="v1"
)
TASK = Identifier(resource_type=ResourceType.TASK, project="p", domain="d", name="t", version="v1")


def _distributions() -> dict[str, list[float]]:
    rng = random.Random(7)
    return {
        "uniform": [rng.uniform(0.01, 100) for _ in range(20_000)],
        "exponential": [rng.expovariate(0.3) for _ in range(20_000)],
        "lognormal": [rng.lognormvariate(2, 1.5) for _ in range(20_000)],
        "pareto": [rng.paretovariate(1.2) for _ in range(20_000)],
        "bimodal": [rng.gauss(1, 0.05) if i % 3 else rng.gauss(600, 30) for i in range(9_000)],
        "few": [3.0, 1.0, 2.0],
        "constant": [42.0] * 1000,
    }


@pytest.mark.parametrize("name", list(_distributions()))
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_sketch_quantiles_are_within_one_percent_of_exact(name: str, q: float) -> None:
    values = [abs(v) for v in _distributions()[name]]
    exact = exact_quantile(values, q)
    estimate = Sketch.of(values).quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact, (name, q, estimate, exact)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_merged_sketches_answer_as_one_sketch_of_all_values(q: float) -> None:
    rng = random.Random(11)
    parts = [[rng.lognormvariate(i, 1) for _ in range(3000)] for i in range(5)]
    merged = Sketch()
    for part in parts:
        merged.merge(Sketch.of(part))
    everything = [v for part in parts for v in part]
    assert merged.counts == Sketch.of(everything).counts
    exact = exact_quantile(everything, q)
    estimate = merged.quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact


def test_sketch_keeps_zeros_and_is_empty_without_values() -> None:
    assert Sketch().quantile(0.5) is None
    assert Sketch.of([0.0, 0.0, 5.0]).quantile(0.5) == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        Sketch.of([1.0]).quantile(1.5)


def _attempt(
    attempt: int = 1,
    phase: TaskAttemptPhase = TaskAttemptPhase.SUCCEEDED,
    *,
    error: ExecutionError | None = None,
    cpu: float | None = 2.0,
    memory: int | None = 4 * GB,
) -> CloudEvent[TaskAttemptPhaseChanged]:
    return CloudEvent.wrap(
        TaskAttemptPhaseChanged(
            execution=EXECUTION,
            workflow=WORKFLOW,
            labels={"team": "a"},
            seq=3,
            node_id="n0",
            task=TASK,
            attempt=attempt,
            phase=phase,
            worker_id="w1",
            error=error,
            resources_requested=Resources(requests=ResourceSpec(cpu=cpu, memory_bytes=memory)),
            resources_used=ResourceUsage(
                cpu_seconds=360.0, peak_memory_bytes=GB, wall_seconds=3600.0
            ),
            started_at=T0,
            ended_at=T0 + timedelta(hours=1),
        ),
        source="/contrail/launcher",
    )


def test_a_terminal_attempt_is_recorded_with_what_it_used_and_reserved() -> None:
    record = fold(_attempt())
    assert isinstance(record, AttemptRecord)
    assert (record.project, record.workflow, record.task, record.worker) == ("p", "wf", "t", "w1")
    assert record.cpu_reserved_seconds == 2.0 * 3600
    assert record.memory_reserved_byte_seconds == 4 * GB * 3600
    key, rollup = record.rollup()
    assert key.hour == datetime(2026, 12, 1, 11, tzinfo=UTC)
    assert key.labels == '{"team":"a"}'
    assert (rollup.attempts, rollup.attempts_succeeded, rollup.retries, rollup.first_attempts) == (
        1,
        1,
        0,
        1,
    )
    row = measures(rollup, 0.0)
    assert row["cpu_hours"] == pytest.approx(0.1)
    assert row["cpu_hours_reserved"] == pytest.approx(2.0)
    assert row["cpu_efficiency"] == pytest.approx(0.05)
    assert row["memory_gb_hours"] == pytest.approx(1.0)
    assert row["memory_gb_hours_reserved"] == pytest.approx(4.0)
    assert row["memory_efficiency"] == pytest.approx(0.25)


def test_without_requests_reserved_is_what_was_used() -> None:
    record = fold(_attempt(cpu=None, memory=None))
    assert isinstance(record, AttemptRecord)
    assert record.cpu_reserved_seconds == record.cpu_seconds
    assert record.memory_reserved_byte_seconds == record.memory_byte_seconds


def test_a_running_attempt_adds_nothing_and_a_retry_an_oom_kill_count() -> None:
    assert fold(_attempt(phase=TaskAttemptPhase.RUNNING)) is None
    oom = ExecutionError(kind=ErrorKind.USER, code="OOMKilled", message="out of memory")
    record = fold(_attempt(2, TaskAttemptPhase.FAILED, error=oom))
    assert isinstance(record, AttemptRecord)
    assert record.oom_killed
    _, rollup = record.rollup()
    assert (rollup.retries, rollup.attempts_failed, rollup.oom_kills) == (1, 1, 1)


def test_executions_and_cache_hits() -> None:
    ended = CloudEvent.wrap(
        ExecutionPhaseChanged(
            execution=EXECUTION,
            workflow=WORKFLOW,
            seq=9,
            phase=ExecutionPhase.FAILED,
            started_at=T0,
            ended_at=T0 + timedelta(seconds=30),
            duration_seconds=30.0,
        ),
        source="/contrail/launcher",
    )
    record = fold(ended)
    assert isinstance(record, ExecutionRecord)
    assert record.terminal
    _, rollup = record.rollup()
    assert (rollup.executions, rollup.failed, rollup.succeeded) == (1, 1, 0)
    assert measures(rollup, 0.0)["execution_duration_p50"] == pytest.approx(30.0, rel=0.01)
    hit = CloudEvent.wrap(
        NodePhaseChanged(
            execution=EXECUTION, seq=4, node_id="n1", phase=NodePhase.SUCCEEDED, cache_hit=True
        ),
        source="/contrail/launcher",
    )
    assert isinstance(fold(hit), CacheHit)


def test_increments_add_up_per_key() -> None:
    first, second = fold(_attempt(1)), fold(_attempt(2))
    assert isinstance(first, AttemptRecord)
    assert isinstance(second, AttemptRecord)
    rows = add_up([first.rollup(), second.rollup()])
    assert len(rows) == 1
    (rollup,) = rows.values()
    assert (rollup.attempts, rollup.retries, rollup.wall_seconds) == (2, 1, 7200.0)
    assert rollup.task_durations.count == 2
    assert measures(rollup, 0.0)["cache_hit_rate"] == 0.0


def test_cost_uses_the_most_specific_price() -> None:
    table = PriceTable(
        Price(cpu_hour=0.04, gb_hour=0.005),
        "EUR",
        {"p": Price(1.0, 0.0), "p/prod": Price(2.0, 1.0)},
    )
    rollup = Rollup(cpu_reserved_seconds=7200.0, memory_reserved_byte_seconds=3600.0 * GB)
    assert table.cost("q", "d", rollup) == pytest.approx(2 * 0.04 + 0.005)
    assert table.cost("p", "d", rollup) == pytest.approx(2.0)
    assert table.cost("p", "prod", rollup) == pytest.approx(5.0)
    assert table.describe()["currency"] == "EUR"


def test_rightsizing_flags_requests_far_above_the_p95() -> None:
    rollup = Rollup(attempts=100, requested_memory_max=8 * GB, requested_cpu_max=4.0)
    for i in range(100):
        rollup.peak_memory.add(float(GB + i * 1000))
        rollup.cpu_cores.add(3.5)
    advice = {a.resource: a for a in advise(rollup)}
    assert set(advice) == {"memory_bytes"}
    memory = advice["memory_bytes"]
    assert memory.observed_p95 == pytest.approx(GB, rel=0.01)
    assert GB * 1.2 <= memory.suggested < 8 * GB
