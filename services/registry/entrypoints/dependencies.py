"""What the registry's endpoints take from the running service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.registry.adapters.bundles import BundleStore
from services.registry.bootstrap import RegistryServices
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.service import ServiceRuntime
from shared.settings import RegistrySettings


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _services(request: Request) -> RegistryServices:
    """The registry as ``bootstrap`` wired it when the runtime started."""
    services: RegistryServices = request.app.state.registry
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
