"""The executions API: create, get, list, nodes, logs, abort, relaunch, recover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from services.launcher.adapters import execution_queries as queries
from services.launcher.adapters.logs import read_log
from services.launcher.bootstrap import LauncherServices
from services.launcher.domain import Abort, ExecutionState
from services.launcher.domain.plan import UnknownNode, plan_of
from services.launcher.entrypoints.representations import (
    AbortBody,
    Attempt,
    Created,
    CreateExecution,
    Execution,
    ExecutionPage,
    NewName,
    NodeExecution,
    NodeList,
)
from services.launcher.service_layer.errors import AttemptNotFound, ExecutionNotFound
from services.launcher.service_layer.launch import EntityChoice, LaunchRequest, execution_key
from shared.auth.dependency import Authenticated
from shared.auth.principal import require_list
from shared.auth.roles import Role
from shared.events.catalogue import ExecutionError
from shared.identifiers import Identifier
from shared.phases import ExecutionPhase
from shared.routes import console_url
from shared.service.errors import error_responses

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])

FOLLOW_POLL_SECONDS = 0.5
_ERRORS = {
    400: "invalid_inputs (one detail per bad input) or invalid_request (names, parameters)",
    404: "No such launch plan, workflow, task, execution or attempt",
    409: "An execution of that name exists in the project and domain",
    413: "The inputs are over CONTRAIL_MAX_INPUTS_BYTES",
    503: "The registry is unavailable",
}


def services(request: Request) -> LauncherServices:
    found: LauncherServices = request.app.state.launcher
    return found


Services = Annotated[LauncherServices, Depends(services)]


def execution_url(svc: LauncherServices, project: str, domain: str, name: str) -> str:
    return console_url(svc.settings.console_base_url, project, domain, name)


def _execution(svc: LauncherServices, row: queries.ExecutionRow) -> Execution:
    duration = None
    if row.started_at is not None:
        end = row.ended_at or row.updated_at
        duration = max((end - row.started_at).total_seconds(), 0.0)
    return Execution(
        execution_id=row.key,
        project=row.project,
        domain=row.domain,
        name=row.name,
        phase=row.phase,
        inputs=row.inputs,
        outputs=row.outputs,
        error=ExecutionError.model_validate(row.error) if row.error else None,
        workflow=Identifier.model_validate(row.workflow),
        launch_plan=Identifier.model_validate(row.launch_plan) if row.launch_plan else None,
        labels=row.labels,
        created_at=row.created_at,
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        duration_seconds=duration,
        relaunched_from=row.relaunched_from,
        recovered_from=row.recovered_from,
        scheduled_at=row.scheduled_at,
        url=execution_url(svc, row.project, row.domain, row.name),
    )


async def _row(svc: LauncherServices, key: str) -> queries.ExecutionRow:
    row = await queries.get_execution(svc.pool, key)
    if row is None:
        raise ExecutionNotFound(f"no execution {key}")
    return row


async def _created(svc: LauncherServices, key: str) -> JSONResponse:
    row = await _row(svc, key)
    execution = _execution(svc, row)
    body = Created(execution=execution, url=execution.url)
    return JSONResponse(body.model_dump(mode="json"), status_code=201)


@router.post(
    "",
    status_code=201,
    response_model=Created,
    summary="Launch an execution",
    description="From a launch plan, a workflow (its default launch plan) or a task. "
    "400 invalid_inputs lists each bad input; 404 for an unknown target; 409 for a taken name.",
    responses=error_responses(_ERRORS, 400, 404, 409, 413, 503),
)
async def create_execution(
    body: CreateExecution, svc: Services, principal: Authenticated
) -> JSONResponse:
    principal.require(Role.LAUNCHER, body.project, body.domain)

    def choice(value: Any) -> EntityChoice | None:
        return None if value is None else EntityChoice(value.name, value.version)

    request = LaunchRequest(
        project=body.project,
        domain=body.domain,
        name=body.name,
        launch_plan=choice(body.launch_plan),
        workflow=choice(body.workflow),
        task=choice(body.task),
        inputs=body.inputs,
        labels=body.labels,
    )
    state = await svc.launcher.launch(request)
    return await _created(svc, state.execution.key)


@router.get(
    "",
    response_model=ExecutionPage,
    summary="List executions, newest first",
    responses=error_responses(_ERRORS, 400),
)
async def list_executions(
    svc: Services,
    principal: Authenticated,
    project: str | None = None,
    domain: str | None = None,
    workflow: str | None = None,
    launch_plan: str | None = None,
    phase: ExecutionPhase | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    token: str | None = None,
) -> ExecutionPage:
    require_list(principal, Role.VIEWER, project, domain)
    where = queries.ExecutionFilter(
        project, domain, workflow, launch_plan, phase.value if phase else None, since, until
    )
    rows, next_token = await queries.list_executions(svc.pool, where, limit, token)
    return ExecutionPage(items=[_execution(svc, row) for row in rows], next_token=next_token)


@router.get(
    "/{project}/{domain}/{name}",
    response_model=Execution,
    summary="Get an execution",
    responses=error_responses(_ERRORS, 404),
)
async def get_execution(
    project: str, domain: str, name: str, svc: Services, principal: Authenticated
) -> Execution:
    principal.require(Role.VIEWER, project, domain)
    return _execution(svc, await _row(svc, execution_key(project, domain, name)))


@router.get(
    "/{project}/{domain}/{name}/nodes",
    response_model=NodeList,
    summary="Node executions and their task attempts",
    responses=error_responses(_ERRORS, 404),
)
async def list_nodes(
    project: str, domain: str, name: str, svc: Services, principal: Authenticated
) -> NodeList:
    principal.require(Role.VIEWER, project, domain)
    key = execution_key(project, domain, name)
    row = await _row(svc, key)
    closure = await svc.closure(row.closure_digest)
    plan = plan_of(closure)
    recovered = await queries.recovered_paths(svc.pool, key)
    items = []
    for path, node in await queries.node_states(svc.pool, key):
        try:
            task = plan.info(path).task
        except (UnknownNode, KeyError):
            task = None
        requested = task.spec.resources if task is not None else None
        items.append(
            NodeExecution(
                node_path=path,
                kind=node.kind.value,
                task=task.identifier.name if task is not None else None,
                recovered=path in recovered and not node.attempts,
                phase=node.phase.value if node.phase else None,
                map_index=node.map_index,
                started_at=node.started_at,
                updated_at=node.updated_at,
                ended_at=node.ended_at,
                cache_hit=node.cache_hit,
                inputs=node.inputs,
                outputs=node.outputs,
                error=node.error,
                attempts=[
                    Attempt(
                        attempt=a.attempt,
                        phase=a.phase.value,
                        worker_id=a.worker_id,
                        error=a.error,
                        resources_requested=requested,
                        resources_used=a.usage,
                        log_uri=a.log_uri,
                        queued_at=a.queued_at,
                        started_at=a.started_at,
                        ended_at=a.ended_at,
                    )
                    for a in node.attempts
                ],
            )
        )
    return NodeList(items=items)


async def _attempt_state(
    svc: LauncherServices, key: str, node_path: str, attempt: int
) -> tuple[str | None, bool]:
    """The attempt's log URI and whether it is over."""
    for path, node in await queries.node_states(svc.pool, key):
        if path != node_path:
            continue
        for a in node.attempts:
            if a.attempt == attempt:
                return a.log_uri, a.phase.is_terminal
    raise AttemptNotFound(f"no attempt {attempt} of node {node_path} in {key}")


@router.get(
    "/{project}/{domain}/{name}/nodes/{node_path:path}/attempts/{attempt}/logs",
    summary="An attempt's stdout or stderr",
    description="The text so far; with follow=true a chunked stream that ends with the attempt.",
    response_class=PlainTextResponse,
    responses=error_responses(_ERRORS, 400, 404),
)
async def attempt_logs(
    project: str,
    domain: str,
    name: str,
    node_path: str,
    attempt: int,
    svc: Services,
    principal: Authenticated,
    stream: Literal["stdout", "stderr"] = "stdout",
    follow: bool = False,
) -> Response:
    principal.require(Role.VIEWER, project, domain)
    key = execution_key(project, domain, name)
    log_uri, over = await _attempt_state(svc, key, node_path, attempt)
    if not follow:
        if log_uri is None:
            return PlainTextResponse("")
        data = await read_log(svc.store, log_uri, stream)
        return PlainTextResponse((data or b"").decode(errors="replace"))

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        uri, done = log_uri, over
        while True:
            if uri is not None:
                data = await read_log(svc.store, uri, stream) or b""
                if len(data) > sent:
                    yield data[sent:]
                    sent = len(data)
            if done:
                return
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            uri, done = await _attempt_state(svc, key, node_path, attempt)
            if done and uri is not None:
                # One last read: the worker stores the final logs as it ends.
                continue

    return StreamingResponse(chunks(), media_type="text/plain; charset=utf-8")


@router.post(
    "/{project}/{domain}/{name}/abort",
    status_code=202,
    response_model=Execution,
    summary="Abort an execution",
    description="Running attempts are terminated; the execution ends ABORTED.",
    responses=error_responses(_ERRORS, 404),
)
async def abort_execution(
    project: str,
    domain: str,
    name: str,
    svc: Services,
    principal: Authenticated,
    body: AbortBody | None = None,
) -> JSONResponse:
    principal.require(Role.LAUNCHER, project, domain)
    key = execution_key(project, domain, name)
    cause = body.cause if body is not None else AbortBody().cause
    state = await svc.engine.apply(key, Abort(cause=cause))
    if state is None:
        raise ExecutionNotFound(f"no execution {key}")
    row = await _row(svc, key)
    return JSONResponse(_execution(svc, row).model_dump(mode="json"), status_code=202)


@router.post(
    "/{project}/{domain}/{name}/relaunch",
    status_code=201,
    response_model=Created,
    summary="Run the same inputs as a new execution",
    responses=error_responses(_ERRORS, 400, 404, 409),
)
async def relaunch_execution(
    project: str,
    domain: str,
    name: str,
    svc: Services,
    principal: Authenticated,
    body: NewName | None = None,
) -> JSONResponse:
    principal.require(Role.LAUNCHER, project, domain)
    return await _again(svc, svc.launcher.relaunch, project, domain, name, body)


@router.post(
    "/{project}/{domain}/{name}/recover",
    status_code=201,
    response_model=Created,
    summary="Re-run an execution, reusing the outputs of the nodes that succeeded",
    responses=error_responses(_ERRORS, 400, 404, 409),
)
async def recover_execution(
    project: str,
    domain: str,
    name: str,
    svc: Services,
    principal: Authenticated,
    body: NewName | None = None,
) -> JSONResponse:
    principal.require(Role.LAUNCHER, project, domain)
    return await _again(svc, svc.launcher.recover, project, domain, name, body)


async def _again(
    svc: LauncherServices,
    start: Callable[[str, str, str, str | None], Awaitable[ExecutionState]],
    project: str,
    domain: str,
    name: str,
    body: NewName | None,
) -> JSONResponse:
    """Start a new execution from execution ``name`` (relaunch or recover): 201 with it."""
    state = await start(project, domain, name, body.name if body else None)
    return await _created(svc, state.execution.key)
