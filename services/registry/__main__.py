"""`python -m services.registry`: serve the registry API."""

from services.registry.entrypoints.http import build_app
from shared.service import run_service
from shared.settings import RegistrySettings

if __name__ == "__main__":
    settings = RegistrySettings()
    run_service(settings, build_app(settings))
