"""Estimated cost from a price table: per CPU-hour and GB-hour, overridable per project or domain.

Cost is charged on what was reserved (requested CPU and memory times the wall
time; what was used when a task requests nothing), as a cluster bills a pod's
requests. One GB is 2^30 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.metrics.domain.records import Rollup

GB = 2**30
HOUR = 3600.0


@dataclass(frozen=True)
class Price:
    cpu_hour: float
    gb_hour: float


@dataclass(frozen=True)
class PriceTable:
    """The default price, and overrides keyed ``project`` or ``project/domain`` (which wins)."""

    default: Price
    currency: str = "USD"
    overrides: Mapping[str, Price] = field(default_factory=dict)

    def price(self, project: str, domain: str) -> Price:
        return (
            self.overrides.get(f"{project}/{domain}") or self.overrides.get(project) or self.default
        )

    def cost(self, project: str, domain: str, rollup: Rollup) -> float:
        price = self.price(project, domain)
        return (
            cpu_hours_reserved(rollup) * price.cpu_hour + gb_hours_reserved(rollup) * price.gb_hour
        )

    def describe(self) -> dict[str, object]:
        """The prices as the API states them next to a cost."""
        return {
            "currency": self.currency,
            "cpu_hour": self.default.cpu_hour,
            "gb_hour": self.default.gb_hour,
            "overrides": {
                key: {"cpu_hour": p.cpu_hour, "gb_hour": p.gb_hour}
                for key, p in sorted(self.overrides.items())
            },
        }


def cpu_hours(rollup: Rollup) -> float:
    return rollup.cpu_seconds / HOUR


def cpu_hours_reserved(rollup: Rollup) -> float:
    return rollup.cpu_reserved_seconds / HOUR


def gb_hours(rollup: Rollup) -> float:
    return rollup.memory_byte_seconds / GB / HOUR


def gb_hours_reserved(rollup: Rollup) -> float:
    return rollup.memory_reserved_byte_seconds / GB / HOUR
