"""Wires the registry's service layer to its adapters.

The service runs on PostgreSQL and S3 (``bootstrap(runtime)``, called by its
entrypoints); unit tests pass in-memory fakes (``bootstrap(uow_factory=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.registry.adapters.bundles import BundleStore
from services.registry.adapters.unit_of_work import postgres_uow_factory
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.sealing import SecretBox
from shared.service.app import ServiceRuntime
from shared.settings import RegistrySettings


@dataclass(frozen=True)
class RegistryServices:
    """What the registry's use cases take: a unit of work per use, and the bundle store."""

    uow_factory: RegistryUoWFactory
    bundles: BundleStore | None = None


def bootstrap(
    runtime: ServiceRuntime | None = None,
    *,
    uow_factory: RegistryUoWFactory | None = None,
    bundles: BundleStore | None = None,
) -> RegistryServices:
    """The registry on ``runtime``'s pool and bucket, or on the adapters given."""
    if uow_factory is None:
        if runtime is None:
            raise ValueError("bootstrap needs a runtime or a unit of work factory")
        uow_factory = postgres_uow_factory(runtime.pool)
    if bundles is None and runtime is not None:
        bundles = BundleStore(runtime.store)
    if runtime is not None and isinstance(runtime.settings, RegistrySettings):
        # A malformed CONTRAIL_SECRETS_KEY stops the start, not a later registration.
        SecretBox.from_setting(runtime.settings.secrets_key)
    return RegistryServices(uow_factory, bundles)
