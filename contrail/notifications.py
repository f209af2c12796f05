"""Notifications of a launch plan: which execution phases reach which channel.

``Email``, ``Slack``, ``MSTeams``, ``PagerDuty`` and ``Webhook`` each become a
``shared.specs.Notification``; the notifier delivers them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from contrail.errors import ContrailError
from shared.phases import ExecutionPhase
from shared.specs import ChannelKind, Notification

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class NotificationError(ContrailError, ValueError):
    """A notification without phases or recipients, or with an unknown phase."""


def _phases(kind: str, phases: Sequence[ExecutionPhase | str]) -> list[ExecutionPhase]:
    if isinstance(phases, str):
        phases = [phases]
    if not phases:
        raise NotificationError(f"{kind}: give at least one phase, e.g. phases=['FAILED']")
    result: list[ExecutionPhase] = []
    for phase in phases:
        try:
            value = ExecutionPhase(phase.upper() if isinstance(phase, str) else phase)
        except ValueError:
            known = ", ".join(p.value for p in ExecutionPhase)
            raise NotificationError(f"{kind}: unknown phase {phase!r} (one of {known})") from None
        if value not in result:
            result.append(value)
    return result


def _https_url(kind: str, what: str, url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url.strip()):
        raise NotificationError(f"{kind}: {what} must be an https:// URL, got {url!r}")
    return url.strip()


def _recipients(kind: str, what: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    cleaned = [v.strip() for v in values]
    if not cleaned or any(not v for v in cleaned):
        raise NotificationError(f"{kind}: give at least one {what}, and no empty one")
    return cleaned


@dataclass(frozen=True)
class Email:
    """Email ``recipients`` when an execution reaches one of ``phases``.

    Raises:
        NotificationError: no phase, an unknown phase, no recipient, or one that is not
            an email address.
    """

    phases: Sequence[ExecutionPhase | str]
    recipients: Sequence[str]
    template: str | None = None

    def __post_init__(self) -> None:
        self.to_spec()

    def to_spec(self) -> Notification:
        """The spec the notifier reads."""
        recipients = _recipients("Email", "recipient address", self.recipients)
        for address in recipients:
            if not _EMAIL.fullmatch(address):
                raise NotificationError(f"Email: {address!r} is not an email address")
        return Notification(
            phases=_phases("Email", self.phases),
            channel=ChannelKind.EMAIL,
            recipients=recipients,
            template=self.template,
        )


@dataclass(frozen=True)
class Slack:
    """Post to Slack, through an incoming ``webhook`` URL or to a ``channel``, on ``phases``.

    Raises:
        NotificationError: no phase, an unknown phase, neither webhook nor channel, or a
            webhook that is not an https URL.
    """

    phases: Sequence[ExecutionPhase | str]
    webhook: str | None = None
    channel: str | None = None
    template: str | None = None

    def __post_init__(self) -> None:
        self.to_spec()

    def to_spec(self) -> Notification:
        """The spec the notifier reads."""
        targets = [t for t in (self.webhook, self.channel) if t]
        if not targets:
            raise NotificationError("Slack: give webhook='https://hooks.slack.com/...' or channel")
        if self.webhook:
            _https_url("Slack", "webhook", self.webhook)
        return Notification(
            phases=_phases("Slack", self.phases),
            channel=ChannelKind.SLACK,
            recipients=_recipients("Slack", "webhook or channel", targets),
            template=self.template,
        )


@dataclass(frozen=True)
class MSTeams:
    """Post to a Microsoft Teams incoming ``webhook`` on ``phases``.

    Raises:
        NotificationError: no phase, an unknown phase, or a webhook that is not an https URL.
    """

    phases: Sequence[ExecutionPhase | str]
    webhook: str
    template: str | None = None

    def __post_init__(self) -> None:
        self.to_spec()

    def to_spec(self) -> Notification:
        """The spec the notifier reads."""
        return Notification(
            phases=_phases("MSTeams", self.phases),
            channel=ChannelKind.TEAMS,
            recipients=[_https_url("MSTeams", "webhook", self.webhook)],
            template=self.template,
        )


@dataclass(frozen=True)
class PagerDuty:
    """Trigger a PagerDuty incident through ``routing_key`` (an integration key) on ``phases``.

    Raises:
        NotificationError: no phase, an unknown phase, or no routing key.
    """

    phases: Sequence[ExecutionPhase | str]
    routing_key: str
    template: str | None = None

    def __post_init__(self) -> None:
        self.to_spec()

    def to_spec(self) -> Notification:
        """The spec the notifier reads."""
        return Notification(
            phases=_phases("PagerDuty", self.phases),
            channel=ChannelKind.PAGERDUTY,
            recipients=_recipients("PagerDuty", "routing key", [self.routing_key]),
            template=self.template,
        )


@dataclass(frozen=True)
class Webhook:
    """POST the event as JSON to ``url`` on ``phases``.

    Raises:
        NotificationError: no phase, an unknown phase, or a URL that is not http(s).
    """

    phases: Sequence[ExecutionPhase | str]
    url: str
    template: str | None = None

    def __post_init__(self) -> None:
        self.to_spec()

    def to_spec(self) -> Notification:
        """The spec the notifier reads."""
        if not self.url.startswith(("http://", "https://")):
            raise NotificationError(
                f"Webhook: url must start with http:// or https://: {self.url!r}"
            )
        return Notification(
            phases=_phases("Webhook", self.phases),
            channel=ChannelKind.WEBHOOK,
            recipients=[self.url],
            template=self.template,
        )


NotificationChannel = Email | Slack | MSTeams | PagerDuty | Webhook
"""Any of the notifications a launch plan accepts."""
