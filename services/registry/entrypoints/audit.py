"""The audit log over HTTP (``GET /api/v1/audit``) and its consumer of ``contrail.audit``.

The consumer reads every service's entries in the registry's own group through
``shared.kafka.BatchConsumer``: a fetched batch is kept in one transaction
(each event id once) and its offsets are committed after it. A record that is
not an audit event goes to ``contrail.audit.dlq``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.registry.adapters.audit_log import AuditEntry, AuditFilter
from services.registry.bootstrap import RegistryServices
from services.registry.entrypoints.dependencies import UoWFactory
from services.registry.entrypoints.openapi import error_responses
from services.registry.entrypoints.representations import Page
from services.registry.service_layer import audit_log as service
from shared.auth.dependency import Authenticated
from shared.auth.roles import ALL_PROJECTS, Role
from shared.events.catalogue import AuditAction, decode_event
from shared.events.topics import AUDIT
from shared.kafka import BatchConsumer, Record
from shared.service.app import ServiceRuntime
from shared.settings import InfraSettings

AUDIT_GROUP = "contrail-registry-audit"

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditLogEntry(BaseModel):
    """Who did what, to which resource, when."""

    id: str = Field(description="The audit event's id.")
    time: datetime = Field(description="When the change was made.")
    actor: str = Field(description="The principal; system for Contrail's own changes.")
    action: AuditAction
    project: str | None
    domain: str | None
    resource: str = Field(description="What was acted on: a URN, or a token's or rule's id.")
    details: dict[str, Any] = Field(description="What else the action names; never a secret.")
    source: str = Field(description="The service that made the change: /contrail/<svc>.")


class AuditPage(Page[AuditLogEntry]):
    pass


def _entry(entry: AuditEntry) -> AuditLogEntry:
    return AuditLogEntry(
        id=entry.event_id,
        time=entry.at,
        actor=entry.actor,
        action=AuditAction(entry.action),
        project=entry.project,
        domain=entry.domain,
        resource=entry.resource,
        details=entry.details,
        source=entry.source,
    )


@router.get(
    "",
    response_model=AuditPage,
    summary="List audit log entries, newest first",
    description="Registrations, project changes, launches, aborts, relaunches, recoveries, "
    "token, grant and subscription changes: who, what, when. Entries appear within a moment "
    "of the change (they travel through contrail.audit). Needs admin on the project, or on "
    "every project (*) when no project is given.",
    responses=error_responses(400),
)
async def list_audit(
    uows: UoWFactory,
    principal: Authenticated,
    project: Annotated[str | None, Query(description="Only this project's entries.")] = None,
    domain: Annotated[str | None, Query(description="Only this domain's entries.")] = None,
    action: Annotated[AuditAction | None, Query(description="Only this action.")] = None,
    actor: Annotated[str | None, Query(description="Only this principal's entries.")] = None,
    since: Annotated[datetime | None, Query(description="Changes at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Changes before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many items.")] = 50,
    token: Annotated[str | None, Query(description="The previous page's next_token.")] = None,
) -> AuditPage:
    if project is None:
        principal.require(Role.ADMIN, ALL_PROJECTS)
    else:
        principal.require(Role.ADMIN, project, domain)
    where = AuditFilter(
        project=project,
        domain=domain,
        action=action.value if action is not None else None,
        actor=actor,
        since=since,
        until=until,
    )
    page = await service.entries(uows, where, limit, token)
    return AuditPage(items=[_entry(e) for e in page.items], next_token=page.next_token)


def decode(record: Record) -> AuditEntry | None:
    """The entry of ``record`` (raises for a malformed one: dead-lettered)."""
    return service.entry_of(decode_event(record.value or b""))


def audit_consumer(
    settings: InfraSettings, svc: RegistryServices, group_id: str = AUDIT_GROUP
) -> BatchConsumer[AuditEntry]:
    async def on_entries(entries: list[AuditEntry]) -> None:
        await service.keep(svc.uow_factory, entries)

    return BatchConsumer(
        settings,
        AUDIT,
        group_id,
        on_entries,
        client_id="contrail-registry-audit",
        decode=decode,
    )


def start_audit_consumer(
    runtime: ServiceRuntime, settings: InfraSettings, svc: RegistryServices
) -> None:
    """Keep the audit log in the background until the service stops."""
    task = asyncio.get_running_loop().create_task(
        audit_consumer(settings, svc).run(), name="registry-audit"
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.shutdown_hooks.append(stop)
