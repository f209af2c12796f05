"""The audit log without I/O: the records, their masking, which use cases write them (once,
in the change's own commit), and the registry keeping and listing them."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from services.launcher.bootstrap import LauncherServices
from services.launcher.bootstrap import bootstrap as launcher_bootstrap
from services.launcher.domain import Abort
from services.launcher.service_layer.audit import launched
from services.notifier.service_layer.subscriptions import SubscriptionService, SubscriptionSpec
from services.registry.adapters.audit_log import AuditEntry, AuditFilter
from services.registry.service_layer import audit_log, launch_plan_state, projects, registration
from services.registry.service_layer.errors import CompileRejected
from shared.audit import MASK, audit_record, masked
from shared.auth.context import set_actor
from shared.db.paging import InvalidPageToken
from shared.db.unit_of_work import OutboxItem
from shared.events.catalogue import (
    AUDIT_EVENTS,
    AuditAction,
    AuditRecorded,
    LaunchPlanState,
    Trigger,
    TriggerKind,
    decode_event,
)
from shared.events.topics import AUDIT
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.literals import INT, STR
from shared.outbox import OutboxMessage
from shared.settings import LauncherSettings
from tests.integration.registry_support import greeting_workflow, launch_plan, task_spec
from tests.unit.engine_support import T0, call, closure, inp, out
from tests.unit.fakes_launcher import FakeLauncherUoWFactory
from tests.unit.fakes_notifier import FakeNotifierUoW, Tables
from tests.unit.fakes_registry import FakeRegistryUoWFactory

R = TypeVar("R")
PROJECT, DOMAIN = "flowers", "development"
TOKEN = "ctr_abcdefghij12_" + "s" * 43
GREET = greeting_workflow("wf.greet", "wf.say_hello", "wf.length")


async def as_actor(name: str, use_case: Coroutine[Any, Any, R]) -> R:
    """Run ``use_case`` as the authentication dependency would for principal ``name``."""
    context = contextvars.copy_context()
    context.run(set_actor, name)
    return await asyncio.create_task(use_case, context=context)


def entries(items: list[OutboxItem]) -> list[AuditRecorded]:
    """The payloads of audit records, checked to be well-formed envelopes on contrail.audit."""
    out = []
    for item in items:
        assert isinstance(item, OutboxMessage)
        assert item.topic == AUDIT
        event = decode_event(item.event.to_json())
        assert isinstance(event.data, AuditRecorded)
        assert event.type == f"contrail.audit.{event.data.action.value}"
        out.append(event.data)
    return out


def ident(kind: ResourceType, name: str, version: str = "v1") -> Identifier:
    return Identifier(
        resource_type=kind, project=PROJECT, domain=DOMAIN, name=name, version=version
    )


# --- the record -------------------------------------------------------------------------


def test_secrets_are_masked_by_key_and_tokens_wherever_they_appear() -> None:
    details = {
        "principal": "ci-bot",
        "token_id": "abcdefghij12",
        "token": TOKEN,
        "channels": [{"kind": "webhook", "webhook_url": "https://hooks/x/y"}],
        "note": f"made with {TOKEN} by Bearer eyJhbGciOi.x.y",
        "nested": {"password": "hunter2", "count": 3},
    }

    assert masked(details) == {
        "principal": "ci-bot",
        "token_id": "abcdefghij12",
        "token": MASK,
        "channels": [{"kind": "webhook", "webhook_url": MASK}],
        "note": f"made with {MASK} by {MASK}",
        "nested": {"password": MASK, "count": 3},
    }


async def test_a_record_names_the_requests_principal_and_is_keyed_by_project() -> None:
    record = await as_actor(
        "alice",
        _record(AuditAction.TOKEN_CREATE, project="p1", details={"token": TOKEN, "role": "viewer"}),
    )
    outside = await _record(AuditAction.LAUNCH, project=None)

    assert record.topic == AUDIT
    assert record.key == "p1"
    assert record.event.source == "/contrail/registry"
    assert record.event.subject == "urn:x"
    [data] = entries([record])
    assert (data.actor, data.action, data.project) == ("alice", AuditAction.TOKEN_CREATE, "p1")
    assert data.details == {"token": MASK, "role": "viewer"}
    assert TOKEN not in record.event.to_json().decode()
    assert (outside.key, entries([outside])[0].actor) == ("urn:x", "system")


async def _record(
    action: AuditAction, project: str | None, details: dict[str, Any] | None = None
) -> OutboxMessage:
    return audit_record(
        action, service="registry", project=project, domain=None, resource="urn:x", details=details
    )


def test_each_action_has_its_type_and_a_type_refuses_another_action() -> None:
    assert {cls.event_type for cls in AUDIT_EVENTS.values()} == {
        f"contrail.audit.{action.value}" for action in AuditAction
    }
    record = audit_record(
        AuditAction.ABORT, service="launcher", project="p", domain="d", resource="urn:e"
    )
    raw = record.event.model_dump(mode="json")
    raw["data"]["action"] = "launch"
    with pytest.raises(ValueError, match="action"):
        decode_event(raw)


# --- the registry's entries ---------------------------------------------------------------


@pytest.fixture
def registry() -> FakeRegistryUoWFactory:
    return FakeRegistryUoWFactory()


async def test_a_new_registration_is_audited_in_its_commit_and_the_same_again_is_not(
    registry: FakeRegistryUoWFactory,
) -> None:
    task = ident(ResourceType.TASK, "wf.say_hello")

    await as_actor("alice", registration.register_task(registry, task, task_spec("wf.say_hello")))
    await as_actor("bob", registration.register_task(registry, task, task_spec("wf.say_hello")))

    assert registry.state.commits == 1
    audited = entries(registry.state.audited)
    assert [(a.actor, a.action, a.resource) for a in audited] == [
        ("alice", AuditAction.PROJECT_CREATE, f"urn:contrail:project:{PROJECT}"),
        ("alice", AuditAction.REGISTER, task.urn),
    ]
    assert (audited[1].project, audited[1].domain) == (PROJECT, DOMAIN)
    assert audited[1].details["kind"] == "task"


async def test_a_registration_that_fails_audits_nothing(registry: FakeRegistryUoWFactory) -> None:
    workflow = ident(ResourceType.WORKFLOW, "wf.greet")

    with pytest.raises(CompileRejected):
        await registration.register_workflow(registry, workflow, GREET)

    assert registry.state.audited == []


async def test_a_project_created_explicitly_is_audited_once(
    registry: FakeRegistryUoWFactory,
) -> None:
    await as_actor("admin", projects.create_project(registry, "p2", "", ["development"]))
    await as_actor("admin", projects.create_project(registry, "p2", "", ["development"]))

    [entry] = entries(registry.state.audited)
    assert (entry.action, entry.project, entry.details) == (
        AuditAction.PROJECT_CREATE,
        "p2",
        {"domains": ["development"]},
    )


async def test_activation_is_audited_but_not_the_versions_it_deactivates(
    registry: FakeRegistryUoWFactory,
) -> None:
    await _register_plan(registry, "v1")
    await _register_plan(registry, "v2")
    registry.state.audited.clear()
    v1, v2 = (ident(ResourceType.LAUNCH_PLAN, "wf.greet", v) for v in ("v1", "v2"))

    await as_actor("eve", launch_plan_state.change_state(registry, v1, LaunchPlanState.ACTIVE))
    await as_actor("eve", launch_plan_state.change_state(registry, v2, LaunchPlanState.ACTIVE))
    await as_actor("eve", launch_plan_state.change_state(registry, v2, LaunchPlanState.ACTIVE))
    await as_actor("eve", launch_plan_state.change_state(registry, v2, LaunchPlanState.INACTIVE))

    assert [(a.action, a.resource) for a in entries(registry.state.audited)] == [
        (AuditAction.LAUNCH_PLAN_ACTIVATE, v1.urn),
        (AuditAction.LAUNCH_PLAN_ACTIVATE, v2.urn),
        (AuditAction.LAUNCH_PLAN_DEACTIVATE, v2.urn),
    ]


async def _register_plan(registry: FakeRegistryUoWFactory, version: str) -> None:
    for spec in (task_spec("wf.say_hello"), task_spec("wf.length", {"greeting": STR}, {"o0": INT})):
        await registration.register_task(
            registry, ident(ResourceType.TASK, spec.name, version), spec
        )
    workflow = ident(ResourceType.WORKFLOW, "wf.greet", version)
    await registration.register_workflow(registry, workflow, GREET)
    plan = ident(ResourceType.LAUNCH_PLAN, "wf.greet", version)
    await registration.register_launch_plan(registry, plan, launch_plan("wf.greet", "wf.greet"))


# --- keeping and listing ------------------------------------------------------------------


def _entry(n: int, **fields: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "event_id": f"e{n}",
        "at": datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=n),
        "actor": "alice",
        "action": "launch",
        "project": "p1",
        "domain": "development",
        "resource": f"urn:contrail:execution:p1:development:x{n}",
        "details": {},
        "source": "/contrail/launcher",
    } | fields
    return AuditEntry(**values)


async def test_entries_are_kept_once_each_and_listed_newest_first_by_page(
    registry: FakeRegistryUoWFactory,
) -> None:
    batch = [_entry(1), _entry(2, actor="bob"), _entry(1), _entry(3, project="p2")]

    assert await audit_log.keep(registry, batch) == 3
    assert await audit_log.keep(registry, batch) == 0

    first = await audit_log.entries(registry, AuditFilter(), 2, None)
    assert [e.event_id for e in first.items] == ["e3", "e2"]
    assert first.next_token is not None
    rest = await audit_log.entries(registry, AuditFilter(), 2, first.next_token)
    assert ([e.event_id for e in rest.items], rest.next_token) == (["e1"], None)
    mine = AuditFilter(project="p1", actor="alice")
    assert [e.event_id for e in (await audit_log.entries(registry, mine, 10, None)).items] == ["e1"]
    window = AuditFilter(since=_entry(2).at, until=_entry(3).at)
    assert [e.event_id for e in (await audit_log.entries(registry, window, 10, None)).items] == [
        "e2"
    ]
    with pytest.raises(InvalidPageToken):
        await audit_log.entries(registry, AuditFilter(), 2, "nonsense")


def test_a_consumed_event_becomes_its_entry_and_another_event_none() -> None:
    record = audit_record(
        AuditAction.ABORT,
        service="launcher",
        project="p",
        domain="d",
        resource="urn:e",
        details={"cause": "x"},
        actor="carol",
    )
    event = decode_event(record.event.to_json())

    entry = audit_log.entry_of(event)

    assert entry is not None
    assert (entry.event_id, entry.actor, entry.action, entry.source) == (
        event.id,
        "carol",
        "abort",
        "/contrail/launcher",
    )
    assert entry.at == event.time
    registered_event = decode_event(
        b'{"specversion":"1.0","id":"1","source":"/contrail/registry",'
        b'"type":"contrail.project.created","time":"2026-12-01T00:00:00Z",'
        b'"data":{"project":"p","domains":["development"]}}'
    )
    assert audit_log.entry_of(registered_event) is None


# --- the launcher's entries ---------------------------------------------------------------

ONE_TASK = closure(
    [call("n0", "inc", x=inp("x"))], inputs={"x": INT}, outputs={"y": (INT, out("n0"))}
)


@pytest.fixture
def launcher_db() -> FakeLauncherUoWFactory:
    return FakeLauncherUoWFactory(now=T0)


@pytest.fixture
def launcher(launcher_db: FakeLauncherUoWFactory) -> LauncherServices:
    return launcher_bootstrap(LauncherSettings(), uow_factory=launcher_db)


async def test_launch_relaunch_recover_and_abort_are_audited_once_each(
    launcher: LauncherServices, launcher_db: FakeLauncherUoWFactory
) -> None:
    create = launcher.launcher.create("demo", "development", "x1", ONE_TASK, {"x": 1}, None, {})
    await as_actor("alice", create)
    await as_actor("bob", launcher.launcher.relaunch("demo", "development", "x1", "x2"))
    await as_actor("bob", launcher.launcher.recover("demo", "development", "x1", "x3"))
    abort = Abort(cause="by carol")
    await as_actor("carol", launcher.engine.apply("demo/development/x1", abort))
    # Aborting what is aborted already changes nothing, and is not audited again.
    await as_actor("carol", launcher.engine.apply("demo/development/x1", abort))

    audited = entries(launcher_db.state.audited)
    assert [(a.actor, a.action, a.resource.rsplit(":", 1)[1]) for a in audited] == [
        ("alice", AuditAction.LAUNCH, "x1"),
        ("bob", AuditAction.RELAUNCH, "x2"),
        ("bob", AuditAction.RECOVER, "x3"),
        ("carol", AuditAction.ABORT, "x1"),
    ]
    assert audited[1].details["source"] == "urn:contrail:execution:demo:development:x1"
    assert audited[3].details == {"cause": "by carol"}
    assert {(a.project, a.domain) for a in audited} == {("demo", "development")}


async def test_a_scheduled_launch_is_not_audited(
    launcher: LauncherServices, launcher_db: FakeLauncherUoWFactory
) -> None:
    tick = Trigger(kind=TriggerKind.SCHEDULE, scheduled_at=T0)
    await launcher.launcher.create(
        "demo", "development", "s1", ONE_TASK, {"x": 1}, None, {}, trigger=tick
    )

    assert launcher_db.state.audited == []
    [state] = [row.state for row in launcher_db.state.executions.values()]
    assert launched(state) is None
    assert state.execution == ExecutionIdentifier(project="demo", domain="development", name="s1")


# --- the notifier's entries ---------------------------------------------------------------


async def test_subscription_changes_are_audited_without_their_destinations() -> None:
    tables = Tables()

    def uow(*, atomic: bool = True) -> FakeNotifierUoW:
        return FakeNotifierUoW(tables, atomic=atomic)

    service = SubscriptionService(uow, ["hooks.example.com"], new_id=lambda: "sub-1")
    hook = "https://hooks.example.com/services/T000/B000/XXXX"
    spec = SubscriptionSpec.model_validate(
        {"project": "p1", "phases": ["FAILED"], "channels": [{"kind": "webhook", "target": hook}]}
    )
    everywhere = spec.model_copy(update={"project": "data-*"})

    await as_actor("dana", service.create(spec))
    await as_actor("dana", service.set_paused("sub-1", True))
    await as_actor("dana", service.set_paused("sub-1", True))  # no change, no entry
    await as_actor("dana", service.set_paused("sub-1", False))
    await as_actor("dana", service.replace("sub-1", everywhere))
    await as_actor("dana", service.delete("sub-1"))

    audited = entries(tables.audited)
    assert [(a.action, a.resource, a.project) for a in audited] == [
        (AuditAction.SUBSCRIPTION_CREATE, "sub-1", "p1"),
        (AuditAction.SUBSCRIPTION_PAUSE, "sub-1", "p1"),
        (AuditAction.SUBSCRIPTION_RESUME, "sub-1", "p1"),
        (AuditAction.SUBSCRIPTION_UPDATE, "sub-1", None),  # a glob spans projects
        (AuditAction.SUBSCRIPTION_DELETE, "sub-1", None),
    ]
    assert {a.actor for a in audited} == {"dana"}
    assert audited[0].details["channels"] == ["webhook"]
    assert all(hook not in str(a.details) for a in audited)
    assert all(not str(m).count("XXXX") for m in tables.outbox)
