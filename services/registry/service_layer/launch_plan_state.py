"""Activating and deactivating launch plans: at most one active version per name."""

from __future__ import annotations

from services.registry.adapters.entities import StoredEntity
from services.registry.service_layer import audit_log
from services.registry.service_layer.errors import NotFound
from services.registry.service_layer.events import state_changed
from services.registry.service_layer.unit_of_work import RegistryUoWFactory
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import Identifier, ResourceType
from shared.outbox import OutboxMessage


async def change_state(
    uow_factory: RegistryUoWFactory, identifier: Identifier, state: LaunchPlanState
) -> StoredEntity:
    """Set the launch plan's state; activating it deactivates the name's active version.

    Each launch plan whose state changes gets a ``state_changed`` event; asking
    for the state it is already in changes nothing and writes no event.
    """
    assert identifier.resource_type is ResourceType.LAUNCH_PLAN
    async with uow_factory() as uow:
        launch_plans = uow.entities
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
            messages.append(audit_log.state_changed(identifier, state))
        await uow.outbox.add(messages)
        updated = await launch_plans.get(identifier)
        await uow.commit()
    assert updated is not None
    return updated
