"""`python -m services.launcher`: serve the launcher API."""

from services.launcher.entrypoints.http import build_app
from shared.service import run_service
from shared.settings import LauncherSettings

if __name__ == "__main__":
    settings = LauncherSettings()
    run_service(settings, build_app(settings))
