"""A small time-bounded cache of resolved credentials, keyed by the credential's SHA-256."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


def credential_key(credential: str) -> str:
    """What the cache keys on: never the credential itself."""
    return hashlib.sha256(credential.encode()).hexdigest()


class TTLCache(Generic[V]):
    """At most ``max_entries`` values, each for at most ``ttl`` seconds after it was put."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self._clock() >= expires:
            del self._entries[key]
            return None
        return value

    def put(self, key: str, value: V) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard_where(self, predicate: Callable[[V], bool]) -> int:
        """Drop every entry whose value matches (a revoked token's): how many were dropped."""
        keys = [key for key, (_, value) in self._entries.items() if predicate(value)]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def __len__(self) -> int:
        return len(self._entries)
