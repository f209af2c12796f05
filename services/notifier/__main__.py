"""`python -m services.notifier`: serve the notifier API."""

from services.notifier.entrypoints.http import build_app
from shared.service import run_service
from shared.settings import NotifierSettings

if __name__ == "__main__":
    settings = NotifierSettings()
    run_service(settings, build_app(settings))
