"""What a service sends on its own calls to the other services: its service-account token."""

from __future__ import annotations

from shared.settings import ServiceSettings


def service_headers(settings: ServiceSettings) -> dict[str, str]:
    """``Authorization: Bearer <CONTRAIL_SERVICE_TOKEN>``, or nothing when the service has none."""
    if settings.service_token is None:
        return {}
    return {"Authorization": f"Bearer {settings.service_token.get_secret_value()}"}
