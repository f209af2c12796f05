"""Wires the launcher's service layer (engine, launcher, scheduler) to its adapters.

The service runs on PostgreSQL, S3 and the registry's API
(``bootstrap(settings, runtime)``, called by its entrypoints when the runtime
starts); unit tests pass in-memory fakes (``bootstrap(settings, uow_factory=...)``).
"""

from __future__ import annotations

import asyncio

import asyncpg

from services.launcher.adapters.executions import ExecutionCaches
from services.launcher.adapters.registry import RegistryClient
from services.launcher.adapters.unit_of_work import postgres_uow_factory
from services.launcher.domain import MachineSettings
from services.launcher.service_layer.engine import Engine
from services.launcher.service_layer.launch import Launcher
from services.launcher.service_layer.unit_of_work import LauncherUoWFactory
from shared.auth.service_token import service_headers
from shared.s3 import ObjectStore
from shared.service.app import ServiceRuntime
from shared.settings import LauncherSettings
from shared.specs import WorkflowClosure


class LauncherServices:
    """The launcher's service layer, wired: what its entrypoints share."""

    def __init__(
        self,
        settings: LauncherSettings,
        uow_factory: LauncherUoWFactory,
        registry: RegistryClient,
        *,
        runtime: ServiceRuntime | None = None,
        caches: ExecutionCaches | None = None,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.registry = registry
        self._runtime = runtime
        self._caches = caches
        self.engine = Engine(
            uow_factory,
            MachineSettings(system_retries=settings.engine_system_retries),
            store=runtime.store if runtime is not None else None,
            inline_inputs_bytes=settings.engine_inline_inputs_bytes,
        )
        self.launcher = Launcher(self.engine, registry, max_inputs_bytes=settings.max_inputs_bytes)
        self.background: list[asyncio.Task[None]] = []

    @property
    def runtime(self) -> ServiceRuntime:
        if self._runtime is None:
            raise RuntimeError("the launcher runs without a runtime (wired with fakes)")
        return self._runtime

    @property
    def pool(self) -> asyncpg.Pool:
        """For the read side (``adapters.execution_queries``)."""
        return self.runtime.pool

    @property
    def store(self) -> ObjectStore:
        return self.runtime.store

    async def closure(self, digest: str) -> WorkflowClosure:
        """A stored closure by digest (one object per digest in this process)."""
        cached = self._caches.closures.get(digest) if self._caches is not None else None
        if cached is not None:
            return cached
        async with self.uow_factory(atomic=False) as uow:
            return await uow.executions.closure(digest)


def bootstrap(
    settings: LauncherSettings,
    runtime: ServiceRuntime | None = None,
    *,
    uow_factory: LauncherUoWFactory | None = None,
    registry: RegistryClient | None = None,
) -> LauncherServices:
    """The launcher on ``runtime``'s pool and bucket, or on the adapters given."""
    caches: ExecutionCaches | None = None
    if uow_factory is None:
        if runtime is None:
            raise ValueError("bootstrap needs a runtime or a unit of work factory")
        caches = ExecutionCaches()
        uow_factory = postgres_uow_factory(runtime.pool, caches)
    if registry is None:
        registry = RegistryClient(settings.registry_base_url, headers=service_headers(settings))
    return LauncherServices(settings, uow_factory, registry, runtime=runtime, caches=caches)
