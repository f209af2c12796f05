"""``Remote``: the HTTP client of a Contrail cluster's API.

A small, typed layer over httpx for the registry (``docs/registry-api.md``):
projects, tasks, workflows, launch plans, launch plan state, and the data
proxy that stores code bundles. Every failure is a ``RemoteError`` subclass
whose message a user can act on::

    remote = Remote("http://127.0.0.1:18080")
    remote.register_task(Identifier(...), spec)      # -> Registration
    remote.get_workflow("flytesnacks", "development", "workflows.example.wf", "v1")

``Remote`` is safe to share between threads (the CLI registers tasks
concurrently through one instance).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.identifiers import DEFAULT_DOMAINS, Identifier, ResourceType
from shared.specs import LaunchPlanSpec, TaskSpec, WorkflowSpec

DEFAULT_ENDPOINT = "http://127.0.0.1:18080"
API_PREFIX = "/api/v1"

COLLECTIONS: dict[ResourceType, str] = {
    ResourceType.TASK: "tasks",
    ResourceType.WORKFLOW: "workflows",
    ResourceType.LAUNCH_PLAN: "launch_plans",
}
"""The path segment of each kind of entity."""

AnySpec = TaskSpec | WorkflowSpec | LaunchPlanSpec
_M = TypeVar("_M", bound=BaseModel)


# --- errors -------------------------------------------------------------------


class RemoteError(Exception):
    """The API refused a request or could not be reached.

    ``code`` and ``details`` are those of the API's error body
    (``{"error": {"code", "message", "details"}}``); ``status`` is the HTTP
    status (0 when no answer came).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "error",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details: list[dict[str, Any]] = list(details or [])


class NotFound(RemoteError):
    """404: no such entity or project."""


class Conflict(RemoteError):
    """409: the identifier exists with a different spec.

    ``details`` (also ``differences``) lists ``{path, registered, submitted}``.
    """

    @property
    def differences(self) -> list[dict[str, Any]]:
        """What differs between the registered spec and the submitted one."""
        return self.details


class InvalidRequest(RemoteError):
    """400: the request is malformed, fails validation or does not compile.

    ``code`` is ``invalid_request`` (``details[].field``), ``compile_error``
    (``details[]`` of ``{code, node, input, message}``) or ``invalid_identifier``.
    """


class TooLarge(InvalidRequest):
    """413: a spec or bundle over the cluster's size limit."""


class ServerUnavailable(RemoteError):
    """The endpoint did not answer, or answered that the service behind it is down."""


class ServerError(RemoteError):
    """The server failed (5xx) on a request it should have handled."""


# --- answers ------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Project(_Answer):
    """A project and its domains."""

    name: str
    description: str = ""
    domains: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class Registration(_Answer):
    """The answer to a registration: ``created`` is false when it already existed, identical."""

    identifier: Identifier
    digest: str
    created: bool


class Entity(_Answer):
    """A registered task, workflow or launch plan.

    ``spec`` is absent from list items unless asked for; ``closure`` comes with
    workflows, ``state`` (``ACTIVE``/``INACTIVE``) with launch plans.
    """

    identifier: Identifier
    digest: str = ""
    created_at: datetime | None = None
    spec: dict[str, Any] | None = None
    closure: dict[str, Any] | None = None
    state: str | None = None


class Page(_Answer):
    """One page of a list, newest first; ``next_token`` fetches the next."""

    items: list[Entity]
    next_token: str | None = None


class UploadLocation(_Answer):
    """Where to PUT a bundle (``upload_url`` with ``headers``), and its final ``uri``."""

    uri: str
    upload_url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    exists: bool = False


class Upload(BaseModel):
    """A bundle stored through the data proxy: ``uploaded`` is false when it was already there."""

    uri: str
    digest: str
    size: int
    uploaded: bool


# --- the client -----------------------------------------------------------------


class Remote:
    """A Contrail cluster, reached at ``endpoint`` (the gateway's URL)."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout: float = 30.0,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._client = httpx.Client(
            base_url=self.endpoint + API_PREFIX,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": "contrail-cli", "accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- projects ---------------------------------------------------------------

    def create_project(
        self, name: str, *, description: str = "", domains: tuple[str, ...] = DEFAULT_DOMAINS
    ) -> Project:
        """Create a project (or find it, when it exists identically).

        Raises ``Conflict`` when it exists with another description or domains.
        """
        body = {"name": name, "description": description, "domains": list(domains)}
        return self._parse(Project, self._request("POST", "/projects", json=body))

    def list_projects(self, *, limit: int | None = None) -> list[Project]:
        """Every project (up to ``limit``)."""
        items = self._paginate("/projects", {}, limit)
        return [self._parse(Project, item) for item in items]

    def get_project(self, name: str) -> Project:
        """One project; raises ``NotFound``."""
        return self._parse(Project, self._request("GET", f"/projects/{name}"))

    # --- tasks, workflows, launch plans ------------------------------------------

    def register(self, identifier: Identifier, spec: AnySpec) -> Registration:
        """Register ``spec`` under ``identifier`` (whose resource type picks the collection).

        Raises ``Conflict`` when the identifier exists with a different spec,
        ``InvalidRequest`` when the spec is refused (``compile_error`` for a
        workflow that does not compile), ``TooLarge`` over the size limit.
        """
        body = {
            "identifier": {
                "project": identifier.project,
                "domain": identifier.domain,
                "name": identifier.name,
                "version": identifier.version,
            },
            "spec": spec.model_dump(mode="json"),
        }
        answer = self._request("POST", f"/{COLLECTIONS[identifier.resource_type]}", json=body)
        if isinstance(answer, dict) and isinstance(answer.get("identifier"), dict):
            answer["identifier"].setdefault("resource_type", identifier.resource_type.value)
        return self._parse(Registration, answer)

    def register_task(self, identifier: Identifier, spec: TaskSpec) -> Registration:
        """Register a task; see ``register``."""
        return self.register(_typed(identifier, ResourceType.TASK), spec)

    def register_workflow(self, identifier: Identifier, spec: WorkflowSpec) -> Registration:
        """Register (and compile) a workflow; see ``register``."""
        return self.register(_typed(identifier, ResourceType.WORKFLOW), spec)

    def register_launch_plan(self, identifier: Identifier, spec: LaunchPlanSpec) -> Registration:
        """Register a launch plan of a registered workflow; see ``register``."""
        return self.register(_typed(identifier, ResourceType.LAUNCH_PLAN), spec)

    def get_entity(
        self, resource_type: ResourceType, project: str, domain: str, name: str, version: str
    ) -> Entity:
        """One registered entity with its spec (and closure or state); raises ``NotFound``."""
        path = f"/{COLLECTIONS[resource_type]}/{project}/{domain}/{name}/{version}"
        answer = self._request("GET", path)
        return self._entity(answer, resource_type)

    def get_task(self, project: str, domain: str, name: str, version: str) -> Entity:
        """A registered task; raises ``NotFound``."""
        return self.get_entity(ResourceType.TASK, project, domain, name, version)

    def get_workflow(self, project: str, domain: str, name: str, version: str) -> Entity:
        """A registered workflow with its compiled closure; raises ``NotFound``."""
        return self.get_entity(ResourceType.WORKFLOW, project, domain, name, version)

    def get_launch_plan(self, project: str, domain: str, name: str, version: str) -> Entity:
        """A registered launch plan with its state; raises ``NotFound``."""
        return self.get_entity(ResourceType.LAUNCH_PLAN, project, domain, name, version)

    def list_page(
        self,
        resource_type: ResourceType,
        project: str,
        domain: str,
        *,
        name: str | None = None,
        version: str | None = None,
        limit: int = 50,
        token: str | None = None,
        include_spec: bool = False,
    ) -> Page:
        """One page of entities, newest first."""
        params = _params(project, domain, name, version, include_spec)
        params["limit"] = str(limit)
        if token:
            params["token"] = token
        answer = self._request("GET", f"/{COLLECTIONS[resource_type]}", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            raise ServerError(f"{self.endpoint} answered a list without items", status=200)
        items = [self._entity(item, resource_type) for item in answer["items"]]
        return Page(items=items, next_token=answer.get("next_token"))

    def list_entities(
        self,
        resource_type: ResourceType,
        project: str,
        domain: str,
        *,
        name: str | None = None,
        version: str | None = None,
        limit: int | None = None,
        include_spec: bool = False,
    ) -> list[Entity]:
        """Entities, newest first, following pages up to ``limit`` (all when None)."""
        return list(
            self.iter_entities(
                resource_type,
                project,
                domain,
                name=name,
                version=version,
                limit=limit,
                include_spec=include_spec,
            )
        )

    def iter_entities(
        self,
        resource_type: ResourceType,
        project: str,
        domain: str,
        *,
        name: str | None = None,
        version: str | None = None,
        limit: int | None = None,
        include_spec: bool = False,
    ) -> Iterator[Entity]:
        """Like ``list_entities``, one page at a time."""
        token: str | None = None
        seen = 0
        while True:
            page_size = 100 if limit is None else max(1, min(100, limit - seen))
            page = self.list_page(
                resource_type,
                project,
                domain,
                name=name,
                version=version,
                limit=page_size,
                token=token,
                include_spec=include_spec,
            )
            for item in page.items:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            token = page.next_token
            if not token or not page.items:
                return

    def activate_launch_plan(self, project: str, domain: str, name: str, version: str) -> Entity:
        """Make this version the active one of its name (the other active version stops)."""
        return self._launch_plan_state(project, domain, name, version, "activate")

    def deactivate_launch_plan(self, project: str, domain: str, name: str, version: str) -> Entity:
        """Make this version inactive: its schedule stops firing."""
        return self._launch_plan_state(project, domain, name, version, "deactivate")

    def _launch_plan_state(
        self, project: str, domain: str, name: str, version: str, action: str
    ) -> Entity:
        path = f"/launch_plans/{project}/{domain}/{name}/{version}/{action}"
        return self._entity(self._request("POST", path), ResourceType.LAUNCH_PLAN)

    # --- data proxy ---------------------------------------------------------------

    def upload_location(
        self, project: str, domain: str, digest: str, size: int, filename: str = "bundle.tgz"
    ) -> UploadLocation:
        """Ask the data proxy where content of this sha256 ``digest`` goes."""
        body = {
            "project": project,
            "domain": domain,
            "digest": digest,
            "size": size,
            "filename": filename,
        }
        answer = self._request("POST", "/data_proxy/upload", json=body)
        return self._parse(UploadLocation, answer)

    def upload(
        self, project: str, domain: str, content: bytes, filename: str = "bundle.tgz"
    ) -> Upload:
        """Store ``content`` through the data proxy, unless it is already there.

        Returns its digest-addressed ``s3://`` URI. Raises ``TooLarge`` over the
        cluster's bundle limit, ``RemoteError`` when the object store refuses.
        """
        digest = hashlib.sha256(content).hexdigest()
        location = self.upload_location(project, domain, digest, len(content), filename)
        if location.exists:
            return Upload(uri=location.uri, digest=digest, size=len(content), uploaded=False)
        if not location.upload_url:
            raise ServerError(f"{self.endpoint} gave no upload_url for {location.uri}")
        try:
            response = self._client.put(
                location.upload_url, content=content, headers=location.headers
            )
        except httpx.TransportError as exc:
            host = httpx.URL(location.upload_url).host
            raise ServerUnavailable(
                f"cannot upload to the object store at {host}: {_reason(exc)}"
            ) from exc
        if response.status_code >= 300:
            raise RemoteError(
                f"the object store refused the upload of {location.uri} "
                f"(HTTP {response.status_code}): {_s3_message(response.text)}",
                status=response.status_code,
                code="upload_failed",
            )
        return Upload(uri=location.uri, digest=digest, size=len(content), uploaded=True)

    def download_url(self, uri: str) -> str:
        """A presigned URL that fetches the object at ``uri`` (``s3://...``)."""
        answer = self._request("GET", "/data_proxy/download", params={"uri": uri})
        if not isinstance(answer, dict) or not isinstance(answer.get("url"), str):
            raise ServerError(f"{self.endpoint} answered a download without url")
        return str(answer["url"])

    # --- plumbing -----------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = self._client.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise ServerUnavailable(
                f"the Contrail API at {self.endpoint} did not answer in time ({method} {path})"
            ) from exc
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"cannot reach the Contrail API at {self.endpoint}: {_reason(exc)}"
            ) from exc
        if response.status_code < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise ServerError(
                    f"{self.endpoint} answered {method} {path} with something other than JSON",
                    status=response.status_code,
                ) from exc
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> RemoteError:
        status = response.status_code
        code, message, details = _error_body(response)
        if status in (502, 503, 504):
            return ServerUnavailable(
                f"the Contrail API at {self.endpoint} is unavailable "
                f"(HTTP {status} on {method} {API_PREFIX}{path})",
                status=status,
                code=code or "unavailable",
                details=details,
            )
        if not code:  # not the API's error body: a gateway page or a framework default
            where = f"HTTP {status} on {method} {API_PREFIX}{path}"
            message = f"{where}: {message}" if message else where
        kinds: dict[int, type[RemoteError]] = {
            400: InvalidRequest,
            404: NotFound,
            409: Conflict,
            413: TooLarge,
            422: InvalidRequest,
        }
        kind = kinds.get(status)
        if kind is None:
            kind = ServerError if status >= 500 else RemoteError
        return kind(message, status=status, code=code, details=details)

    def _paginate(
        self, path: str, params: dict[str, str], limit: int | None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = dict(params)
            query["limit"] = str(100 if limit is None else max(1, min(100, limit - len(items))))
            if token:
                query["token"] = token
            answer = self._request("GET", path, params=query)
            page = answer.get("items", []) if isinstance(answer, dict) else []
            items.extend(page)
            token = answer.get("next_token") if isinstance(answer, dict) else None
            if not token or not page or (limit is not None and len(items) >= limit):
                return items if limit is None else items[:limit]

    def _entity(self, answer: Any, resource_type: ResourceType) -> Entity:
        if isinstance(answer, dict) and isinstance(answer.get("identifier"), dict):
            answer["identifier"].setdefault("resource_type", resource_type.value)
        return self._parse(Entity, answer)

    def _parse(self, model: type[_M], answer: Any) -> _M:
        try:
            return model.model_validate(answer)
        except ValidationError as exc:
            raise ServerError(
                f"{self.endpoint} answered an unexpected {model.__name__}: "
                f"{exc.errors()[0]['msg'] if exc.errors() else exc}"
            ) from exc


def _typed(identifier: Identifier, resource_type: ResourceType) -> Identifier:
    if identifier.resource_type is resource_type:
        return identifier
    return identifier.model_copy(update={"resource_type": resource_type})


def _params(
    project: str, domain: str, name: str | None, version: str | None, include_spec: bool
) -> dict[str, str]:
    params = {"project": project, "domain": domain}
    if name:
        params["name"] = name
    if version:
        params["version"] = version
    if include_spec:
        params["include_spec"] = "true"
    return params


def _error_body(response: httpx.Response) -> tuple[str, str, list[dict[str, Any]]]:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()
        return "", (text[0][:200] if text else ""), []
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        details = error.get("details") or []
        return (
            str(error.get("code") or ""),
            str(error.get("message") or ""),
            [d if isinstance(d, dict) else {"message": str(d)} for d in details],
        )
    if isinstance(body, dict) and "detail" in body:  # FastAPI's own validation errors
        detail = body["detail"]
        if isinstance(detail, list):  # FastAPI's request validation
            details = [
                {
                    "field": ".".join(str(p) for p in d.get("loc", [])),
                    "message": d.get("msg", ""),
                }
                for d in detail
                if isinstance(d, dict)
            ]
            return "invalid_request", "the request is not valid", details
        return "", str(detail), []
    return "", "", []


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused (is the stack up? `contrail demo up`)"
    return text


def _s3_message(text: str) -> str:
    start, end = text.find("<Message>"), text.find("</Message>")
    if 0 <= start < end:
        return text[start + len("<Message>") : end]
    return text.strip()[:200] or "no message"
