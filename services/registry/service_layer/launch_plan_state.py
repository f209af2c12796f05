"""Activating and deactivating launch plans: at most one active version per name."""

from __future__ import annotations

import asyncpg

from services.registry.adapters.entities import EntityRepository, StoredEntity
from services.registry.service_layer.errors import NotFound
from services.registry.service_layer.events import state_changed
from shared.db import transaction
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType
from shared.outbox import OutboxMessage, enqueue


async def change_state(
    pool: asyncpg.Pool, identifier: Identifier, state: LaunchPlanState
) -> StoredEntity:
    """Set the launch plan's state; activating it deactivates the name's active version.

    Each launch plan whose state changes gets a ``state_changed`` event; asking
    for the state it is already in changes nothing and writes no event.
    """
    assert identifier.resource_type is ResourceType.LAUNCH_PLAN
    async with transaction(pool) as conn:
        launch_plans = EntityRepository(conn)
        await launch_plans.lock_launch_plan_name(
            identifier.project, identifier.domain, identifier.name
        )
        current = await launch_plans.get(identifier)
        if current is None:
            raise NotFound(f"launch plan {identifier.urn} is not registered")
        messages: list[OutboxMessage] = []
        if state is LaunchPlanState.ACTIVE:
            for other in await launch_plans.deactivate_others(identifier):
                messages.append(state_changed(other, LaunchPlanState.INACTIVE))
        if current.state is not state:
            await launch_plans.set_state(identifier, state)
            messages.append(state_changed(identifier, state))
        if messages:
            await enqueue(conn, messages)
        updated = await launch_plans.get(identifier)
    assert updated is not None
    return updated
