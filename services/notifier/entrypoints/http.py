"""The notifier's HTTP app: subscriptions and deliveries, with its consumers and sender."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notifier.bootstrap import bootstrap
from services.notifier.entrypoints.consumer import register_notifier
from services.notifier.entrypoints.routes import deliveries, subscriptions
from shared.service import create_service_app
from shared.service.app import ServiceRuntime
from shared.settings import NotifierSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()

    def wire(runtime: ServiceRuntime) -> None:
        # Its routes and subscribers find the wired use cases on the app.
        svc = bootstrap(settings, runtime)
        app.state.notifier = svc
        register_notifier(runtime, svc)

    app = create_service_app(
        settings,
        title="Contrail notifier",
        description="Notification rules and their deliveries: email, Slack, Teams, "
        "PagerDuty, webhooks.",
        migrations_dir=MIGRATIONS,
        routers=[subscriptions, deliveries],
        register_subscribers=wire,
    )
    return app
