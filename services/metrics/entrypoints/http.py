"""The metrics's HTTP app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import MetricsSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    return create_service_app(
        settings,
        title="Contrail metrics",
        description="Resource accounting per task attempt; summaries by project, workflow, day.",
        migrations_dir=MIGRATIONS,
    )
