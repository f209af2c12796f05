"""Kafka topic names, as in the design's topic table."""

from __future__ import annotations

REGISTRY = "contrail.registry"
EXECUTIONS = "contrail.executions"
DISPATCH = "contrail.dispatch"
NOTIFICATIONS = "contrail.notifications"
# Who did what: every service writes here, the registry keeps it (GET /api/v1/audit).
AUDIT = "contrail.audit"
# Internal, between the engine and the workers (see shared/dispatch.py).
ATTEMPTS = "contrail.attempts"
CONTROL = "contrail.control"

ALL_TOPICS: tuple[str, ...] = (
    REGISTRY,
    EXECUTIONS,
    DISPATCH,
    NOTIFICATIONS,
    AUDIT,
    ATTEMPTS,
    CONTROL,
)


def dead_letter(topic: str) -> str:
    """The dead-letter topic of ``topic``: keyed as the original."""
    return f"{topic}.dlq"
