"""Wires the notifier service's use cases to its adapters.

The service runs on PostgreSQL, the registry's API and apprise
(``bootstrap(settings, runtime)``, called by its entrypoints when the runtime
starts); unit tests pass in-memory fakes (``bootstrap(settings, uow_factory=...,
launch_plans=..., channels=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifier.adapters.channels import AppriseChannels
from services.notifier.adapters.registry import RegistryLaunchPlans
from services.notifier.adapters.unit_of_work import postgres_uow_factory
from services.notifier.service_layer.notify import Notifier
from services.notifier.service_layer.ports import Channels, LaunchPlans
from services.notifier.service_layer.unit_of_work import NotifierUoWFactory
from shared.auth.service_token import service_headers
from shared.retry import Backoff
from shared.service.app import ServiceRuntime
from shared.settings import NotifierSettings


@dataclass(frozen=True)
class NotifierServices:
    """What the notifier service's entrypoints take."""

    settings: NotifierSettings
    uow_factory: NotifierUoWFactory
    notifier: Notifier
    launch_plans: LaunchPlans
    channels: Channels


def bootstrap(
    settings: NotifierSettings | None = None,
    runtime: ServiceRuntime | None = None,
    *,
    uow_factory: NotifierUoWFactory | None = None,
    launch_plans: LaunchPlans | None = None,
    channels: Channels | None = None,
) -> NotifierServices:
    """The notifier service on ``runtime``'s pool, or on the fakes given."""
    settings = settings or NotifierSettings()
    if uow_factory is None:
        if runtime is None:
            raise ValueError("bootstrap needs a runtime or a unit of work factory")
        uow_factory = postgres_uow_factory(runtime.pool)
    launch_plans = launch_plans or RegistryLaunchPlans(
        settings.registry_base_url, headers=service_headers(settings)
    )
    channels = channels or AppriseChannels(settings)
    notifier = Notifier(
        uow_factory,
        launch_plans,
        channels,
        console_base_url=settings.console_base_url,
        max_attempts=settings.notifier_max_attempts,
        backoff=Backoff(
            first=settings.notifier_retry_first_seconds,
            cap=max(settings.notifier_retry_cap_seconds, settings.notifier_retry_first_seconds),
        ),
        lease_seconds=settings.notifier_lease_seconds,
        concurrency=settings.notifier_send_concurrency,
    )
    return NotifierServices(settings, uow_factory, notifier, launch_plans, channels)
