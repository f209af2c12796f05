"""Subscriptions: rules made through the API, checked when they are made.

A subscription that could not deliver is refused at once (400 naming the
field): a bad email address or URL, an unknown phase, a template that does
not render (with its line), a webhook host outside the allowed list, a digest
window of 0.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.notifier.domain.rules import ALL_PHASES, PHASES, Channel, EventKind, Rule
from services.notifier.domain.templates import SAMPLE_SUBJECT, TemplateInvalid, validate
from services.notifier.service_layer.audit import subscription_changed
from services.notifier.service_layer.unit_of_work import DeliveryFilter, NewDelivery
from shared.db.paging import decode_token, page_of
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.events.catalogue import AuditAction
from shared.sealing import MASK, is_sealed
from shared.specs import ChannelKind

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+|[^@\s]+@localhost")


class ChannelSpec(BaseModel):
    """One destination: ``email`` (an address), ``slack`` (a webhook URL or a channel name),
    ``teams`` (a webhook URL), ``pagerduty`` (a routing key), ``webhook`` (a URL)."""

    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind
    target: str = Field(min_length=1, max_length=2000)

    @field_validator("target")
    @classmethod
    def _target(cls, target: str, info: ValidationInfo) -> str:
        t = target.strip()
        kind = info.data.get("kind")
        if kind is ChannelKind.EMAIL and not _EMAIL.fullmatch(t):
            raise ValueError(f"{t!r} is not an email address")
        url_needed = kind in (ChannelKind.TEAMS, ChannelKind.WEBHOOK) or (
            kind is ChannelKind.SLACK and t.startswith(("http:", "https:"))
        )
        if url_needed:
            parts = urlsplit(t)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("not an http(s) URL")
        return t


class SubscriptionSpec(BaseModel):
    """What a subscription filters on, when it alerts, and where."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, description="For people; not unique.")
    project: str = Field(default="*", description="Glob (fnmatch), e.g. flytesnacks or data-*.")
    domain: str = Field(default="*", description="Glob.")
    workflow: str = Field(default="*", description="Glob on the workflow's name.")
    launch_plan: str = Field(default="*", description="Glob on the launch plan's name.")
    kinds: list[EventKind] = Field(
        default=[EventKind.EXECUTION], min_length=1, description="execution, node, task_attempt."
    )
    phases: list[str] = Field(min_length=1, description="Phases of those kinds, e.g. FAILED.")
    labels: dict[str, str] = Field(default_factory=dict, description="All must match.")
    channels: list[ChannelSpec] = Field(min_length=1)
    template: str | None = Field(
        default=None, description="Jinja2 (sandboxed); first line = title. Default per channel."
    )
    failures_in_a_row: int = Field(
        default=1, ge=1, le=10_000, description="Alert once N failed in a row."
    )
    recovered: bool = Field(
        default=False, description="Also alert on the first success after a failure."
    )
    digest_seconds: int | None = Field(
        default=None,
        gt=0,
        le=31 * 24 * 3600,
        description="One message per window listing every match (at most 31 days).",
    )

    @field_validator("phases")
    @classmethod
    def _phases(cls, phases: list[str]) -> list[str]:
        upper = [p.upper() for p in phases]
        unknown = [p for p in upper if p not in ALL_PHASES]
        if unknown:
            raise ValueError(
                f"unknown phase(s) {', '.join(unknown)}; known: {', '.join(sorted(ALL_PHASES))}"
            )
        return list(dict.fromkeys(upper))

    @model_validator(mode="after")
    def _phases_of_kinds(self) -> SubscriptionSpec:
        known = frozenset().union(*(PHASES[k] for k in self.kinds))
        unknown = [p for p in self.phases if p not in known]
        if unknown:
            raise ValueError(f"phases: {', '.join(unknown)} is not a phase of {self.kinds}")
        return self


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paused: bool


def check(spec: SubscriptionSpec, allowed_hosts: list[str]) -> None:
    """What pydantic cannot say: the template renders, webhook hosts are allowed.

    Raises:
        InvalidRequest: naming ``template`` (with its line) or ``channels.N.target``.
    """
    if spec.template is not None:
        try:
            validate(spec.template)
        except TemplateInvalid as exc:
            raise InvalidRequest(
                f"the template does not render: {exc}",
                [{"field": "template", "line": exc.line, "message": str(exc)}],
            ) from None
    for i, channel in enumerate(spec.channels):
        if channel.kind not in (ChannelKind.WEBHOOK, ChannelKind.TEAMS, ChannelKind.SLACK):
            continue
        if channel.kind is ChannelKind.SLACK and not channel.target.startswith(("http:", "https:")):
            continue
        host = urlsplit(channel.target.strip()).hostname or ""
        if not any(fnmatch.fnmatchcase(host, pattern) for pattern in allowed_hosts):
            raise InvalidRequest(
                f"webhook host {host!r} is not allowed (CONTRAIL_WEBHOOK_ALLOWED_HOSTS)",
                [{"field": f"channels.{i}.target", "message": f"host {host!r} is not allowed"}],
            )


def new_rule_id() -> str:
    return "sub-" + uuid.uuid4().hex[:12]


def rule_of(rule_id: str, spec: dict[str, Any], paused: bool) -> Rule:
    """The domain rule of a stored subscription."""
    s = SubscriptionSpec.model_validate(spec)
    phases = set(s.phases)
    if s.recovered:
        phases.add("SUCCEEDED")
    return Rule(
        id=rule_id,
        channels=tuple(Channel(c.kind, c.target.strip()) for c in s.channels),
        phases=frozenset(phases),
        kinds=frozenset(s.kinds),
        project=s.project,
        domain=s.domain,
        workflow=s.workflow,
        launch_plan=s.launch_plan,
        labels=dict(s.labels),
        template=s.template,
        paused=paused,
        failures_in_a_row=s.failures_in_a_row,
        recovered=s.recovered,
        digest_seconds=s.digest_seconds,
    )


_SECRET_PATH = re.compile(r"^(https?://[^/]+)(/.*)?$")


def redact_target(kind: str, target: str) -> str:
    """A destination as the API and logs show it: no token, no secret part of a URL."""
    if is_sealed(target):
        return MASK  # a launch plan's secret, sealed by the registry
    if kind == ChannelKind.EMAIL.value:
        return target
    if kind == ChannelKind.PAGERDUTY.value:
        return target[:4] + "…" if len(target) > 4 else "…"
    match = _SECRET_PATH.match(target)
    if match:
        return match.group(1) + ("/…" if match.group(2) and match.group(2) != "/" else "")
    return target


class SubscriptionService:
    """The API's use cases on subscriptions (and the deliveries they made)."""

    def __init__(self, uow: Any, allowed_hosts: list[str], new_id: Any = new_rule_id) -> None:
        self.uow = uow
        self.allowed_hosts = allowed_hosts
        self.new_id = new_id

    async def create(self, spec: SubscriptionSpec, paused: bool = False) -> Any:
        check(spec, self.allowed_hosts)
        async with self.uow() as uow:
            row = await uow.subscriptions.add(self.new_id(), spec.model_dump(mode="json"), paused)
            entry = subscription_changed(AuditAction.SUBSCRIPTION_CREATE, row.rule_id, row.spec)
            await uow.outbox.add([entry])
            await uow.commit()
        return row

    async def get(self, rule_id: str) -> Any:
        async with self.uow(atomic=False) as uow:
            row = await uow.subscriptions.get(rule_id)
        if row is None:
            raise NotFound(f"no subscription {rule_id}")
        return row

    async def replace(self, rule_id: str, spec: SubscriptionSpec) -> Any:
        check(spec, self.allowed_hosts)
        async with self.uow() as uow:
            old = await uow.subscriptions.get(rule_id)
            if old is None:
                raise NotFound(f"no subscription {rule_id}")
            new_spec = spec.model_dump(mode="json")
            row = await uow.subscriptions.update(rule_id, new_spec, old.paused)
            entry = subscription_changed(AuditAction.SUBSCRIPTION_UPDATE, rule_id, new_spec)
            await uow.outbox.add([entry])
            await uow.commit()
        return row

    async def set_paused(self, rule_id: str, paused: bool) -> Any:
        async with self.uow() as uow:
            old = await uow.subscriptions.get(rule_id)
            if old is None:
                raise NotFound(f"no subscription {rule_id}")
            row = await uow.subscriptions.update(rule_id, old.spec, paused)
            if paused != old.paused:
                action = (
                    AuditAction.SUBSCRIPTION_PAUSE if paused else AuditAction.SUBSCRIPTION_RESUME
                )
                await uow.outbox.add([subscription_changed(action, rule_id, old.spec)])
            await uow.commit()
        return row

    async def delete(self, rule_id: str) -> None:
        async with self.uow() as uow:
            old = await uow.subscriptions.get(rule_id)
            if old is None or not await uow.subscriptions.delete(rule_id):
                raise NotFound(f"no subscription {rule_id}")
            entry = subscription_changed(AuditAction.SUBSCRIPTION_DELETE, rule_id, old.spec)
            await uow.outbox.add([entry])
            await uow.commit()

    async def page(self, limit: int, token: str | None) -> Any:
        before = decode_token(token)
        async with self.uow(atomic=False) as uow:
            rows = await uow.subscriptions.page(limit + 1, before)
        return page_of(rows, limit, lambda r: r.id)

    async def test_send(self, rule_id: str) -> list[str]:
        """A pending delivery per channel of the subscription, about a sample failure."""
        row = await self.get(rule_id)
        rule = rule_of(row.rule_id, row.spec, row.paused)
        subject = dict(SAMPLE_SUBJECT, event_id=f"test-{uuid.uuid4().hex}", execution="test-alert")
        ids: list[str] = []
        deliveries = []
        for channel in rule.channels:
            delivery_id = str(uuid.uuid4())
            ids.append(delivery_id)
            deliveries.append(
                NewDelivery(
                    delivery_id=delivery_id,
                    rule_id=rule.id,
                    channel=channel.kind.value,
                    target=channel.target,
                    execution=None,
                    phase="TEST",
                    alert="match",
                    dedup_key=delivery_id,
                    template=rule.template,
                    subject=subject,
                )
            )
        async with self.uow() as uow:
            await uow.deliveries.add(deliveries)
            await uow.commit()
        return ids

    async def deliveries(self, where: DeliveryFilter, limit: int, token: str | None) -> Any:
        before = decode_token(token)
        async with self.uow(atomic=False) as uow:
            rows = await uow.deliveries.page(where, limit + 1, before)
        return page_of(rows, limit, lambda r: r.id)

    async def delivery(self, delivery_id: str) -> Any:
        async with self.uow(atomic=False) as uow:
            row = await uow.deliveries.get(delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        return row

    async def retry(self, delivery_id: str) -> Any:
        async with self.uow() as uow:
            row = await uow.deliveries.retry(delivery_id)
            if row is None:
                existing = await uow.deliveries.get(delivery_id)
                if existing is None:
                    raise NotFound(f"no delivery {delivery_id}")
                raise Conflict(
                    f"delivery {delivery_id} is {existing.status}; only a dead one is retried"
                )
            await uow.commit()
        return row
