"""Tasks, workflows and launch plans over HTTP: register, get by identifier, list.

Reads answer with the stored canonical bytes of specs and closures as they
are, so a get never re-serializes a large closure. A get by full identifier is
immutable and says so to caches; launch plans, whose state changes, are
revalidated.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.registry.adapters.entities import EntityFilter, StoredEntity
from services.registry.entrypoints.bodies import (
    media_type,
    parse_document,
    read_body,
    validated,
)
from services.registry.entrypoints.dependencies import Settings, UoWFactory
from services.registry.entrypoints.duplicates import reject_duplicate_keys
from services.registry.entrypoints.identifiers import identifier_of
from services.registry.entrypoints.openapi import error_responses, request_body
from services.registry.entrypoints.representations import (
    IdentifierFields,
    LaunchPlan,
    LaunchPlanPage,
    LaunchPlanRegistration,
    Registered,
    Task,
    TaskPage,
    TaskRegistration,
    Workflow,
    WorkflowPage,
    WorkflowRegistration,
)
from services.registry.service_layer import launch_plan_state, queries, registration
from services.registry.service_layer.errors import InvalidRequest, TooLarge
from shared.auth.dependency import Authenticated
from shared.auth.principal import Principal, require_list
from shared.auth.roles import Role
from shared.db.paging import Page as StoredPage
from shared.documents import Document
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType
from shared.sealing import SecretBox
from shared.settings import RegistrySettings

PATHS: dict[ResourceType, str] = {
    ResourceType.TASK: "/api/v1/tasks",
    ResourceType.WORKFLOW: "/api/v1/workflows",
    ResourceType.LAUNCH_PLAN: "/api/v1/launch_plans",
}
IDENTIFIER_PATH = "/{project}/{domain}/{name}/{version}"
IMMUTABLE = "public, max-age=31536000, immutable"

_REGISTER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Registered, "description": "The identical spec was registered already"},
    **error_responses(400, 404, 409, 413, 415),
}

# --- parameters ---------------------------------------------------------------------

ProjectPath = Annotated[str, Path(description="The project.")]
DomainPath = Annotated[str, Path(description="The domain, e.g. development.")]
NamePath = Annotated[str, Path(description="The entity's name; may contain dots.")]
VersionPath = Annotated[str, Path(description="The version.")]
ProjectQuery = Annotated[str | None, Query(description="Only this project.")]
DomainQuery = Annotated[str | None, Query(description="Only this domain.")]
NameQuery = Annotated[str | None, Query(description="Only this name.")]
VersionQuery = Annotated[str | None, Query(description="Only this version.")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many items.")]
Token = Annotated[str | None, Query(description="The next_token of the previous page.")]
IncludeSpec = Annotated[bool, Query(description="Include each item's spec.")]


# --- the shared steps -------------------------------------------------------------------


async def _document(request: Request, settings: RegistrySettings) -> Document:
    raw = await read_body(request, settings.max_spec_bytes)
    return parse_document(raw, media_type(request))


def _checked_body(kind: ResourceType, document: Document) -> tuple[Identifier, dict[str, Any]]:
    """The identifier and the body, once the identifier checks out and no key is given twice.

    The identifier is checked before the spec, so that a bad project, domain,
    name or version is named as such rather than as a spec field.
    """
    body = document.value
    if not isinstance(body, dict):
        message = "the body must be an object with 'identifier' and 'spec'"
        raise InvalidRequest(message, [{"field": "body", "message": message}])
    fields = validated(IdentifierFields, body.get("identifier"), "identifier")
    if fields.resource_type not in (None, kind):
        message = f"this endpoint registers a {kind.value}, not a {fields.resource_type}"
        raise InvalidRequest(message, [{"field": "identifier.resource_type", "message": message}])
    identifier = identifier_of(
        kind,
        fields.project,
        fields.domain,
        fields.name,
        fields.version,
        field_prefix="identifier.",
    )
    reject_duplicate_keys(document)
    return identifier, body


def entity_path(identifier: Identifier) -> str:
    i = identifier
    return f"{PATHS[i.resource_type]}/{i.project}/{i.domain}/{i.name}/{i.version}"


def _registered(outcome: registration.Registration) -> JSONResponse:
    body = Registered(identifier=outcome.identifier, digest=outcome.digest, created=outcome.created)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=201 if outcome.created else 200,
        headers={"Location": entity_path(outcome.identifier)},
    )


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def entity_json(entity: StoredEntity) -> bytes:
    """The entity as JSON, around its stored spec and closure bytes."""
    parts = [
        b'"identifier":' + entity.identifier.model_dump_json().encode(),
        b'"digest":' + json.dumps(entity.digest).encode(),
        b'"created_at":' + json.dumps(_timestamp(entity.created_at)).encode(),
    ]
    if entity.spec_bytes is not None:
        parts.append(b'"spec":' + entity.spec_bytes)
    if entity.closure_bytes is not None:
        parts.append(b'"closure":' + entity.closure_bytes)
    if entity.state is not None:
        parts.append(b'"state":' + json.dumps(entity.state.value).encode())
    return b"{" + b",".join(parts) + b"}"


def _page_json(page: StoredPage[StoredEntity]) -> Response:
    items = b",".join(entity_json(entity) for entity in page.items)
    body = b'{"items":[' + items + b'],"next_token":' + json.dumps(page.next_token).encode() + b"}"
    return Response(body, media_type="application/json")


def _cache_headers(entity: StoredEntity) -> dict[str, str]:
    if entity.state is None:
        return {"ETag": f'"{entity.digest}"', "Cache-Control": IMMUTABLE}
    return {"ETag": f'"{entity.digest}-{entity.state.value.lower()}"', "Cache-Control": "no-cache"}


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _entity_response(request: Request, entity: StoredEntity) -> Response:
    headers = _cache_headers(entity)
    if _matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(entity_json(entity), media_type="application/json", headers=headers)


async def _get(
    request: Request,
    uows: UoWFactory,
    kind: ResourceType,
    parts: tuple[str, str, str, str],
    principal: Principal,
) -> Response:
    principal.require(Role.VIEWER, parts[0], parts[1])
    entity = await queries.get_entity(uows, identifier_of(kind, *parts))
    return _entity_response(request, entity)


async def _list(
    uows: UoWFactory,
    kind: ResourceType,
    where: EntityFilter,
    limit: int,
    token: str | None,
    include_spec: bool,
    principal: Principal,
) -> Response:
    require_list(principal, Role.VIEWER, where.project, where.domain)
    page = await queries.list_entities(
        uows, kind, where, limit=limit, token=token, include_spec=include_spec
    )
    return _page_json(page)


# --- tasks ----------------------------------------------------------------------------

tasks = APIRouter(prefix=PATHS[ResourceType.TASK], tags=["tasks"])


@tasks.post(
    "",
    status_code=201,
    response_model=Registered,
    summary="Register a task",
    description="Store the task under its identifier. The identical spec again: 200, nothing "
    "written. A different spec under the same identifier: 409 with what differs.",
    responses=_REGISTER_RESPONSES,
    openapi_extra=request_body(TaskRegistration),
)
async def register_task(
    request: Request, uows: UoWFactory, settings: Settings, principal: Authenticated
) -> JSONResponse:
    document = await _document(request, settings)
    identifier, body = _checked_body(ResourceType.TASK, document)
    principal.require(Role.EDITOR, identifier.project, identifier.domain)
    spec = validated(TaskRegistration, body).spec
    size = len(spec.model_dump_json())
    if size > settings.max_task_spec_bytes:
        # Each attempt's dispatch (a Kafka record) carries the task's spec.
        limit = settings.max_task_spec_bytes
        raise TooLarge(
            f"the task's spec is {size} bytes; a task's spec travels in every dispatch of "
            f"its attempts, so it may be at most {limit} bytes (CONTRAIL_MAX_TASK_SPEC_BYTES)",
            [{"field": "spec", "message": f"at most {limit} bytes, not {size}"}],
        )
    return _registered(await registration.register_task(uows, identifier, spec))


@tasks.get(
    "",
    response_model=TaskPage,
    summary="List tasks, newest first",
    responses=error_responses(400),
)
async def list_tasks(
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectQuery = None,
    domain: DomainQuery = None,
    name: NameQuery = None,
    version: VersionQuery = None,
    limit: Limit = 50,
    token: Token = None,
    include_spec: IncludeSpec = False,
) -> Response:
    where = EntityFilter(project, domain, name, version)
    return await _list(uows, ResourceType.TASK, where, limit, token, include_spec, principal)


@tasks.get(
    IDENTIFIER_PATH,
    response_model=Task,
    summary="Get a task by its full identifier",
    description="Immutable: answered with an ETag (the digest) and Cache-Control immutable; "
    "If-None-Match answers 304.",
    responses={304: {"description": "Not modified"}, **error_responses(400, 404)},
)
async def get_task(
    request: Request,
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    version: VersionPath,
) -> Response:
    parts = (project, domain, name, version)
    return await _get(request, uows, ResourceType.TASK, parts, principal)


# --- workflows ---------------------------------------------------------------------------

workflows = APIRouter(prefix=PATHS[ResourceType.WORKFLOW], tags=["workflows"])


@workflows.post(
    "",
    status_code=201,
    response_model=Registered,
    summary="Register a workflow",
    description="Compile the workflow against the registered tasks and workflows it references "
    "and store it with its closure. Compile errors: 400 compile_error listing "
    "{code, node, input, message}.",
    responses=_REGISTER_RESPONSES,
    openapi_extra=request_body(WorkflowRegistration),
)
async def register_workflow(
    request: Request, uows: UoWFactory, settings: Settings, principal: Authenticated
) -> JSONResponse:
    document = await _document(request, settings)
    identifier, body = _checked_body(ResourceType.WORKFLOW, document)
    principal.require(Role.EDITOR, identifier.project, identifier.domain)
    spec = validated(WorkflowRegistration, body).spec
    return _registered(await registration.register_workflow(uows, identifier, spec))


@workflows.get(
    "",
    response_model=WorkflowPage,
    summary="List workflows, newest first",
    responses=error_responses(400),
)
async def list_workflows(
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectQuery = None,
    domain: DomainQuery = None,
    name: NameQuery = None,
    version: VersionQuery = None,
    limit: Limit = 50,
    token: Token = None,
    include_spec: IncludeSpec = False,
) -> Response:
    where = EntityFilter(project, domain, name, version)
    return await _list(uows, ResourceType.WORKFLOW, where, limit, token, include_spec, principal)


@workflows.get(
    IDENTIFIER_PATH,
    response_model=Workflow,
    summary="Get a workflow and its closure by its full identifier",
    description="Immutable: answered with an ETag (the digest) and Cache-Control immutable; "
    "If-None-Match answers 304.",
    responses={304: {"description": "Not modified"}, **error_responses(400, 404)},
)
async def get_workflow(
    request: Request,
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    version: VersionPath,
) -> Response:
    parts = (project, domain, name, version)
    return await _get(request, uows, ResourceType.WORKFLOW, parts, principal)


# --- launch plans --------------------------------------------------------------------------

launch_plans = APIRouter(prefix=PATHS[ResourceType.LAUNCH_PLAN], tags=["launch plans"])


@launch_plans.post(
    "",
    status_code=201,
    response_model=Registered,
    summary="Register a launch plan",
    description="The launch plan's workflow must be registered (404 names it); its inputs are "
    "checked against the workflow's interface and its cron expression is parsed (400 "
    "compile_error). It is stored INACTIVE.",
    responses=_REGISTER_RESPONSES,
    openapi_extra=request_body(LaunchPlanRegistration),
)
async def register_launch_plan(
    request: Request, uows: UoWFactory, settings: Settings, principal: Authenticated
) -> JSONResponse:
    document = await _document(request, settings)
    identifier, body = _checked_body(ResourceType.LAUNCH_PLAN, document)
    principal.require(Role.EDITOR, identifier.project, identifier.domain)
    spec = validated(LaunchPlanRegistration, body).spec
    box = SecretBox.from_setting(settings.secrets_key)  # seals the notifications' secrets
    return _registered(await registration.register_launch_plan(uows, identifier, spec, box))


@launch_plans.get(
    "",
    response_model=LaunchPlanPage,
    summary="List launch plans, newest first",
    responses=error_responses(400),
)
async def list_launch_plans(
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectQuery = None,
    domain: DomainQuery = None,
    name: NameQuery = None,
    version: VersionQuery = None,
    state: Annotated[LaunchPlanState | None, Query(description="Only this state.")] = None,
    limit: Limit = 50,
    token: Token = None,
    include_spec: IncludeSpec = False,
) -> Response:
    where = EntityFilter(project, domain, name, version, state)
    return await _list(uows, ResourceType.LAUNCH_PLAN, where, limit, token, include_spec, principal)


@launch_plans.get(
    IDENTIFIER_PATH,
    response_model=LaunchPlan,
    summary="Get a launch plan and its state by its full identifier",
    description="Its state changes, so it is answered with Cache-Control no-cache and an ETag "
    "over its digest and state; If-None-Match answers 304.",
    responses={304: {"description": "Not modified"}, **error_responses(400, 404)},
)
async def get_launch_plan(
    request: Request,
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    version: VersionPath,
) -> Response:
    parts = (project, domain, name, version)
    return await _get(request, uows, ResourceType.LAUNCH_PLAN, parts, principal)


async def _change_state(
    uows: UoWFactory, parts: tuple[str, str, str, str], state: LaunchPlanState, principal: Principal
) -> Response:
    principal.require(Role.EDITOR, parts[0], parts[1])
    identifier = identifier_of(ResourceType.LAUNCH_PLAN, *parts)
    entity = await launch_plan_state.change_state(uows, identifier, state)
    return Response(
        entity_json(entity), media_type="application/json", headers=_cache_headers(entity)
    )


@launch_plans.post(
    IDENTIFIER_PATH + "/activate",
    response_model=LaunchPlan,
    summary="Activate a launch plan version",
    description="The version becomes ACTIVE (its schedule runs) and the name's other active "
    "version, if any, INACTIVE; each change writes contrail.launch_plan.state_changed.",
    responses=error_responses(400, 404),
)
async def activate_launch_plan(
    request: Request,
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    version: VersionPath,
) -> Response:
    parts = (project, domain, name, version)
    return await _change_state(uows, parts, LaunchPlanState.ACTIVE, principal)


@launch_plans.post(
    IDENTIFIER_PATH + "/deactivate",
    response_model=LaunchPlan,
    summary="Deactivate a launch plan version",
    description="The version becomes INACTIVE; writes contrail.launch_plan.state_changed when "
    "it was active.",
    responses=error_responses(400, 404),
)
async def deactivate_launch_plan(
    request: Request,
    uows: UoWFactory,
    principal: Authenticated,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    version: VersionPath,
) -> Response:
    parts = (project, domain, name, version)
    return await _change_state(uows, parts, LaunchPlanState.INACTIVE, principal)


ROUTERS = (tasks, workflows, launch_plans)
