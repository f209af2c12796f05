"""The registry's unit of work: its entities, its projects and its outbox in one transaction.

``PostgresRegistryUnitOfWork`` (``adapters/unit_of_work.py``) is the real one;
unit tests use dictionaries behind the same interface.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from services.registry.adapters.audit_log import AuditEntry, AuditFilter
from services.registry.adapters.entities import EntityFilter, NewEntity, StoredEntity
from services.registry.adapters.projects import StoredProject
from shared.db.unit_of_work import UnitOfWork, UnitOfWorkFactory
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType


class Entities(Protocol):
    """Registered tasks, workflows and launch plans."""

    async def get(
        self, identifier: Identifier, *, closure: bool = True, for_update: bool = False
    ) -> StoredEntity | None:
        """The entity with its spec (a workflow's closure too, when ``closure``)."""

    async def insert(self, entity: NewEntity) -> StoredEntity | None:
        """The stored entity, or None when its identifier is taken already.

        Raises ``UnstorableText`` for a spec the store cannot keep.
        """

    async def newest(
        self,
        kind: ResourceType,
        where: EntityFilter,
        *,
        limit: int,
        before_id: int | None,
        spec: bool,
    ) -> list[StoredEntity]:
        """Up to ``limit`` entities matching ``where``, newest first, older than ``before_id``."""

    async def task_specs(self, identifiers: Collection[Identifier]) -> dict[Identifier, bytes]:
        """The canonical spec bytes of those of ``identifiers`` that are registered tasks."""

    async def workflow_closures(
        self, identifiers: Collection[Identifier]
    ) -> dict[Identifier, bytes]:
        """The canonical closure bytes of those of ``identifiers`` that are registered."""

    async def lock_launch_plan_name(self, project: str, domain: str, name: str) -> None:
        """Serialise state changes of one launch plan name until the transaction ends."""

    async def deactivate_others(self, identifier: Identifier) -> list[Identifier]:
        """Deactivate the active versions of the name other than ``identifier``'s."""

    async def set_state(self, identifier: Identifier, state: LaunchPlanState) -> None: ...


class Projects(Protocol):
    """Projects, never deleted."""

    async def get(self, name: str) -> StoredProject | None: ...

    async def insert(
        self, name: str, description: str, domains: Sequence[str]
    ) -> StoredProject | None:
        """The new project, or None when one of that name exists already."""

    async def newest(self, limit: int, before_id: int | None) -> list[StoredProject]:
        """Up to ``limit`` projects, newest first, older than ``before_id`` when given."""


class AuditLog(Protocol):
    """The audit log: entries of every service, kept once each."""

    async def add(self, entries: Sequence[AuditEntry]) -> int:
        """Keep the entries whose event id is new; return how many were."""

    async def newest(
        self, where: AuditFilter, *, limit: int, before_id: int | None
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries matching ``where``, newest first, older than ``before_id``."""


class RegistryUnitOfWork(UnitOfWork):
    """One transaction over the registry's entities, projects, audit log and outbox."""

    entities: Entities
    projects: Projects
    audit_log: AuditLog


RegistryUoWFactory = UnitOfWorkFactory[RegistryUnitOfWork]
