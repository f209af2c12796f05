"""What the registry's endpoints take from the running service."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.registry.adapters.bundles import BundleStore
from shared.service import ServiceRuntime
from shared.settings import RegistrySettings


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _pool(request: Request) -> asyncpg.Pool:
    return _runtime(request).pool


def _settings(request: Request) -> RegistrySettings:
    settings = _runtime(request).settings
    assert isinstance(settings, RegistrySettings), "the registry runs with RegistrySettings"
    return settings


def _bundles(request: Request) -> BundleStore:
    return BundleStore(_runtime(request).store)


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Settings = Annotated[RegistrySettings, Depends(_settings)]
Bundles = Annotated[BundleStore, Depends(_bundles)]
