"""Run a service's HTTP app with uvicorn: JSON logs, graceful SIGTERM."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from shared.settings import ServiceSettings
from shared.telemetry import configure_logging


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def run_service(settings: ServiceSettings, app: FastAPI) -> None:
    """Serve until SIGTERM or SIGINT, then drain requests, run shutdown and exit 0."""
    configure_logging(settings.service_name, settings.log_level)
    # uvicorn shuts down gracefully, then re-raises the signal it caught; this
    # handler turns that into a clean exit instead of death by SIGTERM.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
