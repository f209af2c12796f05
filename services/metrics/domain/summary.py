"""The measures of a summary row, from a merged roll-up and its cost."""

from __future__ import annotations

from typing import Any

from services.metrics.domain.pricing import (
    HOUR,
    cpu_hours,
    cpu_hours_reserved,
    gb_hours,
    gb_hours_reserved,
)
from services.metrics.domain.records import Rollup

DIMENSIONS = ("project", "domain", "workflow", "launch_plan", "task", "phase", "worker")
"""What a summary may group by, besides time."""
GRAINS = ("hour", "day", "week")
"""The time buckets a summary may group by."""
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def measures(rollup: Rollup, cost: float) -> dict[str, Any]:
    """Every measure of one summary row."""
    row: dict[str, Any] = {
        "executions": rollup.executions,
        "succeeded": rollup.succeeded,
        "failed": rollup.failed,
        "failure_rate": _ratio(rollup.failed, rollup.executions),
        "attempts": rollup.attempts,
        "attempts_succeeded": rollup.attempts_succeeded,
        "attempts_failed": rollup.attempts_failed,
        "attempt_failure_rate": _ratio(rollup.attempts_failed, rollup.attempts),
        "retries": rollup.retries,
        "cache_hits": rollup.cache_hits,
        "cache_hit_rate": _ratio(rollup.cache_hits, rollup.cache_hits + rollup.first_attempts),
        "oom_kills": rollup.oom_kills,
        "wall_hours": rollup.wall_seconds / HOUR,
        "cpu_hours": cpu_hours(rollup),
        "cpu_hours_reserved": cpu_hours_reserved(rollup),
        "cpu_efficiency": _ratio(rollup.cpu_seconds, rollup.cpu_reserved_seconds),
        "memory_gb_hours": gb_hours(rollup),
        "memory_gb_hours_reserved": gb_hours_reserved(rollup),
        "memory_efficiency": _ratio(
            rollup.memory_byte_seconds, rollup.memory_reserved_byte_seconds
        ),
        "cost": cost,
    }
    for name, q in QUANTILES.items():
        row[f"execution_duration_{name}"] = rollup.execution_durations.quantile(q)
    for name, q in QUANTILES.items():
        row[f"task_duration_{name}"] = rollup.task_durations.quantile(q)
    return row
