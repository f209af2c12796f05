"""The registry's HTTP app."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI

from services.registry.adapters.auth import PostgresAuthStore
from services.registry.bootstrap import bootstrap
from services.registry.entrypoints import audit, auth, data_proxy, entities, projects
from services.registry.entrypoints.openapi import document_request_models
from services.registry.entrypoints.representations import (
    LaunchPlanRegistration,
    TaskRegistration,
    WorkflowRegistration,
)
from shared.service import create_service_app
from shared.service.app import ServiceRuntime
from shared.settings import RegistrySettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()

    def wire(runtime: ServiceRuntime) -> None:
        # The routes find the wired use cases on the app (entrypoints/dependencies.py).
        app.state.registry = bootstrap(runtime)
        # The registry checks credentials itself; the other services ask its whoami.
        app.state.auth_store = PostgresAuthStore(runtime.pool)
        app.state.authenticator = auth.local_authenticator(app.state.auth_store, settings)
        audit.start_audit_consumer(runtime, runtime.settings, app.state.registry)

    app = create_service_app(
        settings,
        title="Contrail registry",
        description="Tasks, workflows and launch plans, compiled and immutable; the data proxy.",
        migrations_dir=MIGRATIONS,
        routers=[projects.router, *entities.ROUTERS, data_proxy.router, audit.router, auth.router],
        register_subscribers=wire,
    )
    document_request_models(app, [TaskRegistration, WorkflowRegistration, LaunchPlanRegistration])
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Leave the objects of start-up (modules, models, the app) out of garbage collection.

    They live as long as the process; without this every full collection walks
    them all (~100k objects), a pause of tens of milliseconds in the middle of
    a registration.
    """
    gc.collect()
    gc.freeze()
