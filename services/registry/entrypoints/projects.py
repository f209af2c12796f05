"""Projects over HTTP: create, list, get."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from services.registry.adapters.projects import StoredProject
from services.registry.entrypoints.dependencies import UoWFactory
from services.registry.entrypoints.identifiers import check_project_and_domains
from services.registry.entrypoints.openapi import error_responses
from services.registry.entrypoints.representations import Project, ProjectCreate, ProjectPage
from services.registry.service_layer import projects as service
from services.registry.service_layer.errors import InvalidRequest
from shared.auth.dependency import Authenticated
from shared.auth.roles import Role

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


def _project(project: StoredProject) -> Project:
    return Project(
        name=project.name,
        description=project.description,
        domains=list(project.domains),
        created_at=project.created_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=Project,
    summary="Create a project with its domains",
    description="The identical project again: 200. The name taken with another description or "
    "other domains: 409 with what differs.",
    responses={
        200: {"model": Project, "description": "The identical project exists already"},
        **error_responses(400, 409),
    },
)
async def create_project(
    body: ProjectCreate, uows: UoWFactory, principal: Authenticated
) -> JSONResponse:
    check_project_and_domains(body.name, body.domains)
    # Creating a project is managing it: admin on its name (or on *).
    principal.require(Role.ADMIN, body.name)
    if len(set(body.domains)) != len(body.domains):
        message = "domains are listed more than once"
        raise InvalidRequest(message, [{"field": "domains", "message": message}])
    project, created = await service.create_project(uows, body.name, body.description, body.domains)
    return JSONResponse(
        _project(project).model_dump(mode="json"),
        status_code=201 if created else 200,
        headers={"Location": f"/api/v1/projects/{project.name}"},
    )


@router.get(
    "",
    response_model=ProjectPage,
    summary="List projects, newest first",
    responses=error_responses(400),
)
async def list_projects(
    uows: UoWFactory,
    principal: Authenticated,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many items.")] = 50,
    token: Annotated[str | None, Query(description="The previous page's next_token.")] = None,
) -> ProjectPage:
    page = await service.list_projects(uows, limit, token)
    # Only the projects the principal may read (a page may hold fewer than limit).
    readable = principal.projects(Role.VIEWER)
    items = [_project(p) for p in page.items if readable is None or p.name in readable]
    return ProjectPage(items=items, next_token=page.next_token)


@router.get(
    "/{name}",
    response_model=Project,
    summary="Get a project",
    responses=error_responses(404),
)
async def get_project(
    uows: UoWFactory,
    principal: Authenticated,
    name: Annotated[str, Path(description="The project's name.")],
) -> Project:
    principal.require(Role.VIEWER, name)
    return _project(await service.get_project(uows, name))
