"""The registry's use cases on in-memory fakes: what they store, what they publish, what
they refuse. The same use cases run on PostgreSQL in tests/integration (test_registry_*)."""

from __future__ import annotations

import json

import pytest

from services.registry.bootstrap import bootstrap
from services.registry.service_layer import launch_plan_state, projects, queries, registration
from services.registry.service_layer.errors import (
    CompileRejected,
    Conflict,
    InvalidIdentifier,
    InvalidRequest,
    NotFound,
)
from shared.db.unit_of_work import OutboxItem
from shared.events.catalogue import LaunchPlanState
from shared.identifiers import DEFAULT_DOMAINS, Identifier, ResourceType
from shared.literals import INT, STR
from shared.outbox import OutboxMessage
from shared.specs import WorkflowClosure
from tests.integration.registry_support import greeting_workflow, launch_plan, task_spec
from tests.unit.fakes_registry import FakeRegistryUoWFactory

PROJECT, DOMAIN = "flowers", "development"


def ident(kind: ResourceType, name: str, version: str = "v1", domain: str = DOMAIN) -> Identifier:
    return Identifier(
        resource_type=kind, project=PROJECT, domain=domain, name=name, version=version
    )


def described(events: list[OutboxItem]) -> list[tuple[str, str]]:
    """(event type, subject) of each outbox event, in order."""
    out = []
    for item in events:
        assert isinstance(item, OutboxMessage)
        out.append((item.event.type, item.event.subject or ""))
    return out


@pytest.fixture
def registry() -> FakeRegistryUoWFactory:
    return FakeRegistryUoWFactory()


async def register_greeting_tasks(registry: FakeRegistryUoWFactory, version: str = "v1") -> None:
    """``wf.say_hello(name: str) -> str`` and ``wf.length(greeting: str) -> int``."""
    hello = task_spec("wf.say_hello")
    length = task_spec("wf.length", {"greeting": STR}, {"o0": INT})
    for spec in (hello, length):
        identifier = ident(ResourceType.TASK, spec.name, version)
        await registration.register_task(registry, identifier, spec)


async def test_bootstrap_wires_the_factory_it_is_given(registry: FakeRegistryUoWFactory) -> None:
    services = bootstrap(uow_factory=registry)
    assert services.uow_factory is registry
    with pytest.raises(ValueError, match="needs a runtime"):
        bootstrap()


async def test_a_task_is_stored_with_its_project_and_both_events_in_one_commit(
    registry: FakeRegistryUoWFactory,
) -> None:
    identifier = ident(ResourceType.TASK, "wf.say_hello")

    outcome = await registration.register_task(registry, identifier, task_spec("wf.say_hello"))

    assert outcome.created
    assert outcome.identifier == identifier
    state = registry.state
    assert state.commits == 1
    assert state.entities[identifier].digest == outcome.digest
    assert state.projects[PROJECT].domains == tuple(DEFAULT_DOMAINS)
    assert described(state.events) == [
        ("contrail.project.created", f"urn:contrail:project:{PROJECT}"),
        ("contrail.task.registered", identifier.urn),
    ]


async def test_the_identical_spec_again_changes_nothing_and_publishes_nothing(
    registry: FakeRegistryUoWFactory,
) -> None:
    identifier = ident(ResourceType.TASK, "wf.say_hello")
    first = await registration.register_task(registry, identifier, task_spec("wf.say_hello"))

    again = await registration.register_task(registry, identifier, task_spec("wf.say_hello"))

    assert not again.created
    assert again.digest == first.digest
    assert registry.state.commits == 1
    assert len(registry.state.events) == 2


async def test_another_spec_under_a_taken_identifier_is_a_conflict_saying_what_differs(
    registry: FakeRegistryUoWFactory,
) -> None:
    identifier = ident(ResourceType.TASK, "wf.say_hello")
    await registration.register_task(registry, identifier, task_spec("wf.say_hello"))
    changed = task_spec("wf.say_hello", description="now with a description")

    with pytest.raises(Conflict) as refused:
        await registration.register_task(registry, identifier, changed)

    assert any("description" in json.dumps(detail) for detail in refused.value.details)
    assert registry.state.commits == 1
    assert len(registry.state.events) == 2


async def test_a_domain_the_project_lacks_is_refused_and_nothing_is_stored(
    registry: FakeRegistryUoWFactory,
) -> None:
    await projects.create_project(registry, PROJECT, "", ["development"])
    identifier = ident(ResourceType.TASK, "wf.say_hello", domain="production")

    with pytest.raises(InvalidIdentifier):
        await registration.register_task(registry, identifier, task_spec("wf.say_hello"))

    assert identifier not in registry.state.entities


async def test_text_the_store_refuses_is_an_invalid_request_and_rolls_back_the_project(
    registry: FakeRegistryUoWFactory,
) -> None:
    identifier = ident(ResourceType.TASK, "wf.say_hello")
    spec = task_spec("wf.say_hello", description="nul \x00 here")

    with pytest.raises(InvalidRequest):
        await registration.register_task(registry, identifier, spec)

    # The implicit project was created in the same transaction: rolled back with it.
    assert registry.state.projects == {}
    assert registry.state.entities == {}
    assert registry.state.events == []


async def test_a_workflow_is_compiled_against_its_registered_tasks_and_stored_with_its_closure(
    registry: FakeRegistryUoWFactory,
) -> None:
    await register_greeting_tasks(registry)
    identifier = ident(ResourceType.WORKFLOW, "wf.greet")

    outcome = await registration.register_workflow(
        registry, identifier, greeting_workflow("wf.greet", "wf.say_hello", "wf.length")
    )

    assert outcome.created
    stored = registry.state.entities[identifier]
    assert stored.closure_bytes is not None
    closure = WorkflowClosure.model_validate_json(stored.closure_bytes)
    assert sorted(t.identifier.name for t in closure.tasks) == ["wf.length", "wf.say_hello"]
    assert closure.primary.identifier == identifier
    assert described(registry.state.events)[-1] == ("contrail.workflow.registered", identifier.urn)


async def test_a_workflow_referencing_an_unregistered_task_is_rejected_storing_nothing(
    registry: FakeRegistryUoWFactory,
) -> None:
    identifier = ident(ResourceType.WORKFLOW, "wf.greet")
    workflow = greeting_workflow("wf.greet", "wf.say_hello", "wf.length")

    with pytest.raises(CompileRejected) as refused:
        await registration.register_workflow(registry, identifier, workflow)

    assert refused.value.details
    assert registry.state.entities == {}
    assert registry.state.commits == 0


async def test_a_launch_plan_needs_its_workflow_and_is_stored_inactive(
    registry: FakeRegistryUoWFactory,
) -> None:
    lp = ident(ResourceType.LAUNCH_PLAN, "wf.greet")
    with pytest.raises(NotFound):
        await registration.register_launch_plan(registry, lp, launch_plan("wf.greet", "wf.greet"))
    await register_greeting_tasks(registry)
    workflow = ident(ResourceType.WORKFLOW, "wf.greet")
    await registration.register_workflow(
        registry, workflow, greeting_workflow("wf.greet", "wf.say_hello", "wf.length")
    )

    outcome = await registration.register_launch_plan(
        registry, lp, launch_plan("wf.greet", "wf.greet")
    )

    assert outcome.created
    assert registry.state.entities[lp].state is LaunchPlanState.INACTIVE
    again = await registration.register_launch_plan(
        registry, lp, launch_plan("wf.greet", "wf.greet")
    )
    assert not again.created
    assert described(registry.state.events)[-1] == ("contrail.launch_plan.registered", lp.urn)


async def test_activating_a_version_deactivates_the_active_one_with_an_event_each(
    registry: FakeRegistryUoWFactory,
) -> None:
    for version in ("v1", "v2"):
        await register_greeting_tasks(registry, version)
        await registration.register_workflow(
            registry,
            ident(ResourceType.WORKFLOW, "wf.greet", version),
            greeting_workflow("wf.greet", "wf.say_hello", "wf.length"),
        )
        await registration.register_launch_plan(
            registry,
            ident(ResourceType.LAUNCH_PLAN, "wf.greet", version),
            launch_plan("wf.greet", "wf.greet"),
        )
    v1 = ident(ResourceType.LAUNCH_PLAN, "wf.greet", "v1")
    v2 = ident(ResourceType.LAUNCH_PLAN, "wf.greet", "v2")
    await launch_plan_state.change_state(registry, v1, LaunchPlanState.ACTIVE)
    before = len(registry.state.events)

    updated = await launch_plan_state.change_state(registry, v2, LaunchPlanState.ACTIVE)

    assert updated.state is LaunchPlanState.ACTIVE
    assert registry.state.entities[v1].state is LaunchPlanState.INACTIVE
    changes = [
        (item.event.data.identifier.version, item.event.data.state)
        for item in registry.state.events[before:]
        if isinstance(item, OutboxMessage)
    ]
    assert changes == [("v1", LaunchPlanState.INACTIVE), ("v2", LaunchPlanState.ACTIVE)]
    # Asking for the state it is in writes nothing.
    await launch_plan_state.change_state(registry, v2, LaunchPlanState.ACTIVE)
    assert len(registry.state.events) == before + 2
    with pytest.raises(NotFound):
        await launch_plan_state.change_state(
            registry, ident(ResourceType.LAUNCH_PLAN, "wf.greet", "v9"), LaunchPlanState.ACTIVE
        )


async def test_projects_are_created_once_and_listed_newest_first_by_page(
    registry: FakeRegistryUoWFactory,
) -> None:
    created, fresh = await projects.create_project(registry, "a", "first", ["development"])
    same, again = await projects.create_project(registry, "a", "first", ["development"])
    await projects.create_project(registry, "b", "", ["development"])
    await projects.create_project(registry, "c", "", ["development"])

    assert fresh
    assert not again
    assert same == created
    with pytest.raises(Conflict):
        await projects.create_project(registry, "a", "other", ["development"])
    first = await projects.list_projects(registry, 2, None)
    assert [p.name for p in first.items] == ["c", "b"]
    rest = await projects.list_projects(registry, 2, first.next_token)
    assert [p.name for p in rest.items] == ["a"]
    assert rest.next_token is None
    assert (await projects.get_project(registry, "b")).name == "b"
    with pytest.raises(NotFound):
        await projects.get_project(registry, "zzz")


async def test_queries_read_what_registration_stored(registry: FakeRegistryUoWFactory) -> None:
    identifier = ident(ResourceType.TASK, "wf.say_hello")
    await registration.register_task(registry, identifier, task_spec("wf.say_hello"))

    entity = await queries.get_entity(registry, identifier)

    assert entity.spec_bytes is not None
    assert json.loads(entity.spec_bytes)["name"] == "wf.say_hello"
    with pytest.raises(NotFound):
        await queries.get_entity(registry, ident(ResourceType.TASK, "wf.nope"))
