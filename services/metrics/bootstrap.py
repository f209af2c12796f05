"""Wires the metrics service's use cases to its adapters.

The service runs on PostgreSQL (``bootstrap(runtime)``, called by its
entrypoints when the runtime starts); unit tests pass in-memory fakes
(``bootstrap(uow_factory=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.service_layer.unit_of_work import MetricsUoWFactory
from shared.service.app import ServiceRuntime


@dataclass(frozen=True)
class MetricsServices:
    """What the metrics service's use cases take: a unit of work per use."""

    uow_factory: MetricsUoWFactory


def bootstrap(
    runtime: ServiceRuntime | None = None, *, uow_factory: MetricsUoWFactory | None = None
) -> MetricsServices:
    """The metrics service on ``runtime``'s pool, or on the unit of work factory given."""
    if uow_factory is None:
        if runtime is None:
            raise ValueError("bootstrap needs a runtime or a unit of work factory")
        uow_factory = postgres_uow_factory(runtime.pool)
    return MetricsServices(uow_factory)
