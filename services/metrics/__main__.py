"""`python -m services.metrics`: serve the metrics API."""

from services.metrics.entrypoints.http import build_app
from shared.service import run_service
from shared.settings import MetricsSettings

if __name__ == "__main__":
    settings = MetricsSettings()
    run_service(settings, build_app(settings))
