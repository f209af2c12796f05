"""The launcher's HTTP app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import LauncherSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: LauncherSettings | None = None) -> FastAPI:
    settings = settings or LauncherSettings()
    return create_service_app(
        settings,
        title="Contrail launcher",
        description="Executions: launch, the engine that drives them, the scheduler.",
        migrations_dir=MIGRATIONS,
    )
