"""What the notifier's use cases call outside the database: the channels and the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.identifiers import Identifier
from shared.specs import ChannelKind, Notification


class SendFailed(Exception):
    """A channel did not accept a message; the message says why, without secrets."""


class SendRefused(SendFailed):
    """The message may never be sent (a host outside the allowed list): dead at once."""


@dataclass(frozen=True)
class Outgoing:
    """One rendered message to one destination."""

    delivery_id: str
    rule_id: str
    channel: ChannelKind
    target: str
    title: str
    body: str
    dedup_key: str
    resolve: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class Channels(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Send ``message``, or raise ``SendFailed`` (or a transient error)."""


class LaunchPlans(Protocol):
    async def notifications(self, launch_plan: Identifier) -> list[Notification]:
        """The notifications the launch plan carries (immutable: cached)."""

    async def close(self) -> None:
        """Release its connections."""
