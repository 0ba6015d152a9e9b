"""Remembers signed HMAC requests for a while, so that a captured one cannot be sent again.

Memory is bounded: entries expire after a fixed time-to-live and, when the cache is full,
the oldest entry is forgotten first. Every entry has the same time-to-live, so insertion
order is expiry order and an ordered dict is all the bookkeeping needed. The cache lives in
one process. With several workers or hosts on a shared inbox (PostgreSQL), the keys a
delivery's check remembered are also collected (`REMEMBERED`) for the receiver to
record in the inbox, where every replica sees them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Final

#: Set by the receiver around one delivery's verification: the (key, ttl) pairs remembered.
REMEMBERED: ContextVar[list[tuple[str, float]] | None] = ContextVar(
    "vapi_receiver_remembered_keys", default=None
)

DEFAULT_CAPACITY: Final = 100_000
"""At most about 20 MB; far more deliveries than one tolerance window sees at Vapi's rates."""


class ReplayCache:
    """A bounded, expiring set of keys; `add` says whether the key was new."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, *, now: float, ttl: float) -> bool:
        """Record `key` until `now + ttl`; false if it is already recorded and unexpired."""
        with self._lock:
            self._forget_expired(now)
            if key in self._expiry:
                return False
            if len(self._expiry) >= self.capacity:
                self._expiry.popitem(last=False)
            self._expiry[key] = now + ttl
        if (remembered := REMEMBERED.get()) is not None:
            remembered.append((key, ttl))
        return True

    def __len__(self) -> int:
        return len(self._expiry)

    def _forget_expired(self, now: float) -> None:
        while self._expiry:
            key, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                return
            del self._expiry[key]
