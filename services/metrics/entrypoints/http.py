"""The metrics service's HTTP app: the usage API, and ingest started with the runtime."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.metrics.bootstrap import bootstrap
from services.metrics.entrypoints.consumer import start_ingest
from services.metrics.entrypoints.routes_usage import router as usage_router
from shared.service import create_service_app
from shared.service.app import ServiceRuntime
from shared.settings import MetricsSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    config = settings

    def wire(runtime: ServiceRuntime) -> None:
        # Its routes and subscribers find the wired use cases on the app.
        app.state.metrics = bootstrap(runtime, settings=config)
        start_ingest(runtime, config, app.state.metrics)

    app = create_service_app(
        settings,
        title="Contrail metrics",
        description="Resource accounting per task attempt; summaries by project, workflow, day.",
        migrations_dir=MIGRATIONS,
        routers=[usage_router],
        register_subscribers=wire,
    )
    return app
