"""The registry's HTTP app."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.registry.entrypoints import data_proxy, entities, projects
from services.registry.entrypoints.bodies import UnsupportedMediaType
from services.registry.entrypoints.openapi import document_request_models
from services.registry.entrypoints.representations import (
    LaunchPlanRegistration,
    TaskRegistration,
    WorkflowRegistration,
)
from services.registry.service_layer.errors import (
    CompileRejected,
    Conflict,
    InvalidIdentifier,
    InvalidRequest,
    NotFound,
    RegistryError,
    TooLarge,
)
from shared.service import create_service_app
from shared.service.errors import error_body
from shared.settings import RegistrySettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

STATUS: dict[type[RegistryError], int] = {
    InvalidRequest: 400,
    InvalidIdentifier: 400,
    CompileRejected: 400,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
}


async def _registry_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    status = next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 400)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status)


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    app = create_service_app(
        settings,
        title="Contrail registry",
        description="Tasks, workflows and launch plans, compiled and immutable; the data proxy.",
        migrations_dir=MIGRATIONS,
        routers=[projects.router, *entities.ROUTERS, data_proxy.router],
    )
    app.add_exception_handler(RegistryError, _registry_error)
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
