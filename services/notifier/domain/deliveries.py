"""A delivery's lifecycle: pending, then sent, or failed and retried, or dead.

``pending`` waits to be sent (a digest waits for its window's end); a send
that fails makes it ``failed`` with the next try after an exponential,
jittered wait; after the attempts allowed it is ``dead``. A dead delivery
may be retried by hand, which makes it ``pending`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.retry import Backoff


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True)
class AfterFailure:
    status: DeliveryStatus
    retry_in_seconds: float | None


def after_failure(
    attempts: int, max_attempts: int, backoff: Backoff, random: float
) -> AfterFailure:
    """What follows the ``attempts``-th failed send (counted from 1).

    ``random`` in [0, 1) draws the jitter (the caller's randomness).
    """
    if attempts >= max_attempts:
        return AfterFailure(DeliveryStatus.DEAD, None)
    return AfterFailure(DeliveryStatus.FAILED, backoff.delay(attempts - 1, lambda: random))
