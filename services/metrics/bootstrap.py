"""Wires the metrics service's use cases to its adapters.

The service runs on PostgreSQL (``bootstrap(runtime)``, called by its
entrypoints when the runtime starts); unit tests pass in-memory fakes
(``bootstrap(uow_factory=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.metrics.adapters.unit_of_work import postgres_uow_factory
from services.metrics.domain.pricing import Price, PriceTable
from services.metrics.service_layer.unit_of_work import MetricsUoWFactory
from shared.service.app import ServiceRuntime
from shared.settings import MetricsSettings


def price_table(settings: MetricsSettings) -> PriceTable:
    """The price table of the settings (``CONTRAIL_USAGE_PRICE_*``)."""
    return PriceTable(
        Price(settings.usage_price_cpu_hour, settings.usage_price_gb_hour),
        settings.usage_currency,
        {
            key: Price(
                prices.get("cpu_hour", settings.usage_price_cpu_hour),
                prices.get("gb_hour", settings.usage_price_gb_hour),
            )
            for key, prices in settings.usage_price_overrides.items()
        },
    )


@dataclass(frozen=True)
class MetricsServices:
    """What the metrics service's use cases take: a unit of work per use, and the prices."""

    uow_factory: MetricsUoWFactory
    prices: PriceTable = field(default_factory=lambda: price_table(MetricsSettings()))


def bootstrap(
    runtime: ServiceRuntime | None = None,
    *,
    uow_factory: MetricsUoWFactory | None = None,
    settings: MetricsSettings | None = None,
) -> MetricsServices:
    """The metrics service on ``runtime``'s pool, or on the unit of work factory given."""
    if uow_factory is None:
        if runtime is None:
            raise ValueError("bootstrap needs a runtime or a unit of work factory")
        uow_factory = postgres_uow_factory(runtime.pool)
    return MetricsServices(uow_factory, price_table(settings or MetricsSettings()))
