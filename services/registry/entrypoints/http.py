"""The registry's HTTP app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import RegistrySettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    return create_service_app(
        settings,
        title="Contrail registry",
        description="Tasks, workflows and launch plans, compiled and immutable; the data proxy.",
        migrations_dir=MIGRATIONS,
    )
