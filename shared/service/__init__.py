"""What every Contrail service shares: its runtime, HTTP app, errors and runner."""

from shared.errors import ServiceError
from shared.service.app import ServiceRuntime, create_service_app
from shared.service.runner import run_service

__all__ = ["ServiceError", "ServiceRuntime", "create_service_app", "run_service"]
