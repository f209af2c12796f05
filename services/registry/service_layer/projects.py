"""Projects: created explicitly, or implicitly by the first registration into them."""

from __future__ import annotations

from collections.abc import Sequence

from services.registry.adapters.projects import StoredProject
from services.registry.domain.diff import spec_differences
from services.registry.service_layer import audit_log
from services.registry.service_layer.errors import Conflict, InvalidIdentifier, NotFound
from services.registry.service_layer.events import project_created
from services.registry.service_layer.unit_of_work import RegistryUnitOfWork, RegistryUoWFactory
from shared.db.paging import Page, decode_token, page_of
from shared.identifiers import DEFAULT_DOMAINS


def _as_compared(description: str, domains: Sequence[str]) -> dict[str, object]:
    return {"description": description, "domains": list(domains)}


async def create_project(
    uow_factory: RegistryUoWFactory, name: str, description: str, domains: Sequence[str]
) -> tuple[StoredProject, bool]:
    """The project and whether this call created it; an identical one is left alone."""
    async with uow_factory() as uow:
        created = await uow.projects.insert(name, description, domains)
        if created is not None:
            await uow.outbox.add([project_created(created), audit_log.project_created(created)])
            await uow.commit()
            return created, True
        existing = await uow.projects.get(name)
    assert existing is not None, "a project is never deleted"
    registered = _as_compared(existing.description, existing.domains)
    submitted = _as_compared(description, domains)
    if registered != submitted:
        raise Conflict(
            f"project {name!r} exists with a different description or domains",
            spec_differences(registered, submitted),
        )
    return existing, False


async def get_project(uow_factory: RegistryUoWFactory, name: str) -> StoredProject:
    async with uow_factory(atomic=False) as uow:
        project = await uow.projects.get(name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist")
    return project


async def list_projects(
    uow_factory: RegistryUoWFactory, limit: int, token: str | None
) -> Page[StoredProject]:
    """Projects, newest first."""
    before = decode_token(token)
    async with uow_factory(atomic=False) as uow:
        fetched = await uow.projects.newest(limit + 1, before)
    return page_of(fetched, limit, lambda project: project.id)


async def ensure_project(uow: RegistryUnitOfWork, project: str, domain: str) -> None:
    """Create ``project`` (with its event) unless it exists; refuse a domain it lacks.

    Runs inside the registration's transaction. A project created here has the
    default domains, plus ``domain`` when it is not one of them.
    """
    projects = uow.projects
    existing = await projects.get(project)
    if existing is None:
        domains = [*DEFAULT_DOMAINS, *([] if domain in DEFAULT_DOMAINS else [domain])]
        created = await projects.insert(project, "", domains)
        if created is not None:
            await uow.outbox.add([project_created(created), audit_log.project_created(created)])
            return
        existing = await projects.get(project)
        assert existing is not None, "a project is never deleted"
    check_domain(existing, domain)


def check_domain(project: StoredProject, domain: str) -> None:
    if domain not in project.domains:
        raise InvalidIdentifier(
            f"domain {domain!r} is not one of project {project.name!r}'s domains "
            f"({', '.join(project.domains)})",
            [{"field": "identifier.domain", "message": "not a domain of the project"}],
        )
