"""Reading what is registered: one entity by identifier, or newest-first pages."""

from __future__ import annotations

import asyncpg
from services.registry.service_layer.errors import NotFound
from shared.db.paging import Page, decode_token, page_of
from shared.identifiers import Identifier, ResourceType

from services.registry.adapters.entities import EntityFilter, EntityRepository, StoredEntity


async def get_entity(pool: asyncpg.Pool, identifier: Identifier) -> StoredEntity:
    """The entity with its spec (and a workflow's closure)."""
    async with pool.acquire() as conn:
        entity = await EntityRepository(conn).get(identifier)
    if entity is None:
        kind = identifier.resource_type.value.replace("_", " ")
        raise NotFound(f"{kind} {identifier.urn} is not registered")
    return entity


async def list_entities(
    pool: asyncpg.Pool,
    kind: ResourceType,
    where: EntityFilter,
    *,
    limit: int,
    token: str | None,
    include_spec: bool,
) -> Page[StoredEntity]:
    """Entities of ``kind`` matching ``where``, newest first."""
    before = decode_token(token)
    async with pool.acquire() as conn:
        fetched = await EntityRepository(conn).newest(
            kind, where, limit=limit + 1, before_id=before, spec=include_spec
        )
    return page_of(fetched, limit, lambda entity: entity.id)
