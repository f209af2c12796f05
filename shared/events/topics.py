"""Kafka topic names, as in the design's topic table."""

from __future__ import annotations

REGISTRY = "contrail.registry"
EXECUTIONS = "contrail.executions"
DISPATCH = "contrail.dispatch"
NOTIFICATIONS = "contrail.notifications"

ALL_TOPICS: tuple[str, ...] = (REGISTRY, EXECUTIONS, DISPATCH, NOTIFICATIONS)


def dead_letter(topic: str) -> str:
    """The dead-letter topic of ``topic``: keyed as the original."""
    return f"{topic}.dlq"
