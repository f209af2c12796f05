"""Launch plans' notifications, read from the registry's HTTP API (immutable: cached)."""

from __future__ import annotations

import httpx

from shared.identifiers import Identifier
from shared.specs import LaunchPlanSpec, Notification


class RegistryUnavailable(ConnectionError):
    """The registry did not answer (transient: the consumer retries the batch)."""


class RegistryLaunchPlans:
    def __init__(
        self, base_url: str, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)
        self._cache: dict[Identifier, list[Notification]] = {}

    async def close(self) -> None:
        await self._client.aclose()

    def known(self, identifier: Identifier) -> bool:
        return identifier in self._cache

    async def notifications(self, launch_plan: Identifier) -> list[Notification]:
        cached = self._cache.get(launch_plan)
        if cached is not None:
            return cached
        i = launch_plan
        try:
            response = await self._client.get(
                f"/api/v1/launch_plans/{i.project}/{i.domain}/{i.name}/{i.version}"
            )
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"the registry is unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            found: list[Notification] = []  # gone or never registered: nothing to notify
        elif response.status_code in (401, 403):
            raise RegistryUnavailable(
                f"the registry refused the notifier's credential ({response.status_code}): "
                "CONTRAIL_SERVICE_TOKEN must be a token with viewer on the project (or on *)"
            )
        elif response.status_code >= 500:
            raise RegistryUnavailable(f"the registry answered {response.status_code}")
        else:
            response.raise_for_status()
            body = response.json()
            spec = LaunchPlanSpec.model_validate(body.get("spec", body))
            found = list(spec.notifications)
        self._cache[launch_plan] = found
        return found
