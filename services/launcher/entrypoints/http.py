"""The launcher's HTTP app: the executions API, with the engine's consumers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.launcher.bootstrap import bootstrap
from services.launcher.entrypoints.console import login_router
from services.launcher.entrypoints.console import router as console_router
from services.launcher.entrypoints.engine import register_engine
from services.launcher.entrypoints.routes_executions import router as executions_router
from services.launcher.entrypoints.scheduler import register_scheduler
from shared.service import create_service_app
from shared.service.app import ServiceRuntime
from shared.settings import LauncherSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: LauncherSettings | None = None) -> FastAPI:
    settings = settings or LauncherSettings()

    def register(runtime: ServiceRuntime) -> None:
        # Wired once the runtime holds its connections; the routes find it on the app.
        svc = bootstrap(settings, runtime)
        app.state.launcher = svc
        register_engine(runtime, svc)
        register_scheduler(runtime, svc)

    app = create_service_app(
        settings,
        title="Contrail launcher",
        description="Executions: launch, the engine that drives them, the scheduler.",
        migrations_dir=MIGRATIONS,
        routers=[executions_router, console_router],
        register_subscribers=register,
    )
    app.include_router(login_router)  # without a credential: it is how a browser gets one
    return app
