"""The transactional outbox: write events with state, publish them after commit."""

from shared.outbox.relay import OutboxRelay
from shared.outbox.writer import OutboxMessage, OutboxRecord, enqueue

__all__ = ["OutboxMessage", "OutboxRecord", "OutboxRelay", "enqueue"]
