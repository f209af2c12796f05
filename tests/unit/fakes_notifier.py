"""In-memory fakes of the notifier's unit of work, registry and channels (unit tests)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.notifier.service_layer.ports import Outgoing, SendFailed, SendRefused
from services.notifier.service_layer.unit_of_work import (
    DeliveryFilter,
    DeliveryRow,
    NewDelivery,
    NotifierUnitOfWork,
    SubscriptionRow,
)
from shared.db.unit_of_work import OutboxItem
from shared.events.topics import AUDIT
from shared.identifiers import Identifier
from shared.specs import Notification

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LONG_AGO = datetime.min.replace(tzinfo=UTC)


@dataclass
class Tables:
    subscriptions: dict[str, SubscriptionRow] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)
    streaks: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    alerted: set[str] = field(default_factory=set)
    deliveries: dict[str, DeliveryRow] = field(default_factory=dict)
    digest_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outbox: list[OutboxItem] = field(default_factory=list)
    audited: list[OutboxItem] = field(default_factory=list)  # the outbox's contrail.audit
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    installed_at: datetime = LONG_AGO


class _Repo:
    def __init__(self, t: Tables) -> None:
        self.t = t


class FakeSubscriptions(_Repo):
    async def add(self, rule_id: str, spec: dict[str, Any], paused: bool) -> SubscriptionRow:
        row = SubscriptionRow(next(self.t.ids), rule_id, spec, paused, NOW, NOW)
        self.t.subscriptions[rule_id] = row
        return row

    async def get(self, rule_id: str) -> SubscriptionRow | None:
        return self.t.subscriptions.get(rule_id)

    async def update(
        self, rule_id: str, spec: dict[str, Any], paused: bool
    ) -> SubscriptionRow | None:
        old = self.t.subscriptions.get(rule_id)
        if old is None:
            return None
        row = replace(old, spec=spec, paused=paused, updated_at=datetime.now(UTC))
        self.t.subscriptions[rule_id] = row
        return row

    async def delete(self, rule_id: str) -> bool:
        return self.t.subscriptions.pop(rule_id, None) is not None

    async def page(self, limit: int, before: int | None) -> list[SubscriptionRow]:
        rows = sorted(self.t.subscriptions.values(), key=lambda r: -r.id)
        return [r for r in rows if before is None or r.id < before][:limit]

    async def all(self) -> list[SubscriptionRow]:
        return list(self.t.subscriptions.values())

    async def version(self) -> tuple[int, datetime | None]:
        rows = self.t.subscriptions.values()
        return (len(rows), max((r.updated_at for r in rows), default=None))


class FakeInbox(_Repo):
    async def record(self, event_ids: Sequence[str]) -> set[str]:
        new = set(event_ids) - self.t.consumed
        self.t.consumed |= new
        return new

    async def forget(self, older_than_hours: float) -> int:
        return 0

    async def installed_at(self) -> datetime:
        return self.t.installed_at


class FakeStreaks(_Repo):
    async def lock(self, keys: Sequence[str]) -> dict[str, tuple[int, dict[str, str]]]:
        return {
            k: (self.t.streaks.get(k, (0, {}))[0], dict(self.t.streaks.get(k, (0, {}))[1]))
            for k in keys
        }

    async def save(self, key: str, failures: int, incidents: dict[str, str]) -> None:
        self.t.streaks[key] = (failures, dict(incidents))


class FakeAlerted(_Repo):
    async def claim(self, keys: Sequence[str]) -> set[str]:
        new = set(keys) - self.t.alerted
        self.t.alerted |= new
        return new

    async def forget(self, older_than_hours: float) -> int:
        return 0


def _row(t: Tables, d: NewDelivery, window: int | None = None) -> DeliveryRow:
    return DeliveryRow(
        id=next(t.ids),
        delivery_id=d.delivery_id,
        rule_id=d.rule_id,
        channel=d.channel,
        target=d.target,
        execution=d.execution,
        phase=d.phase,
        alert=d.alert,
        dedup_key=d.dedup_key,
        template=d.template,
        subject=d.subject,
        digest_window=window,
        status="pending",
        attempts=0,
        next_attempt_at=NOW,
        last_error=None,
        created_at=NOW,
        updated_at=NOW,
        sent_at=None,
    )


class FakeDeliveries(_Repo):
    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        for d in deliveries:
            self.t.deliveries[d.delivery_id] = _row(self.t, d)

    async def add_to_digest(
        self, delivery: NewDelivery, window: int, window_seconds: int, item: dict[str, Any]
    ) -> str:
        for row in self.t.deliveries.values():
            if (row.rule_id, row.channel, row.target, row.digest_window) == (
                delivery.rule_id,
                delivery.channel,
                delivery.target,
                window,
            ):
                self.t.digest_items[row.delivery_id].append(item)
                return row.delivery_id
        self.t.deliveries[delivery.delivery_id] = _row(self.t, delivery, window)
        self.t.digest_items[delivery.delivery_id] = [item]
        return delivery.delivery_id

    async def claim(self, limit: int, lease_seconds: float) -> list[DeliveryRow]:
        due = [r for r in self.t.deliveries.values() if r.status in ("pending", "failed")]
        return sorted(due, key=lambda r: r.id)[:limit]

    async def digest_items(self, delivery_id: str) -> list[dict[str, Any]]:
        return list(self.t.digest_items.get(delivery_id, []))

    async def record(
        self,
        delivery_id: str,
        status: str,
        attempts: int,
        error: str | None,
        retry_in_seconds: float | None,
    ) -> None:
        row = self.t.deliveries[delivery_id]
        self.t.deliveries[delivery_id] = replace(
            row, status=status, attempts=attempts, last_error=error
        )

    async def get(self, delivery_id: str) -> DeliveryRow | None:
        return self.t.deliveries.get(delivery_id)

    async def page(
        self, where: DeliveryFilter, limit: int, before: int | None
    ) -> list[DeliveryRow]:
        rows = [
            r
            for r in sorted(self.t.deliveries.values(), key=lambda r: -r.id)
            if (where.execution is None or r.execution == where.execution)
            and (where.rule_id is None or r.rule_id == where.rule_id)
            and (where.status is None or r.status == where.status)
            and (before is None or r.id < before)
        ]
        return rows[:limit]

    async def retry(self, delivery_id: str) -> DeliveryRow | None:
        row = self.t.deliveries.get(delivery_id)
        if row is None or row.status != "dead":
            return None
        row = replace(row, status="pending", attempts=0)
        self.t.deliveries[delivery_id] = row
        return row


class FakeOutbox:
    def __init__(self, pending: list[OutboxItem]) -> None:
        self.pending = pending

    async def add(self, messages: Sequence[OutboxItem]) -> None:
        self.pending.extend(messages)


class FakeNotifierUoW(NotifierUnitOfWork):
    """Writes go straight to the tables; a block left without commit is not undone
    (the use cases under test commit every block that writes)."""

    def __init__(self, tables: Tables, *, atomic: bool = True) -> None:
        super().__init__(atomic=atomic)
        self.tables = tables
        self.subscriptions = FakeSubscriptions(tables)
        self.consumed = FakeInbox(tables)
        self.streaks = FakeStreaks(tables)
        self.alerted = FakeAlerted(tables)
        self.deliveries = FakeDeliveries(tables)
        self._pending: list[OutboxItem] = []
        self.outbox = FakeOutbox(self._pending)

    async def _begin(self) -> None:
        self._pending.clear()

    async def _commit(self) -> None:
        for message in self._pending:
            audit = message.topic == AUDIT
            (self.tables.audited if audit else self.tables.outbox).append(message)

    async def _rollback(self) -> None:
        self._pending.clear()

    async def _end(self) -> None: ...


@dataclass
class FakeLaunchPlans:
    plans: dict[Identifier, list[Notification]] = field(default_factory=dict)
    reads: int = 0

    async def notifications(self, launch_plan: Identifier) -> list[Notification]:
        self.reads += 1
        return self.plans.get(launch_plan, [])

    async def close(self) -> None: ...


@dataclass
class FakeChannels:
    sent: list[Outgoing] = field(default_factory=list)
    failing: bool = False
    refusing: bool = False

    async def send(self, message: Outgoing) -> None:
        if self.refusing:
            raise SendRefused(f"{message.channel.value}: host 'x' is not allowed")
        if self.failing:
            raise SendFailed(f"{message.channel.value}: the receiver did not accept the message")
        self.sent.append(message)
