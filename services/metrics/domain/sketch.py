"""A mergeable log-bucket histogram (DDSketch-style) for durations and peaks.

A positive value ``x`` falls in bucket ``i = ceil(log_gamma(x))`` with
``gamma = (1 + a) / (1 - a)``; the bucket's representative ``2 gamma^i / (gamma + 1)``
is within the relative accuracy ``a`` (1 %) of every value in it. Buckets are
counts, so two sketches merge by adding counts: the roll-up rows keep their
sketch and a query adds the rows it reads. Values at or below ``MIN_VALUE``
(zero durations of cache hits) are kept in a zero bucket, key ``"z"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-9
ZERO_KEY = "z"


def bucket_of(value: float) -> str:
    """The key of the bucket ``value`` falls in."""
    if value <= MIN_VALUE:
        return ZERO_KEY
    return str(math.ceil(math.log(value) / _LOG_GAMMA))


def representative(key: str) -> float:
    """The value a bucket stands for (within ``RELATIVE_ACCURACY`` of its members)."""
    if key == ZERO_KEY:
        return 0.0
    return 2 * GAMMA ** int(key) / (GAMMA + 1)


def _order(key: str) -> float:
    return -math.inf if key == ZERO_KEY else int(key)


@dataclass
class Sketch:
    """Counts by bucket key; ``add``, ``merge`` and ``quantile``."""

    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Iterable[float]) -> Sketch:
        sketch = cls()
        for value in values:
            sketch.add(value)
        return sketch

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> Sketch:
        return cls({key: int(n) for key, n in counts.items() if int(n)})

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, value: float, n: int = 1) -> None:
        key = bucket_of(value)
        self.counts[key] = self.counts.get(key, 0) + n

    def add_count(self, key: str, n: int) -> None:
        """Add ``n`` values to the bucket ``key`` (as read back from storage)."""
        self.counts[key] = self.counts.get(key, 0) + int(n)

    def merge(self, other: Sketch | Mapping[str, int]) -> Sketch:
        """Add ``other``'s counts to this sketch (in place) and return it."""
        counts = other.counts if isinstance(other, Sketch) else other
        for key, n in counts.items():
            self.counts[key] = self.counts.get(key, 0) + int(n)
        return self

    def quantile(self, q: float) -> float | None:
        """The value of rank ``floor(q * (n - 1))`` (0-based), within 1 %; None when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile {q} is not between 0 and 1")
        total = self.count
        if total == 0:
            return None
        rank = math.floor(q * (total - 1))
        seen = 0
        for key in sorted(self.counts, key=_order):
            seen += self.counts[key]
            if seen > rank:
                return representative(key)
        raise AssertionError("unreachable: ranks are below the count")


def exact_quantile(values: list[float], q: float) -> float:
    """The exact value the sketch estimates: rank ``floor(q * (n - 1))`` of the sorted values."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]
