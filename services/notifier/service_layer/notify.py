"""Handling execution events (ingest) and sending the deliveries they made (send).

Ingest, for a batch of events, in ONE transaction: record the event ids
(skipping those recorded before), update the failure streaks, record the
dedup keys, and insert a ``pending`` delivery per matched rule and channel.
The consumer commits its Kafka offsets only after that commit, so a crash
replays at most what was not committed, and the inbox makes the replay change
nothing. Sending happens afterwards, from the delivery rows (``send_due``).

An event that happened before the notifier was installed (its CloudEvent
``time`` earlier than the ``installation`` row) is history that a new consumer
group reads from the topic's start: it is consumed and counted in the
streaks, and alerts nothing (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from services.notifier.domain.deliveries import DeliveryStatus, after_failure
from services.notifier.domain.rules import (
    Alert,
    Channel,
    EventKind,
    Rule,
    RuleIndex,
    Streak,
    Subject,
    before_installation,
    condition,
    dedup_key,
    digest_window,
    filters_match,
    next_streak,
)
from services.notifier.domain.templates import DEFAULT_TEMPLATES, DIGEST_TEMPLATE, render
from services.notifier.service_layer.ports import (
    Channels,
    LaunchPlans,
    Outgoing,
    SendFailed,
    SendRefused,
)
from services.notifier.service_layer.subscriptions import rule_of
from services.notifier.service_layer.unit_of_work import (
    DeliveryRow,
    NewDelivery,
    NotifierUoWFactory,
)
from shared.events.catalogue import (
    NotificationDead,
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
)
from shared.events.envelope import CloudEvent, source_of
from shared.events.topics import NOTIFICATIONS, dead_letter
from shared.identifiers import ExecutionIdentifier, Identifier, ResourceType
from shared.outbox.writer import OutboxMessage
from shared.retry import Backoff, retry_transient
from shared.routes import console_url
from shared.specs import ChannelKind

log = logging.getLogger(__name__)

SOURCE = source_of("notifier")


def launch_plan_rules(identifier: Identifier, notifications: Sequence[Any]) -> list[Rule]:
    """The rules a launch plan's notifications make: its executions, in those phases."""
    rules = []
    for i, n in enumerate(notifications):
        rules.append(
            Rule(
                id=f"lp:{identifier.project}/{identifier.domain}/{identifier.name}"
                f"@{identifier.version}#{i}",
                channels=tuple(Channel(n.channel, target) for target in n.recipients),
                phases=frozenset(p.value for p in n.phases),
                kinds=frozenset({EventKind.EXECUTION}),
                project=identifier.project,
                domain=identifier.domain,
                launch_plan=identifier.name,
                template=n.template,
            )
        )
    return rules


def subject_dict(subject: Subject) -> dict[str, Any]:
    data = dataclasses.asdict(subject)
    for key in ("started_at", "ended_at", "time"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    data["kind"] = subject.kind.value
    data["labels"] = dict(subject.labels)
    return data


class Notifier:
    """The notifier's use cases over its unit of work, the registry and the channels."""

    def __init__(
        self,
        uow: NotifierUoWFactory,
        launch_plans: LaunchPlans,
        channels: Channels,
        *,
        console_base_url: str,
        max_attempts: int,
        backoff: Backoff,
        lease_seconds: float = 60.0,
        concurrency: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        random: Callable[[], float] = _random.random,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.uow = uow
        self.launch_plans = launch_plans
        self.channels = channels
        self.console_base_url = console_base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.clock = clock
        self.random = random
        self.new_id = new_id
        self.sleep = sleep
        self.index = RuleIndex()
        self._version: tuple[int, datetime | None] | None = None
        self._installed_at: datetime | None = None

    # --- rules ---------------------------------------------------------------

    async def refresh_rules(self) -> None:
        """Reload the subscriptions when any changed (count or newest update)."""
        async with self.uow(atomic=False) as uow:
            version = await uow.subscriptions.version()
            if version == self._version:
                return
            rows = await uow.subscriptions.all()
        index = RuleIndex()
        for row in rows:
            index.put(rule_of(row.rule_id, row.spec, row.paused))
        self.index, self._version = index, version

    async def _launch_plan_rules(self, subjects: Sequence[Subject]) -> dict[str, list[Rule]]:
        found: dict[str, list[Rule]] = {}
        for s in subjects:
            if s.kind is not EventKind.EXECUTION or not (s.launch_plan and s.launch_plan_version):
                continue
            identifier = Identifier(
                resource_type=ResourceType.LAUNCH_PLAN,
                project=s.project,
                domain=s.domain,
                name=s.launch_plan,
                version=s.launch_plan_version,
            )
            key = _lp_key(s)
            if key not in found:
                notifications = await self.launch_plans.notifications(identifier)
                found[key] = launch_plan_rules(identifier, notifications)
        return found

    # --- ingest --------------------------------------------------------------

    async def installed_at(self) -> datetime:
        """When the notifier was installed (written once by its migration, so cached)."""
        if self._installed_at is None:
            async with self.uow(atomic=False) as uow:
                self._installed_at = await uow.consumed.installed_at()
        return self._installed_at

    async def ingest(self, subjects: Sequence[Subject]) -> int:
        """Handle a batch of events in one transaction; return the deliveries made.

        An event from before the notifier's installation (``before_installation``) is
        recorded as consumed and moves its launch plan's failures in a row, but makes
        no delivery and claims no dedup key: history is not alerted on."""
        await self.refresh_rules()
        installed_at = await self.installed_at()
        lp_rules = await self._launch_plan_rules(
            [s for s in subjects if not before_installation(s, installed_at)]
        )
        now = self.clock()
        made = 0
        async with self.uow() as uow:
            new_ids = await uow.consumed.record([s.event_id for s in subjects])
            fresh = [s for s in subjects if s.event_id in new_ids]
            if not fresh:
                return 0
            streak_keys = sorted({s.streak_key for s in fresh if s.kind is EventKind.EXECUTION})
            streaks = await uow.streaks.lock(streak_keys) if streak_keys else {}
            changed: set[str] = set()
            deliveries: list[NewDelivery] = []
            for s in fresh:
                failures, incidents = streaks.get(s.streak_key, (0, {}))
                before = Streak(failures)
                after = next_streak(before, s)
                if before_installation(s, installed_at):
                    rules = []
                else:
                    rules = self.index.matching(s) + [
                        r for r in lp_rules.get(_lp_key(s), []) if filters_match(r, s)
                    ]
                for rule in rules:
                    alert = condition(rule, s, before, after)
                    if alert is None:
                        continue
                    if not await uow.alerted.claim([dedup_key(rule, s)]):
                        continue
                    for channel in rule.channels:
                        delivery_id = self.new_id()
                        key = delivery_id
                        if channel.kind is ChannelKind.PAGERDUTY:
                            incident_of = f"{rule.id}|{channel.target}"
                            if alert is Alert.RECOVERED:
                                key = incidents.pop(incident_of, delivery_id)
                            else:
                                key = incidents.setdefault(incident_of, delivery_id)
                            changed.add(s.streak_key)
                        delivery = NewDelivery(
                            delivery_id=delivery_id,
                            rule_id=rule.id,
                            channel=channel.kind.value,
                            target=channel.target,
                            execution=s.execution_key,
                            phase=s.phase,
                            alert=alert.value,
                            dedup_key=key,
                            template=rule.template,
                            subject=subject_dict(s),
                        )
                        if rule.digest_seconds:
                            window = digest_window(now.timestamp(), rule.digest_seconds)
                            await uow.deliveries.add_to_digest(
                                dataclasses.replace(delivery, execution=None, phase=None),
                                window,
                                rule.digest_seconds,
                                subject_dict(s),
                            )
                        else:
                            deliveries.append(delivery)
                        made += 1
                if after != before:
                    changed.add(s.streak_key)
                streaks[s.streak_key] = (after.failures, incidents)
            for key in changed:
                failures, incidents = streaks[key]
                await uow.streaks.save(key, failures, incidents)
            await uow.deliveries.add(deliveries)
            await uow.commit()
        return made

    # --- send ----------------------------------------------------------------

    async def send_due(self, limit: int) -> int:
        """Claim the due deliveries, send each, record each outcome; return how many."""
        async with self.uow() as uow:
            rows = await uow.deliveries.claim(limit, self.lease_seconds)
            await uow.commit()
        # Deliveries of one incident (PagerDuty's trigger, then its resolve) go in order;
        # the others at once, up to ``concurrency`` sends at a time.
        groups: dict[str, list[DeliveryRow]] = {}
        for row in rows:
            groups.setdefault(f"{row.channel}|{row.target}|{row.dedup_key}", []).append(row)
        gate = asyncio.Semaphore(self.concurrency)

        async def send_group(group: list[DeliveryRow]) -> None:
            async with gate:
                for row in group:
                    await self.send_one(row)

        await asyncio.gather(*(send_group(g) for g in groups.values()))
        return len(rows)

    async def send_one(self, row: DeliveryRow) -> DeliveryStatus:
        attempts = row.attempts + 1
        error: str | None = None
        refused = False
        try:
            message = await self._message(row)
            await self.channels.send(message)
        except SendRefused as exc:
            error, refused = str(exc), True
        except SendFailed as exc:
            error = str(exc)
        except TimeoutError:
            error = "the send timed out"
        except Exception as exc:  # never the exception's text: it may hold a URL or token
            log.warning(
                "send failed", extra={"delivery_id": row.delivery_id, "error": type(exc).__name__}
            )
            error = f"the send failed: {type(exc).__name__}"
        if error is None:
            status, retry_in = DeliveryStatus.SENT, None
        else:
            allowed = self.max_attempts if refused else attempts
            after = after_failure(allowed, self.max_attempts, self.backoff, self.random())
            status, retry_in = after.status, after.retry_in_seconds
        outcome = {
            DeliveryStatus.SENT: NotificationSent,
            DeliveryStatus.FAILED: NotificationFailed,
            DeliveryStatus.DEAD: NotificationDead,
        }[status]
        data = outcome(
            delivery_id=row.delivery_id,
            rule_id=row.rule_id,
            channel=row.channel,
            execution=_execution_id(row.execution),
            phase=row.phase,
            attempts=attempts,
            error=error,
        )

        async def record() -> None:
            async with self.uow() as uow:
                await uow.deliveries.record(
                    row.delivery_id, status.value, attempts, error, retry_in
                )
                await uow.outbox.add(_outcome_messages(data, status))
                await uow.commit()

        # What was sent stays sent: given up while PostgreSQL is away, the record would be
        # lost, the delivery's lease run out and the alert go out again (the chaos run's
        # PostgreSQL kill sent two alerts twice that way).
        await retry_transient(
            record, what="recording a delivery's outcome", sleep=self.sleep, random=self.random
        )
        log.info(
            "delivery %s",
            status.value,
            extra={"delivery_id": row.delivery_id, "channel": row.channel, "attempts": attempts},
        )
        return status

    async def _message(self, row: DeliveryRow) -> Outgoing:
        kind = ChannelKind(row.channel)
        if row.digest_window is not None:
            async with self.uow(atomic=False) as uow:
                items = await uow.deliveries.digest_items(row.delivery_id)
            context: dict[str, Any] = {
                "items": items,
                "rule_id": row.rule_id,
                "alert": row.alert,
                "subject": items[-1] if items else {},
                "link": self.console_base_url,
                "command": "contrail get deliveries",
            }
            message = render(row.template or DIGEST_TEMPLATE, context)
            data: dict[str, Any] = {"delivery_id": row.delivery_id, "items": items}
        else:
            subject = row.subject or {}
            p, d, n = subject.get("project"), subject.get("domain"), subject.get("execution")
            context = {
                "subject": subject,
                "alert": row.alert,
                "link": console_url(self.console_base_url, str(p), str(d), str(n)),
                "command": f"contrail get execution {n} -p {p} -d {d}",
                "items": [subject],
                "rule_id": row.rule_id,
            }
            message = render(row.template or DEFAULT_TEMPLATES[kind], context)
            data = {
                "delivery_id": row.delivery_id,
                "rule_id": row.rule_id,
                "alert": row.alert,
                "link": context["link"],
                "subject": subject,
            }
        return Outgoing(
            delivery_id=row.delivery_id,
            rule_id=row.rule_id,
            channel=kind,
            target=row.target,
            title=message.title,
            body=message.body,
            dedup_key=row.dedup_key,
            resolve=row.alert == Alert.RECOVERED.value,
            data=data,
        )

    async def forget_old(self, older_than_hours: float) -> int:
        """Forget consumed event ids and dedup keys older than Kafka's replay could reach."""
        async with self.uow() as uow:
            forgotten = await uow.consumed.forget(older_than_hours)
            forgotten += await uow.alerted.forget(older_than_hours)
            await uow.commit()
        return forgotten

    async def retry(self, delivery_id: str) -> DeliveryRow | None:
        async with self.uow() as uow:
            row = await uow.deliveries.retry(delivery_id)
            await uow.commit()
        return row


def _lp_key(s: Subject) -> str:
    return f"{s.project}/{s.domain}/{s.launch_plan}@{s.launch_plan_version}"


def _execution_id(key: str | None) -> ExecutionIdentifier | None:
    if not key or key.count("/") != 2:
        return None
    project, domain, name = key.split("/")
    return ExecutionIdentifier(project=project, domain=domain, name=name)


def _outcome_messages(data: NotificationOutcome, status: DeliveryStatus) -> list[OutboxMessage]:
    event = CloudEvent.wrap(
        data, source=SOURCE, subject=f"urn:contrail:delivery:{data.delivery_id}"
    )
    # Keyed by the execution (docs/events.md), so one execution's outcomes stay in order;
    # a digest's or a test's, by the delivery.
    key = data.execution.key if data.execution else data.delivery_id
    messages = [OutboxMessage(NOTIFICATIONS, key, event)]
    if status is DeliveryStatus.DEAD:
        messages.append(OutboxMessage(dead_letter(NOTIFICATIONS), key, event))
    return messages
