"""The registry's repositories and unit of work over dictionaries."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from services.registry.adapters.audit_log import AuditEntry, AuditFilter
from services.registry.adapters.entities import (
    EntityFilter,
    NewEntity,
    StoredEntity,
    UnstorableText,
)
from services.registry.adapters.projects import StoredProject
from services.registry.service_layer.unit_of_work import RegistryUnitOfWork
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType
from tests.unit.fakes import FakeState, FakeUnitOfWork


class RegistryState(FakeState):
    def __init__(self) -> None:
        super().__init__()
        self.entities: dict[Identifier, StoredEntity] = {}
        self.projects: dict[str, StoredProject] = {}
        self.audit_log: dict[str, AuditEntry] = {}
        self.ids = itertools.count(1)


class FakeEntities:
    def __init__(self, state: RegistryState) -> None:
        self._state = state

    async def get(
        self, identifier: Identifier, *, closure: bool = True, for_update: bool = False
    ) -> StoredEntity | None:
        found = self._state.entities.get(identifier)
        if found is None or closure:
            return found
        return replace(found, closure_bytes=None)

    async def insert(self, entity: NewEntity) -> StoredEntity | None:
        if entity.identifier in self._state.entities:
            return None
        if b"\\u0000" in entity.spec_bytes:
            raise UnstorableText("the spec contains a character PostgreSQL cannot store")
        launch_plan = entity.identifier.resource_type is ResourceType.LAUNCH_PLAN
        stored = StoredEntity(
            id=next(self._state.ids),
            identifier=entity.identifier,
            digest=entity.digest,
            created_at=datetime.now(UTC),
            spec_bytes=entity.spec_bytes,
            closure_bytes=entity.closure_bytes,
            state=LaunchPlanState.INACTIVE if launch_plan else None,
        )
        self._state.entities[entity.identifier] = stored
        return replace(stored, spec_bytes=None, closure_bytes=None)

    async def newest(
        self,
        kind: ResourceType,
        where: EntityFilter,
        *,
        limit: int,
        before_id: int | None,
        spec: bool,
    ) -> list[StoredEntity]:
        found = [
            replace(e, spec_bytes=e.spec_bytes if spec else None, closure_bytes=None)
            for i, e in self._state.entities.items()
            if i.resource_type is kind
            and all(
                wanted is None or wanted == actual
                for wanted, actual in [
                    (where.project, i.project),
                    (where.domain, i.domain),
                    (where.name, i.name),
                    (where.version, i.version),
                    (where.state, e.state),
                ]
            )
            and (before_id is None or e.id < before_id)
        ]
        return sorted(found, key=lambda e: -e.id)[:limit]

    async def task_specs(self, identifiers: Collection[Identifier]) -> dict[Identifier, bytes]:
        return {
            i: e.spec_bytes
            for i in identifiers
            if (e := self._state.entities.get(i)) is not None and e.spec_bytes is not None
        }

    async def workflow_closures(
        self, identifiers: Collection[Identifier]
    ) -> dict[Identifier, bytes]:
        return {
            i: e.closure_bytes
            for i in identifiers
            if (e := self._state.entities.get(i)) is not None and e.closure_bytes is not None
        }

    async def lock_launch_plan_name(self, project: str, domain: str, name: str) -> None:
        pass

    async def deactivate_others(self, identifier: Identifier) -> list[Identifier]:
        others = [
            i
            for i, e in self._state.entities.items()
            if i.resource_type is ResourceType.LAUNCH_PLAN
            and (i.project, i.domain, i.name)
            == (identifier.project, identifier.domain, identifier.name)
            and i.version != identifier.version
            and e.state is LaunchPlanState.ACTIVE
        ]
        for other in others:
            await self.set_state(other, LaunchPlanState.INACTIVE)
        return others

    async def set_state(self, identifier: Identifier, state: LaunchPlanState) -> None:
        entities = self._state.entities
        entities[identifier] = replace(entities[identifier], state=state)


class FakeProjects:
    def __init__(self, state: RegistryState) -> None:
        self._state = state

    async def get(self, name: str) -> StoredProject | None:
        return self._state.projects.get(name)

    async def insert(
        self, name: str, description: str, domains: Sequence[str]
    ) -> StoredProject | None:
        if name in self._state.projects:
            return None
        project = StoredProject(
            next(self._state.ids), name, description, tuple(domains), datetime.now(UTC)
        )
        self._state.projects[name] = project
        return project

    async def newest(self, limit: int, before_id: int | None) -> list[StoredProject]:
        found = [p for p in self._state.projects.values() if before_id is None or p.id < before_id]
        return sorted(found, key=lambda p: -p.id)[:limit]


class FakeAuditLog:
    def __init__(self, state: RegistryState) -> None:
        self._state = state

    async def add(self, entries: Sequence[AuditEntry]) -> int:
        new = [e for e in entries if e.event_id not in self._state.audit_log]
        for entry in new:
            self._state.audit_log[entry.event_id] = replace(entry, id=next(self._state.ids))
        return len(new)

    async def newest(
        self, where: AuditFilter, *, limit: int, before_id: int | None
    ) -> list[AuditEntry]:
        found = [
            e
            for e in self._state.audit_log.values()
            if all(
                wanted is None or wanted == actual
                for wanted, actual in [
                    (where.project, e.project),
                    (where.domain, e.domain),
                    (where.action, e.action),
                    (where.actor, e.actor),
                ]
            )
            and (where.since is None or e.at >= where.since)
            and (where.until is None or e.at < where.until)
            and (before_id is None or (e.id or 0) < before_id)
        ]
        return sorted(found, key=lambda e: -(e.id or 0))[:limit]


class FakeRegistryUnitOfWork(FakeUnitOfWork[RegistryState], RegistryUnitOfWork):
    def _bind(self, state: RegistryState) -> None:
        self.entities = FakeEntities(state)
        self.projects = FakeProjects(state)
        self.audit_log = FakeAuditLog(state)


class FakeRegistryUoWFactory:
    """A unit of work factory over one shared ``state``, as the service layer takes it."""

    def __init__(self) -> None:
        self.state = RegistryState()

    def __call__(self, *, atomic: bool = True) -> FakeRegistryUnitOfWork:
        return FakeRegistryUnitOfWork(self.state, atomic=atomic)
