"""``Remote``: the HTTP client of a Contrail cluster's API.

A small, typed layer over httpx for the registry (``docs/registry-api.md``):
projects, tasks, workflows, launch plans, launch plan state, and the data
proxy that stores code bundles; and for the launcher (``docs/launcher-api.md``):
executions, their nodes and attempts, logs, abort, relaunch and recover.
Every failure is a ``RemoteError`` subclass whose message a user can act on::

    remote = Remote("http://127.0.0.1:18080")
    remote.register_task(Identifier(...), spec)      # -> Registration
    remote.get_workflow("flytesnacks", "development", "workflows.example.wf", "v1")

    run = remote.run(wf, name="x")                   # fast-register, launch -> Run
    run.wait().outputs                               # ("Hello, x!", 9)
    remote.launch(launch_plan="workflows.example.wf", inputs={"name": "x"})

``Remote`` is safe to share between threads (the CLI registers tasks
concurrently through one instance).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contrail.config import resolve_token
from contrail.errors import ArgumentError

# The errors of the API's answers, also importable from here (and from ``contrail``).
from contrail.errors import Conflict as Conflict
from contrail.errors import Forbidden as Forbidden
from contrail.errors import InvalidRequest as InvalidRequest
from contrail.errors import NotFound as NotFound
from contrail.errors import RemoteError as RemoteError
from contrail.errors import ServerError as ServerError
from contrail.errors import ServerUnavailable as ServerUnavailable
from contrail.errors import TooLarge as TooLarge
from contrail.errors import Unauthenticated as Unauthenticated
from shared.identifiers import DEFAULT_DOMAINS, Identifier, ResourceType
from shared.phases import ExecutionPhase
from shared.routes import console_url
from shared.specs import LaunchPlanSpec, TaskSpec, WorkflowSpec

if TYPE_CHECKING:
    from contrail.run import Run, RunnableEntity

DEFAULT_ENDPOINT = "http://127.0.0.1:18080"
DEFAULT_PROJECT = "flytesnacks"
DEFAULT_DOMAIN = "development"
API_PREFIX = "/api/v1"

COLLECTIONS: dict[ResourceType, str] = {
    ResourceType.TASK: "tasks",
    ResourceType.WORKFLOW: "workflows",
    ResourceType.LAUNCH_PLAN: "launch_plans",
}
"""The path segment of each kind of entity."""

AnySpec = TaskSpec | WorkflowSpec | LaunchPlanSpec
_M = TypeVar("_M", bound=BaseModel)


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


def _flatten(data: Any, *aliases: tuple[str, str]) -> Any:
    """Accept the execution's identifiers nested (``id``/``identifier``/``execution``) or flat,
    and older names of fields (``finished_at`` for ``ended_at``)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in ("id", "identifier", "execution"):
        nested = data.get(key)
        if isinstance(nested, dict) and "name" in nested:
            for part in ("project", "domain", "name"):
                data.setdefault(part, nested.get(part))
    for old, new in aliases:
        if old in data and new not in data:
            data[new] = data[old]
    return data


class ExecutionError(_Answer):
    """Why an execution, node or attempt failed: ``kind`` USER or SYSTEM, ``code``, ``message``."""

    kind: str = "USER"
    code: str = ""
    message: str = ""
    traceback_tail: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class Execution(_Answer):
    """An execution as the launcher shows it (``GET /executions/{project}/{domain}/{name}``).

    ``inputs`` and ``outputs`` are JSON literals by name; ``outputs`` is set once
    SUCCEEDED, ``error`` once FAILED, ABORTED or TIMED_OUT. ``url`` is its console page.
    """

    project: str
    domain: str
    name: str
    phase: ExecutionPhase
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    error: ExecutionError | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    workflow: dict[str, Any] | None = None
    launch_plan: dict[str, Any] | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = None
    relaunched_from: str | None = None
    recovered_from: str | None = None
    scheduled_at: datetime | None = None
    url: str = ""

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        return _flatten(
            data,
            ("finished_at", "ended_at"),
            ("duration_seconds", "duration"),
            ("console_url", "url"),
        )

    @property
    def key(self) -> str:
        """``project/domain/name``: the execution id and its Kafka key."""
        return f"{self.project}/{self.domain}/{self.name}"

    @property
    def is_done(self) -> bool:
        """Whether the execution reached a terminal phase."""
        return self.phase.is_terminal

    @property
    def workflow_name(self) -> str:
        """The workflow's name ('' when unknown)."""
        return str((self.workflow or {}).get("name") or "")

    @property
    def launch_plan_name(self) -> str:
        """The launch plan's name ('' when launched without one)."""
        return str((self.launch_plan or {}).get("name") or "")


class TaskAttempt(_Answer):
    """One attempt of a task node (numbered from 1): phase, worker, error, resources, logs."""

    attempt: int
    phase: str
    worker_id: str | None = None
    error: ExecutionError | None = None
    resources_requested: dict[str, Any] | None = None
    resources_used: dict[str, Any] | None = None
    log_uri: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        return _flatten(data, ("finished_at", "ended_at"), ("number", "attempt"))


class Grant(_Answer):
    """A role on a project (``*``: every project), optionally on one domain only."""

    project: str
    role: str
    domain: str | None = None


class Identity(_Answer):
    """Who a credential is (``GET /auth/whoami``): a user or a service account, and its grants."""

    name: str
    kind: str = "user"
    via: str = "token"
    token_id: str | None = None
    grants: list[Grant] = Field(default_factory=list)


class TokenInfo(_Answer):
    """A token's metadata; the secret itself is only in ``NewToken``, once."""

    id: str
    principal: str
    name: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class NewToken(TokenInfo):
    """The answer to a token's creation: ``token`` is the secret, shown this once."""

    token: str
    grants: list[Grant] = Field(default_factory=list)

    def __repr__(self) -> str:
        return f"NewToken(id={self.id!r}, principal={self.principal!r}, token='********')"

    __str__ = __repr__


class NodeExecution(_Answer):
    """One node of an execution, named by its path (``n0``, ``n2/n0``, ``n1/n1a``, ``n3[0]``).

    ``phase`` is None for a node that never started. ``task`` names the task a
    task or map node runs; ``recovered`` says its outputs were reused from an
    earlier execution by ``recover``.
    """

    node_path: str
    phase: str | None = None
    task: str | None = None
    recovered: bool = False
    cache_hit: bool = False
    outputs: dict[str, Any] | None = None
    error: ExecutionError | None = None
    attempts: list[TaskAttempt] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        return _flatten(
            data, ("finished_at", "ended_at"), ("path", "node_path"), ("node_id", "node_path")
        )

    @property
    def latest_attempt(self) -> TaskAttempt | None:
        """The attempt with the highest number, if any ran."""
        return max(self.attempts, key=lambda a: a.attempt, default=None)


# --- the client -----------------------------------------------------------------


class _Bearer(httpx.Auth):
    """``Authorization: Bearer`` on the requests to the API only.

    The same client PUTs bundles to the object store's presigned URLs, which
    must never see the token (and would refuse a second credential).
    """

    def __init__(self, token: str, api_url: str) -> None:
        self._header = f"Bearer {token}"
        self._api = httpx.URL(api_url)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url, api = request.url, self._api
        if (url.scheme, url.host, url.port) == (api.scheme, api.host, api.port) and (
            url.path.startswith(api.path)
        ):
            request.headers["Authorization"] = self._header
        yield request


class Remote:
    """A Contrail cluster, reached at ``endpoint`` (the gateway's URL).

    ``token`` is the API credential sent as ``Authorization: Bearer``; None
    takes ``CONTRAIL_TOKEN``, else the config file's ``admin.token``
    (``contrail auth login`` writes it), else sends none; ``""`` sends none.
    A cluster that refuses it raises ``Unauthenticated`` (401) or
    ``Forbidden`` (403), with the cluster's message.

    ``project`` and ``domain`` are the defaults of the execution calls
    (``launch``, ``run``, ``get_execution``, ...); each call may override them.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        token: str | None = None,
        project: str = DEFAULT_PROJECT,
        domain: str = DEFAULT_DOMAIN,
        timeout: float = 30.0,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.project = project
        self.domain = domain
        token = resolve_token() if token is None else token
        self._client = httpx.Client(
            auth=_Bearer(token, self.endpoint + API_PREFIX) if token else None,
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

    # --- executions -----------------------------------------------------------------

    def launch(
        self,
        launch_plan: str | None = None,
        *,
        workflow: str | None = None,
        task: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        name: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Execution:
        """Launch an execution of a launch plan, or of a workflow or task directly.

        Give exactly one of ``launch_plan``, ``workflow`` (its default launch
        plan) or ``task`` (run as a one-node workflow), by name; ``version``
        None means the newest registered. ``inputs`` are JSON literals by name;
        the launcher fills defaults in. ``name`` (generated when None) must be
        unique in the project and domain. The answer's ``url`` is the console page.

        Raises ``InvalidRequest`` (``invalid_inputs``: one detail per input at
        fault), ``NotFound`` for an unknown entity, ``Conflict`` for a name taken.
        """
        given = [
            (key, value)
            for key, value in (("launch_plan", launch_plan), ("workflow", workflow), ("task", task))
            if value
        ]
        if len(given) != 1:
            raise ArgumentError("give exactly one of launch_plan, workflow or task")
        key, entity = given[0]
        body: dict[str, Any] = {
            "project": project or self.project,
            "domain": domain or self.domain,
            "name": name,
            "launch_plan": None,
            "workflow": None,
            "task": None,
            "inputs": dict(inputs or {}),
            "labels": dict(labels or {}),
        }
        body[key] = {"name": entity, "version": version}
        return self._execution_answer(self._request("POST", "/executions", json=body))

    def get_execution(
        self, name: str, *, project: str | None = None, domain: str | None = None
    ) -> Execution:
        """One execution: phase, inputs, outputs (once SUCCEEDED), error, times; ``NotFound``."""
        answer = self._request("GET", self._execution_path(name, project, domain))
        return self._execution_answer(answer)

    def list_executions(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        workflow: str | None = None,
        launch_plan: str | None = None,
        phase: ExecutionPhase | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
    ) -> list[Execution]:
        """Executions of a project and domain, newest first, filtered, up to ``limit``."""
        params = {
            "project": project or self.project,
            "domain": domain or self.domain,
        }
        for key, value in (
            ("workflow", workflow),
            ("launch_plan", launch_plan),
            ("phase", str(phase).upper() if phase else None),
            ("since", since.isoformat() if since else None),
            ("until", until.isoformat() if until else None),
        ):
            if value:
                params[key] = value
        items = self._paginate("/executions", params, limit)
        return [self._execution_answer(item) for item in items]

    def node_executions(
        self, name: str, *, project: str | None = None, domain: str | None = None
    ) -> list[NodeExecution]:
        """The node executions of an execution, with their attempts, in the workflow's order."""
        answer = self._request("GET", self._execution_path(name, project, domain) + "/nodes")
        items = answer.get("items", answer.get("nodes")) if isinstance(answer, dict) else answer
        if not isinstance(items, list):
            raise ServerError(f"{self.endpoint} answered node executions without a list")
        return [self._parse(NodeExecution, item) for item in items]

    def logs(
        self,
        name: str,
        node_path: str,
        attempt: int | None = None,
        *,
        stream: str = "stdout",
        follow: bool = False,
        project: str | None = None,
        domain: str | None = None,
        poll: float = 0.5,
    ) -> Iterator[str]:
        """The text an attempt wrote to ``stream`` (``stdout`` or ``stderr``), in chunks.

        ``attempt`` None is the node's latest attempt; with ``follow`` it waits
        for the node's first attempt, and the chunks keep coming until the
        attempt ends. Raises ``NotFound`` for an unknown node or attempt.
        """
        if stream not in ("stdout", "stderr"):
            raise ArgumentError(f"stream must be stdout or stderr, not {stream!r}")
        if attempt is None:
            attempt = self._latest_attempt(name, node_path, project, domain, follow, poll)
        path = (
            f"{self._execution_path(name, project, domain)}/nodes/{node_path}"
            f"/attempts/{attempt}/logs"
        )
        params = {"stream": stream, "follow": "true" if follow else "false"}
        # a followed log waits for output as long as the attempt runs
        timeout = httpx.Timeout(30.0, read=None) if follow else self._client.timeout
        try:
            with self._client.stream("GET", path, params=params, timeout=timeout) as response:
                if response.status_code >= 300:
                    response.read()
                    raise self._error("GET", path, response)
                yield from response.iter_text()
        except httpx.TimeoutException as exc:
            raise ServerUnavailable(
                f"the Contrail API at {self.endpoint} did not answer in time (GET {path})"
            ) from exc
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"cannot reach the Contrail API at {self.endpoint}: {_reason(exc)}"
            ) from exc

    def _latest_attempt(
        self,
        name: str,
        node_path: str,
        project: str | None,
        domain: str | None,
        wait: bool,
        poll: float,
    ) -> int:
        while True:
            nodes = self.node_executions(name, project=project, domain=domain)
            node = next((n for n in nodes if n.node_path == node_path), None)
            if node is None:
                known = ", ".join(n.node_path for n in nodes) or "none"
                raise NotFound(
                    f"execution {name} has no node {node_path} (nodes: {known})",
                    status=404,
                    code="not_found",
                )
            latest = node.latest_attempt
            if latest is not None:
                return latest.attempt
            if not wait or self.get_execution(name, project=project, domain=domain).is_done:
                raise NotFound(
                    f"node {node_path} of execution {name} has no task attempt "
                    f"(phase {node.phase or 'not started'})",
                    status=404,
                    code="not_found",
                )
            time.sleep(poll)

    def abort(
        self,
        name: str,
        cause: str = "aborted by user",
        *,
        project: str | None = None,
        domain: str | None = None,
    ) -> None:
        """Ask the launcher to abort: the execution goes ABORTING, then ABORTED with ``cause``.

        Aborting a finished execution changes nothing.
        """
        path = self._execution_path(name, project, domain) + "/abort"
        self._request("POST", path, json={"cause": cause})

    def relaunch(
        self,
        name: str,
        *,
        new_name: str | None = None,
        project: str | None = None,
        domain: str | None = None,
    ) -> Run:
        """A new execution of the same launch plan with the same inputs, as a ``Run``
        (``remote.relaunch(name).wait()``)."""
        return self._again("relaunch", name, new_name, project, domain)

    def recover(
        self,
        name: str,
        *,
        new_name: str | None = None,
        project: str | None = None,
        domain: str | None = None,
    ) -> Run:
        """A new execution that reuses the outputs of the nodes that succeeded in ``name``,
        as a ``Run`` (``remote.recover("x1").wait()``)."""
        return self._again("recover", name, new_name, project, domain)

    def _again(
        self,
        action: str,
        name: str,
        new_name: str | None,
        project: str | None,
        domain: str | None,
    ) -> Run:
        """``POST .../{action}`` of execution ``name``: the run of the new execution it started."""
        from contrail.run import Run

        path = f"{self._execution_path(name, project, domain)}/{action}"
        return Run(
            self, self._execution_answer(self._request("POST", path, json={"name": new_name}))
        )

    def run(
        self,
        entity: RunnableEntity,
        *,
        execution_name: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
        labels: Mapping[str, str] | None = None,
        **inputs: Any,
    ) -> Run:
        """Run ``entity`` on the cluster, as Flyte 2's ``flyte.run``; returns its ``Run``.

        A local ``@task``, ``@workflow`` or ``LaunchPlan`` is fast-registered
        first (its module's project serialized, its source bundled and uploaded,
        everything registered under a version digest of both) and ``inputs``
        (Python values) are converted by its types. A string names a registered
        launch plan, whose ``inputs`` are JSON literals. Keyword arguments are
        the entity's inputs; ``execution_name`` names the execution::

            run = remote.run(wf, name="x")
            run.wait().outputs   # ("Hello, x!", 9)
        """
        from contrail.run import start_run

        return start_run(
            self,
            entity,
            execution_name=execution_name,
            project=project or self.project,
            domain=domain or self.domain,
            version=version,
            labels=labels,
            inputs=inputs,
        )

    def console_url(
        self, name: str, *, project: str | None = None, domain: str | None = None
    ) -> str:
        """The console page of an execution."""
        return console_url(self.endpoint, project or self.project, domain or self.domain, name)

    def _execution_path(self, name: str, project: str | None, domain: str | None) -> str:
        return f"/executions/{project or self.project}/{domain or self.domain}/{name}"

    def _execution_answer(self, answer: Any) -> Execution:
        url = ""
        if isinstance(answer, dict) and isinstance(answer.get("execution"), dict):
            url = str(answer.get("url") or "")
            answer = answer["execution"]
        execution = self._parse(Execution, answer)
        if url or not execution.url:
            url = url or self.console_url(
                execution.name, project=execution.project, domain=execution.domain
            )
            execution = execution.model_copy(update={"url": url})
        return execution

    # --- notifications (the notifier's subscriptions and deliveries) ----------------

    def create_subscription(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Subscribe (``spec`` as the notifier's API takes it); ``InvalidRequest`` names a field."""
        answer: dict[str, Any] = self._request("POST", "/subscriptions", json=dict(spec))
        return answer

    def list_subscriptions(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Every subscription, newest first (up to ``limit``)."""
        return self._paginate("/subscriptions", {}, limit)

    def set_subscription_paused(self, subscription_id: str, paused: bool) -> dict[str, Any]:
        """Pause or resume a subscription; ``NotFound``."""
        answer: dict[str, Any] = self._request(
            "PATCH", f"/subscriptions/{subscription_id}", json={"paused": paused}
        )
        return answer

    def delete_subscription(self, subscription_id: str) -> None:
        """Delete a subscription; ``NotFound``."""
        self._request("DELETE", f"/subscriptions/{subscription_id}")

    def test_subscription(self, subscription_id: str) -> list[str]:
        """Send a sample alert to each channel of a subscription; the deliveries' ids."""
        answer = self._request("POST", f"/subscriptions/{subscription_id}/test")
        return list(answer["deliveries"])

    def list_deliveries(
        self,
        *,
        execution: str | None = None,
        rule: str | None = None,
        channel: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Deliveries, newest first, filtered by execution (project/domain/name), rule,
        channel and status."""
        params = {
            k: v
            for k, v in {
                "execution": execution,
                "rule": rule,
                "channel": channel,
                "status": status,
            }.items()
            if v is not None
        }
        return self._paginate("/deliveries", params, limit)

    def retry_delivery(self, delivery_id: str) -> dict[str, Any]:
        """Send a dead delivery again; ``NotFound``, ``Conflict`` when it is not dead."""
        answer: dict[str, Any] = self._request("POST", f"/deliveries/{delivery_id}/retry")
        return answer

    # --- access control (the registry's auth API) ------------------------------------

    def whoami(self) -> Identity:
        """Who this client's token is, with its grants; ``Unauthenticated`` when refused."""
        return self._parse(Identity, self._request("GET", "/auth/whoami"))

    def create_token(
        self,
        project: str,
        role: str,
        *,
        domain: str | None = None,
        principal: str | None = None,
        name: str | None = None,
        expires_in_seconds: int | None = None,
    ) -> NewToken:
        """A new token granting ``role`` on ``project`` (``*``: every project).

        Without ``principal``, for a new service account of its own; with one, for
        that principal (a user, created if missing), which also gets the grant.
        The answer holds the secret: the cluster keeps only its hash.
        """
        body: dict[str, Any] = {"project": project, "role": role}
        optional = {
            "domain": domain,
            "principal": principal,
            "name": name,
            "expires_in_seconds": expires_in_seconds,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return self._parse(NewToken, self._request("POST", "/auth/tokens", json=body))

    def list_tokens(self, *, principal: str | None = None) -> list[TokenInfo]:
        """The tokens this client may see (metadata only), every page."""
        params = {"principal": principal} if principal else {}
        return [self._parse(TokenInfo, item) for item in self._pages("/auth/tokens", params)]

    def revoke_token(self, token_id: str) -> TokenInfo:
        """Revoke a token: every service refuses it within seconds. ``NotFound``."""
        return self._parse(TokenInfo, self._request("DELETE", f"/auth/tokens/{token_id}"))

    def list_grants(self, *, principal: str | None = None) -> list[dict[str, Any]]:
        """The grants this client may see, as ``{principal, project, domain, role}``."""
        params = {"principal": principal} if principal else {}
        return self._pages("/auth/grants", params)

    def create_grant(
        self, principal: str, project: str, role: str, *, domain: str | None = None
    ) -> dict[str, Any]:
        """Grant ``role`` on ``project`` (and ``domain``) to ``principal``."""
        body = {"principal": principal, "project": project, "role": role, "domain": domain}
        answer: dict[str, Any] = self._request("POST", "/auth/grants", json=body)
        return answer

    def delete_grant(
        self, principal: str, project: str, role: str, *, domain: str | None = None
    ) -> dict[str, Any]:
        """Take a grant back; ``NotFound`` when the principal does not hold it."""
        body = {"principal": principal, "project": project, "role": role, "domain": domain}
        answer: dict[str, Any] = self._request("DELETE", "/auth/grants", json=body) or {}
        return answer

    def audit(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit log entries (``{time, actor, action, project, domain, resource, details}``),
        newest first, up to ``limit``."""
        params = {
            key: value
            for key, value in {
                "project": project,
                "domain": domain,
                "action": action,
                "actor": actor,
                "since": since.isoformat() if since is not None else None,
            }.items()
            if value
        }
        return self._paginate("/audit", params, limit)

    # --- usage (the metrics service's accounting) ------------------------------------

    def usage(self, what: str, params: Mapping[str, str]) -> dict[str, Any]:
        """``/usage/<what>`` (summary, top, rightsizing): every page of a summary's rows."""
        query = {key: value for key, value in params.items() if value}
        answer: dict[str, Any] = self._request("GET", f"/usage/{what}", params=query)
        while what == "summary" and answer.get("next_token"):
            more = self._request(
                "GET", "/usage/summary", params={**query, "token": answer["next_token"]}
            )
            answer = {**more, "items": answer["items"] + more["items"]}
        return answer

    def usage_attempts(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """The raw task attempts that ended in a range, newest first (every page)."""
        query = {key: value for key, value in params.items() if value}
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._request(
                "GET",
                "/usage/attempts",
                params={**query, "page_size": "1000", **({"token": token} if token else {})},
            )
            items.extend(page["items"])
            token = page.get("next_token")
            if not token:
                return items

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
            # A service's own answer says what is down; a gateway's page says nothing.
            down = message if code else f"the Contrail API at {self.endpoint} is unavailable"
            return ServerUnavailable(
                f"{down} (HTTP {status} on {method} {API_PREFIX}{path})",
                status=status,
                code=code or "unavailable",
                details=details,
            )
        if not code:  # not the API's error body: a gateway page or a framework default
            where = f"HTTP {status} on {method} {API_PREFIX}{path}"
            message = f"{where}: {message}" if message else where
        kinds: dict[int, type[RemoteError]] = {
            400: InvalidRequest,
            401: Unauthenticated,
            403: Forbidden,
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

    def _pages(
        self, path: str, params: dict[str, str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a list paged by ``page_token``/``next_page_token`` (up to ``limit``)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {**params, **({"page_token": token} if token else {})}
            answer = self._request("GET", path, params=query)
            page = answer.get("items", []) if isinstance(answer, dict) else []
            items.extend(page)
            token = answer.get("next_page_token") if isinstance(answer, dict) else None
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
