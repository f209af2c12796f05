"""What the registry's endpoints take from the running service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.registry.adapters.bundles import BundleStore
from services.registry.bootstrap import RegistryServices, bootstrap
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.service import ServiceRuntime
from shared.settings import RegistrySettings


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _services(request: Request) -> RegistryServices:
    """The registry wired to the runtime's adapters, once per app."""
    services: RegistryServices | None = getattr(request.app.state, "registry", None)
    if services is None:
        services = bootstrap(_runtime(request))
        request.app.state.registry = services
    return services


def _uow_factory(request: Request) -> RegistryUoWFactory:
    return _services(request).uow_factory


def _settings(request: Request) -> RegistrySettings:
    settings = _runtime(request).settings
    assert isinstance(settings, RegistrySettings), "the registry runs with RegistrySettings"
    return settings


def _bundles(request: Request) -> BundleStore:
    bundles = _services(request).bundles
    assert bundles is not None, "the running registry has a bucket"
    return bundles


UoWFactory = Annotated[RegistryUoWFactory, Depends(_uow_factory)]
Settings = Annotated[RegistrySettings, Depends(_settings)]
Bundles = Annotated[BundleStore, Depends(_bundles)]
