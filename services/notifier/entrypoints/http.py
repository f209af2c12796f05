"""The notifier's HTTP app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notifier.bootstrap import bootstrap
from shared.service import create_service_app
from shared.service.app import ServiceRuntime
from shared.settings import NotifierSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()

    def wire(runtime: ServiceRuntime) -> None:
        # Its routes and subscribers find the wired use cases on the app.
        app.state.notifier = bootstrap(runtime)

    app = create_service_app(
        settings,
        title="Contrail notifier",
        description="Notification rules and their deliveries: email, Slack, Teams, webhooks.",
        migrations_dir=MIGRATIONS,
        register_subscribers=wire,
    )
    return app
