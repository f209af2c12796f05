"""The registry, over its HTTP API: launch plans, workflows (with closures) and tasks.

Registered entities are immutable, so everything fetched by full identifier is
kept in memory for the life of the process; only "the newest version" asks
the registry each time.
"""

from __future__ import annotations

from typing import Any

import httpx

from shared.errors import ServiceError
from shared.identifiers import Identifier, ResourceType
from shared.specs import CompiledTask, LaunchPlanSpec, TaskSpec, WorkflowClosure

_PATHS = {
    ResourceType.TASK: "tasks",
    ResourceType.WORKFLOW: "workflows",
    ResourceType.LAUNCH_PLAN: "launch_plans",
}


class EntityNotFound(LookupError):
    """The registry has no such task, workflow or launch plan."""

    def __init__(
        self, kind: ResourceType, project: str, domain: str, name: str, version: str | None
    ):
        where = f"{project}/{domain}/{name}" + (f"@{version}" if version else "")
        super().__init__(f"{kind.value.replace('_', ' ')} {where} is not registered")
        self.kind = kind


class RegistryUnavailable(ServiceError):
    """The registry did not answer, or failed: try again later (503 ``unavailable``)."""

    status = 503
    code = "unavailable"


class RegistryClient:
    """Reads entities from the registry, caching immutable ones by identifier."""

    def __init__(
        self, base_url: str, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)
        self._entities: dict[Identifier, dict[str, Any]] = {}
        self._closures: dict[Identifier, WorkflowClosure] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"the registry is unreachable: {exc}") from exc

    async def _entity(
        self, kind: ResourceType, project: str, domain: str, name: str, version: str | None
    ) -> dict[str, Any]:
        if version is None:
            version = await self._newest_version(kind, project, domain, name)
        identifier = Identifier(
            resource_type=kind, project=project, domain=domain, name=name, version=version
        )
        cached = self._entities.get(identifier)
        if cached is not None:
            return cached
        response = await self._get(f"/api/v1/{_PATHS[kind]}/{project}/{domain}/{name}/{version}")
        if response.status_code in (400, 404):
            raise EntityNotFound(kind, project, domain, name, version)
        _check(response)
        body: dict[str, Any] = response.json()
        self._entities[identifier] = body
        return body

    async def _newest_version(
        self, kind: ResourceType, project: str, domain: str, name: str
    ) -> str:
        response = await self._get(
            f"/api/v1/{_PATHS[kind]}",
            params={"project": project, "domain": domain, "name": name, "limit": 1},
        )
        if response.status_code in (400, 404):
            raise EntityNotFound(kind, project, domain, name, None)
        _check(response)
        items = response.json()["items"]
        if not items:
            raise EntityNotFound(kind, project, domain, name, None)
        version: str = items[0]["identifier"]["version"]
        return version

    async def launch_plan(
        self, project: str, domain: str, name: str, version: str | None
    ) -> tuple[Identifier, LaunchPlanSpec]:
        body = await self._entity(ResourceType.LAUNCH_PLAN, project, domain, name, version)
        return Identifier.model_validate(body["identifier"]), LaunchPlanSpec.model_validate(
            body["spec"]
        )

    async def workflow(
        self, project: str, domain: str, name: str, version: str | None
    ) -> tuple[Identifier, WorkflowClosure]:
        body = await self._entity(ResourceType.WORKFLOW, project, domain, name, version)
        identifier = Identifier.model_validate(body["identifier"])
        closure = self._closures.get(identifier)
        if closure is None:
            closure = WorkflowClosure.model_validate(body["closure"])
            self._closures[identifier] = closure
        return identifier, closure

    async def task(self, project: str, domain: str, name: str, version: str | None) -> CompiledTask:
        body = await self._entity(ResourceType.TASK, project, domain, name, version)
        return CompiledTask(
            identifier=Identifier.model_validate(body["identifier"]),
            spec=TaskSpec.model_validate(body["spec"]),
        )


def _check(response: httpx.Response) -> None:
    if response.status_code in (401, 403):
        raise RegistryUnavailable(
            f"the registry refused the launcher's credential ({response.status_code}): "
            "CONTRAIL_SERVICE_TOKEN must be a token with viewer on the project (or on *)"
        )
    if response.status_code != 200:
        raise RegistryUnavailable(
            f"the registry answered {response.status_code} to GET {response.request.url.path}"
        )
