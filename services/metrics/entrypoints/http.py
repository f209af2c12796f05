"""The metrics service's HTTP app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.metrics.bootstrap import bootstrap
from shared.service import create_service_app
from shared.service.app import ServiceRuntime
from shared.settings import MetricsSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()

    def wire(runtime: ServiceRuntime) -> None:
        # Its routes and subscribers find the wired use cases on the app.
        app.state.metrics = bootstrap(runtime)

    app = create_service_app(
        settings,
        title="Contrail metrics",
        description="Resource accounting per task attempt; summaries by project, workflow, day.",
        migrations_dir=MIGRATIONS,
        register_subscribers=wire,
    )
    return app
