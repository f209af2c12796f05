"""What the launcher's entrypoints share: the engine, the launcher, the registry client."""

from __future__ import annotations

import asyncio

import asyncpg

from services.launcher.adapters.executions import ExecutionRepository
from services.launcher.adapters.registry import RegistryClient
from services.launcher.domain import MachineSettings
from services.launcher.service_layer.engine import Engine
from services.launcher.service_layer.launch import Launcher
from shared.s3 import ObjectStore
from shared.service.app import ServiceRuntime
from shared.settings import LauncherSettings
from shared.specs import WorkflowClosure


class LauncherServices:
    """Built with the app; connected to PostgreSQL and S3 once the runtime starts."""

    def __init__(self, settings: LauncherSettings) -> None:
        self.settings = settings
        self.repository = ExecutionRepository()
        self.engine = Engine(
            self.repository,
            MachineSettings(system_retries=settings.engine_system_retries),
            inline_inputs_bytes=settings.engine_inline_inputs_bytes,
        )
        self.registry = RegistryClient(settings.registry_base_url)
        self.launcher = Launcher(
            self.engine, self.registry, max_inputs_bytes=settings.max_inputs_bytes
        )
        self._runtime: ServiceRuntime | None = None
        self.background: list[asyncio.Task[None]] = []

    def bind(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime
        self.engine.bind(runtime.pool, runtime.store)

    @property
    def runtime(self) -> ServiceRuntime:
        if self._runtime is None:
            raise RuntimeError("the launcher's runtime has not started")
        return self._runtime

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    @property
    def store(self) -> ObjectStore:
        return self.runtime.store

    async def closure(self, digest: str) -> WorkflowClosure:
        """A stored closure by digest (one object per digest in this process)."""
        found = self.repository.closures.get(digest)
        if found is not None:
            return found
        text = await self.pool.fetchval("SELECT closure FROM closures WHERE digest = $1", digest)
        return self.repository.closures.put(digest, WorkflowClosure.model_validate_json(text))
