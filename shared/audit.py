"""The audit log's records: who did what, to which resource, written with the change itself.

A service that registers, launches, aborts, or changes a token, a grant or a
subscription adds ``audit_record(...)`` to its unit of work's outbox in the
same transaction as the change, so an entry exists if, and only if, the
change was kept. The record goes to ``contrail.audit``; the registry consumes
it into its ``audit_log`` table (deduplicated on the event id) and serves
``GET /api/v1/audit``.

The actor is the principal of the request being served
(``shared.auth.context.current_actor()``), ``system`` outside a request.
Details never carry a secret: values under secret-sounding keys, and strings
that look like a Contrail token, are masked (``masked``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.auth.context import current_actor
from shared.events.catalogue import AUDIT_EVENTS, AuditAction
from shared.events.envelope import CloudEvent, source_of
from shared.events.topics import AUDIT
from shared.outbox.writer import OutboxMessage

MASK = "***"

_SECRET_KEY = re.compile(
    r"token|secret|password|passwd|credential|authorization|api_?key|routing_?key|webhook|target|dsn",
    re.IGNORECASE,
)
_TOKEN_VALUE = re.compile(r"ctr_[a-z0-9]{12}_\S+|(?i:bearer)\s+\S+")
# Names that only look secret: a token's id and its label.
_NOT_SECRET_KEYS = frozenset({"token_id", "token_name"})


def masked(value: Any, key: str = "") -> Any:
    """``value`` with every secret replaced by ``***``, nested mappings and lists included.

    A value is secret when its key sounds like one (``token``, ``webhook_url``,
    ``password``, a channel's ``target``...), or when it is a string holding a
    Contrail token or a bearer credential.
    """
    if key and key not in _NOT_SECRET_KEYS and _SECRET_KEY.search(key):
        return MASK
    if isinstance(value, Mapping):
        return {str(k): masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    if isinstance(value, str):
        return _TOKEN_VALUE.sub(MASK, value)
    return value


def audit_record(
    action: AuditAction,
    *,
    service: str,
    project: str | None,
    domain: str | None,
    resource: str,
    details: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> OutboxMessage:
    """The outbox message of one audit entry; add it in the transaction of the change.

    ``service`` is the acting service (``registry``, ``launcher``, ...);
    ``actor`` defaults to the principal of the current request. The record is
    keyed by project (by resource when there is none).
    """
    data = AUDIT_EVENTS[action](
        actor=actor if actor is not None else current_actor(),
        action=action,
        project=project,
        domain=domain,
        resource=resource,
        details=masked(dict(details or {})),
    )
    event = CloudEvent.wrap(data, source=source_of(service), subject=resource)
    return OutboxMessage(AUDIT, project or resource, event)
