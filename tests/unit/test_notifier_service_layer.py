"""The notifier's use cases over in-memory fakes: ingest once, conditions, sending, retries."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from services.notifier.bootstrap import bootstrap
from services.notifier.domain.rules import EventKind, Subject
from services.notifier.service_layer.notify import Notifier
from services.notifier.service_layer.subscriptions import SubscriptionService, SubscriptionSpec
from shared.errors import Conflict, InvalidRequest
from shared.events.topics import NOTIFICATIONS, dead_letter
from shared.identifiers import Identifier, ResourceType
from shared.outbox.writer import OutboxMessage
from shared.phases import ExecutionPhase
from shared.retry import Backoff
from shared.settings import NotifierSettings
from shared.specs import ChannelKind, Notification
from tests.unit.fakes_notifier import (
    FakeChannels,
    FakeDeliveries,
    FakeLaunchPlans,
    FakeNotifierUoW,
    Tables,
)

PLAN = Identifier(
    resource_type=ResourceType.LAUNCH_PLAN,
    project="p",
    domain="development",
    name="lp",
    version="v1",
)


class World:
    def __init__(self, max_attempts: int = 3) -> None:
        self.tables = Tables()
        self.channels = FakeChannels()
        self.plans = FakeLaunchPlans()
        ids = itertools.count(1)

        def uow(*, atomic: bool = True) -> FakeNotifierUoW:
            return FakeNotifierUoW(self.tables, atomic=atomic)

        self.uow = uow
        self.notifier = Notifier(
            uow,
            self.plans,
            self.channels,
            console_base_url="http://console",
            max_attempts=max_attempts,
            backoff=Backoff(first=1, cap=4),
            random=lambda: 0.0,
            new_id=lambda: f"d{next(ids)}",
        )
        self.subscriptions = SubscriptionService(uow, ["127.0.0.1"], new_id=lambda: "sub-1")

    async def subscribe(self, **spec: Any) -> str:
        body = {"phases": ["FAILED"], "channels": [{"kind": "email", "target": "a@b.io"}], **spec}
        row = await self.subscriptions.create(SubscriptionSpec.model_validate(body))
        return str(row.rule_id)

    def statuses(self) -> dict[str, str]:
        return {d: r.status for d, r in self.tables.deliveries.items()}


def event(name: str, phase: str = "FAILED", *, launch_plan: bool = True, n: int = 0) -> Subject:
    return Subject(
        event_id=f"{name}-{phase}-{n}",
        kind=EventKind.EXECUTION,
        project="p",
        domain="development",
        execution=name,
        phase=phase,
        workflow="wf",
        launch_plan="lp" if launch_plan else None,
        launch_plan_version="v1" if launch_plan else None,
    )


async def test_an_event_makes_one_delivery_per_channel_and_a_replay_makes_none() -> None:
    w = World()
    await w.subscribe(
        channels=[
            {"kind": "email", "target": "a@b.io"},
            {"kind": "webhook", "target": "http://127.0.0.1/h"},
        ]
    )
    assert await w.notifier.ingest([event("e1")]) == 2
    assert await w.notifier.ingest([event("e1")]) == 0  # the same event, redelivered
    assert await w.notifier.ingest([event("e1", n=1)]) == 0  # same rule, execution, phase
    assert await w.notifier.ingest([event("e1", "SUCCEEDED")]) == 0  # not subscribed
    assert sorted(r.channel for r in w.tables.deliveries.values()) == ["email", "webhook"]


async def test_a_launch_plans_notifications_are_read_once_and_matched() -> None:
    w = World()
    w.plans.plans[PLAN] = [
        Notification(
            phases=[ExecutionPhase.FAILED], channel=ChannelKind.EMAIL, recipients=["o@x.io"]
        )
    ]
    assert await w.notifier.ingest([event("e1"), event("e2", "SUCCEEDED")]) == 1
    [row] = w.tables.deliveries.values()
    assert (row.rule_id, row.target) == ("lp:p/development/lp@v1#0", "o@x.io")


async def test_n_failures_in_a_row_and_recovery_resolve_the_pagerduty_incident() -> None:
    w = World()
    await w.subscribe(
        failures_in_a_row=2, recovered=True, channels=[{"kind": "pagerduty", "target": "rk"}]
    )
    assert await w.notifier.ingest([event("e1")]) == 0
    assert await w.notifier.ingest([event("e2")]) == 1
    assert await w.notifier.ingest([event("e3")]) == 1
    assert await w.notifier.ingest([event("e4", "SUCCEEDED")]) == 1
    assert await w.notifier.ingest([event("e5", "SUCCEEDED")]) == 0  # not a recovery
    rows = sorted(w.tables.deliveries.values(), key=lambda r: r.id)
    assert [(r.execution, r.alert, r.dedup_key) for r in rows] == [
        ("p/development/e2", "match", "d1"),
        ("p/development/e3", "match", "d1"),  # the same incident
        ("p/development/e4", "recovered", "d1"),  # resolves it
    ]
    await w.notifier.send_due(10)
    assert [(m.dedup_key, m.resolve) for m in w.channels.sent] == [
        ("d1", False),
        ("d1", False),
        ("d1", True),
    ]


async def test_a_digest_gathers_a_windows_matches_in_one_delivery() -> None:
    w = World()
    await w.subscribe(digest_seconds=900)
    await w.notifier.ingest([event(f"e{i}") for i in range(5)])
    [row] = w.tables.deliveries.values()
    assert row.digest_window is not None
    await w.notifier.send_due(10)
    [message] = w.channels.sent
    assert message.title == "[contrail] 5 alert(s) of rule sub-1"
    assert all(f"p/development/e{i} FAILED" in message.body for i in range(5))


async def test_a_send_that_keeps_failing_backs_off_then_is_dead_on_the_dlq() -> None:
    w = World(max_attempts=3)
    await w.subscribe()
    await w.notifier.ingest([event("e1")])
    w.channels.failing = True
    for _ in range(3):
        await w.notifier.send_due(10)
    assert w.statuses() == {"d1": "dead"}
    messages = [m for m in w.tables.outbox if isinstance(m, OutboxMessage)]
    assert [(m.topic, m.event.type) for m in messages] == [
        (NOTIFICATIONS, "contrail.notification.failed"),
        (NOTIFICATIONS, "contrail.notification.failed"),
        (NOTIFICATIONS, "contrail.notification.dead"),
        (dead_letter(NOTIFICATIONS), "contrail.notification.dead"),
    ]
    assert await w.notifier.send_due(10) == 0  # dead is not sent again
    w.channels.failing = False
    assert await w.subscriptions.retry("d1") is not None
    await w.notifier.send_due(10)
    assert w.statuses() == {"d1": "sent"}
    with pytest.raises(Conflict):
        await w.subscriptions.retry("d1")


async def test_a_send_is_recorded_once_postgresql_is_back_and_not_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL away between a send and its record (the chaos run: alerts sent twice once
    their lease ran out): the record is retried until stored, and the alert goes out once."""
    w = World()
    await w.subscribe()
    await w.notifier.ingest([event("e1")])
    failures = iter([ConnectionRefusedError("PostgreSQL is down"), OSError("still down")])
    record = FakeDeliveries.record

    async def record_when_back(self: FakeDeliveries, *args: Any) -> None:
        for failure in failures:
            raise failure
        await record(self, *args)

    monkeypatch.setattr(FakeDeliveries, "record", record_when_back)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    w.notifier.sleep = sleep
    assert await w.notifier.send_due(10) == 1
    assert len(waits) == 2
    assert w.statuses() == {"d1": "sent"}
    assert await w.notifier.send_due(10) == 0
    assert len(w.channels.sent) == 1


async def test_a_send_refused_for_its_host_is_dead_at_once() -> None:
    w = World(max_attempts=5)
    await w.subscribe()
    await w.notifier.ingest([event("e1")])
    w.channels.refusing = True
    await w.notifier.send_due(10)
    assert w.statuses() == {"d1": "dead"}
    assert w.tables.deliveries["d1"].attempts == 1


async def test_paused_subscriptions_are_silent_until_resumed() -> None:
    w = World()
    rule = await w.subscribe()
    await w.subscriptions.set_paused(rule, True)
    assert await w.notifier.ingest([event("e1")]) == 0
    await w.subscriptions.set_paused(rule, False)
    assert await w.notifier.ingest([event("e2")]) == 1


async def test_webhook_hosts_outside_the_allowed_list_and_bad_templates_are_refused() -> None:
    w = World()
    with pytest.raises(InvalidRequest) as caught:
        await w.subscribe(channels=[{"kind": "webhook", "target": "https://evil.example/x"}])
    assert caught.value.details[0]["field"] == "channels.0.target"
    with pytest.raises(InvalidRequest) as caught:
        await w.subscribe(template="title\n{% for %}")
    assert caught.value.details[0] == {
        "field": "template",
        "line": 2,
        "message": caught.value.details[0]["message"],
    }


def test_bootstrap_wires_fakes() -> None:
    w = World()
    svc = bootstrap(
        NotifierSettings(), uow_factory=w.uow, launch_plans=w.plans, channels=w.channels
    )
    assert svc.notifier.channels is w.channels
