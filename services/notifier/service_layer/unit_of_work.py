"""The notifier service's unit of work: its repositories and its outbox in one transaction.

Each table has a repository ``Protocol`` here, its PostgreSQL implementation
in ``adapters/repositories.py`` and an in-memory one in the unit tests' fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.db.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class SubscriptionRow:
    id: int
    rule_id: str
    spec: dict[str, Any]
    paused: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: str
    rule_id: str
    channel: str
    target: str
    execution: str | None
    phase: str | None
    alert: str
    dedup_key: str
    template: str | None
    subject: dict[str, Any] | None


@dataclass(frozen=True)
class DeliveryRow(NewDelivery):
    """A stored delivery: what was matched, and where its sending stands."""

    id: int
    digest_window: int | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class DeliveryFilter:
    execution: str | None = None
    rule_id: str | None = None
    channel: str | None = None
    status: str | None = None


class Subscriptions(Protocol):
    async def add(self, rule_id: str, spec: dict[str, Any], paused: bool) -> SubscriptionRow: ...
    async def get(self, rule_id: str) -> SubscriptionRow | None: ...
    async def update(
        self, rule_id: str, spec: dict[str, Any], paused: bool
    ) -> SubscriptionRow | None: ...
    async def delete(self, rule_id: str) -> bool: ...
    async def page(self, limit: int, before: int | None) -> list[SubscriptionRow]: ...
    async def all(self) -> list[SubscriptionRow]: ...
    async def version(self) -> tuple[int, datetime | None]: ...


class Inbox(Protocol):
    async def record(self, event_ids: Sequence[str]) -> set[str]:
        """Record the ids; return those not recorded before."""
        ...

    async def forget(self, older_than_hours: float) -> int:
        """Forget ids recorded that long ago (Kafka no longer replays them)."""
        ...

    async def installed_at(self) -> datetime:
        """When the notifier was installed (events before it are history: no alerts)."""
        ...


class Streaks(Protocol):
    async def lock(self, keys: Sequence[str]) -> dict[str, tuple[int, dict[str, str]]]:
        """Each key's failures in a row and open incidents (rule -> dedup key), locked."""
        ...

    async def save(self, key: str, failures: int, incidents: dict[str, str]) -> None: ...


class Alerted(Protocol):
    async def claim(self, keys: Sequence[str]) -> set[str]:
        """Record the dedup keys; return those not recorded before."""
        ...

    async def forget(self, older_than_hours: float) -> int: ...


class Deliveries(Protocol):
    async def add(self, deliveries: Sequence[NewDelivery]) -> None: ...
    async def add_to_digest(
        self, delivery: NewDelivery, window: int, window_seconds: int, item: dict[str, Any]
    ) -> str:
        """Add ``item`` to the rule's digest for the channel in ``window`` (or the next
        window's, once the sender claimed it); return the digest's delivery id."""
        ...

    async def claim(self, limit: int, lease_seconds: float) -> list[DeliveryRow]: ...
    async def digest_items(self, delivery_id: str) -> list[dict[str, Any]]: ...
    async def record(
        self,
        delivery_id: str,
        status: str,
        attempts: int,
        error: str | None,
        retry_in_seconds: float | None,
    ) -> None: ...
    async def get(self, delivery_id: str) -> DeliveryRow | None: ...
    async def page(
        self, where: DeliveryFilter, limit: int, before: int | None
    ) -> list[DeliveryRow]: ...
    async def retry(self, delivery_id: str) -> DeliveryRow | None:
        """Make a dead delivery pending again (None: not dead or unknown)."""
        ...


class NotifierUnitOfWork(UnitOfWork):
    """One transaction over the notifier service's tables and outbox."""

    subscriptions: Subscriptions
    consumed: Inbox
    streaks: Streaks
    alerted: Alerted
    deliveries: Deliveries


NotifierUoWFactory = UnitOfWorkFactory[NotifierUnitOfWork]
