"""The outbox messages the registry writes, bound for ``contrail.registry`` keyed by name."""

from __future__ import annotations

from services.registry.adapters.projects import StoredProject
from shared.events.catalogue import (
    EntityRegistered,
    LaunchPlanRegistered,
    LaunchPlanState,
    LaunchPlanStateChanged,
    ProjectCreated,
    TaskRegistered,
    WorkflowRegistered,
)
from shared.events.envelope import CloudEvent, EventData, source_of
from shared.events.topics import REGISTRY
from shared.identifiers import Identifier, ResourceType
from shared.outbox import OutboxMessage

SOURCE = source_of("registry")

_REGISTERED: dict[ResourceType, type[EntityRegistered]] = {
    ResourceType.TASK: TaskRegistered,
    ResourceType.WORKFLOW: WorkflowRegistered,
    ResourceType.LAUNCH_PLAN: LaunchPlanRegistered,
}


def _message(key: str, subject: str, data: EventData) -> OutboxMessage:
    return OutboxMessage(REGISTRY, key, CloudEvent.wrap(data, source=SOURCE, subject=subject))


def project_urn(name: str) -> str:
    return f"urn:contrail:project:{name}"


def project_created(project: StoredProject) -> OutboxMessage:
    data = ProjectCreated(project=project.name, domains=list(project.domains))
    return _message(project.name, project_urn(project.name), data)


def registered(identifier: Identifier, digest: str) -> OutboxMessage:
    data = _REGISTERED[identifier.resource_type](identifier=identifier, digest=digest)
    return _message(identifier.name, identifier.urn, data)


def state_changed(identifier: Identifier, state: LaunchPlanState) -> OutboxMessage:
    data = LaunchPlanStateChanged(identifier=identifier, state=state)
    return _message(identifier.name, identifier.urn, data)
