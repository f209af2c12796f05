"""Reading what is registered: one entity by identifier, or newest-first pages."""

from __future__ import annotations

from services.registry.adapters.entities import EntityFilter, StoredEntity
from services.registry.service_layer.errors import NotFound
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.db.paging import Page, decode_token, page_of
from shared.identifiers import Identifier, ResourceType


async def get_entity(uow_factory: RegistryUoWFactory, identifier: Identifier) -> StoredEntity:
    """The entity with its spec (and a workflow's closure)."""
    async with uow_factory(atomic=False) as uow:
        entity = await uow.entities.get(identifier)
    if entity is None:
        kind = identifier.resource_type.value.replace("_", " ")
        raise NotFound(f"{kind} {identifier.urn} is not registered")
    return entity


async def list_entities(
    uow_factory: RegistryUoWFactory,
    kind: ResourceType,
    where: EntityFilter,
    *,
    limit: int,
    token: str | None,
    include_spec: bool,
) -> Page[StoredEntity]:
    """Entities of ``kind`` matching ``where``, newest first."""
    before = decode_token(token)
    async with uow_factory(atomic=False) as uow:
        fetched = await uow.entities.newest(
            kind, where, limit=limit + 1, before_id=before, spec=include_spec
        )
    return page_of(fetched, limit, lambda entity: entity.id)
