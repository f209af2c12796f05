"""The audit log: the registry's own entries, keeping every service's, and reading them.

The registry audits what it changes (a new registration, a project created, a
launch plan activated or deactivated) with ``shared.audit.audit_record``, in
the change's transaction. Every service's entries come back through
``contrail.audit``: ``keep`` stores a consumed batch in one transaction, each
event id once, so a redelivered batch adds nothing; ``entries`` lists them
newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.registry.adapters.audit_log import AuditEntry, AuditFilter
from services.registry.adapters.projects import StoredProject
from services.registry.service_layer.events import project_urn
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.audit import audit_record
from shared.db.paging import Page, decode_token, page_of
from shared.events.catalogue import AuditAction, AuditRecorded, LaunchPlanState
from shared.events.envelope import CloudEvent
from shared.identifiers import Identifier
from shared.outbox import OutboxMessage

SERVICE = "registry"


def registered(identifier: Identifier, digest: str) -> OutboxMessage:
    """The audit entry of a new registration (an identical one again is none)."""
    return audit_record(
        AuditAction.REGISTER,
        service=SERVICE,
        project=identifier.project,
        domain=identifier.domain,
        resource=identifier.urn,
        details={"kind": identifier.resource_type.value, "digest": digest},
    )


def project_created(project: StoredProject) -> OutboxMessage:
    return audit_record(
        AuditAction.PROJECT_CREATE,
        service=SERVICE,
        project=project.name,
        domain=None,
        resource=project_urn(project.name),
        details={"domains": list(project.domains)},
    )


def state_changed(identifier: Identifier, state: LaunchPlanState) -> OutboxMessage:
    """The audit entry of a launch plan's state set on request (not one deactivated by it)."""
    action = (
        AuditAction.LAUNCH_PLAN_ACTIVATE
        if state is LaunchPlanState.ACTIVE
        else AuditAction.LAUNCH_PLAN_DEACTIVATE
    )
    return audit_record(
        action,
        service=SERVICE,
        project=identifier.project,
        domain=identifier.domain,
        resource=identifier.urn,
    )


def entry_of(event: CloudEvent[Any]) -> AuditEntry | None:
    """The log entry of a consumed event; None for an event that is not an audit entry."""
    data = event.data
    if not isinstance(data, AuditRecorded):
        return None
    return AuditEntry(
        event_id=event.id,
        at=event.time,
        actor=data.actor,
        action=data.action.value,
        project=data.project,
        domain=data.domain,
        resource=data.resource,
        details=dict(data.details),
        source=event.source,
    )


async def keep(uow_factory: RegistryUoWFactory, entries: Sequence[AuditEntry]) -> int:
    """Store the entries not stored before, in one transaction; return how many were new."""
    unique = list({entry.event_id: entry for entry in entries}.values())
    if not unique:
        return 0
    async with uow_factory() as uow:
        added = await uow.audit_log.add(unique)
        await uow.commit()
    return added


async def entries(
    uow_factory: RegistryUoWFactory, where: AuditFilter, limit: int, token: str | None
) -> Page[AuditEntry]:
    """The entries matching ``where``, newest first, a page at a time."""
    before = decode_token(token)
    async with uow_factory(atomic=False) as uow:
        fetched = await uow.audit_log.newest(where, limit=limit + 1, before_id=before)
    return page_of(fetched, limit, _id_of)


def _id_of(entry: AuditEntry) -> int:
    assert entry.id is not None, "a stored entry has its id"
    return entry.id
