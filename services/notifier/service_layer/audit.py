"""The notifier's audit entries: subscriptions created, changed, paused, resumed, deleted.

Each is added to the outbox in the transaction of the change (``shared.audit``).
An entry names the subscription's rule id and what it filters on, never where
it sends (a webhook URL or a routing key is a secret).
"""

from __future__ import annotations

from typing import Any

from shared.audit import audit_record
from shared.events.catalogue import AuditAction
from shared.outbox import OutboxMessage

SERVICE = "notifier"
_GLOB = frozenset("*?[")


def subscription_changed(action: AuditAction, rule_id: str, spec: dict[str, Any]) -> OutboxMessage:
    """The entry of ``action`` on subscription ``rule_id`` (``spec``: its stored spec)."""
    project, domain = _plain(spec.get("project")), _plain(spec.get("domain"))
    details = {
        "name": spec.get("name", ""),
        "project": spec.get("project"),
        "domain": spec.get("domain"),
        "phases": spec.get("phases", []),
        "channels": [channel.get("kind") for channel in spec.get("channels", [])],
    }
    return audit_record(
        action,
        service=SERVICE,
        project=project,
        domain=domain if project is not None else None,
        resource=rule_id,
        details=details,
    )


def _plain(pattern: object) -> str | None:
    """The one name a filter pattern matches; None for a glob (it spans several)."""
    if not isinstance(pattern, str) or not pattern or _GLOB & set(pattern):
        return None
    return pattern
