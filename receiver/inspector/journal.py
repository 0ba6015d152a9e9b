"""The deliveries the inspector keeps: the latest `keep`, within `max_bytes`, newest last.

Memory is bounded whatever arrives: the oldest exchanges go when either bound is passed, and
a body larger than a quarter of `max_bytes` is kept only as its size. Watchers (the page's
server-sent events) each get a small queue; one that stops reading is dropped rather than
letting its queue grow.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

#: Exchanges a watcher may fall behind by before it is disconnected.
WATCHER_BACKLOG: Final = 256
#: Pages watching at once; more get a 429.
MAX_WATCHERS: Final = 16


@dataclass
class Exchange:
    """One request to the webhook path and its answer, as the inspector shows it.

    `headers` are already masked; `body` and `answer` are the raw bytes (masked when shown).
    """

    id: int
    at: float
    headers: dict[str, str]
    body: bytes
    body_size: int
    message_type: str | None = None
    call_id: str | None = None
    level: str | None = None
    verified: bool = False
    reason: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    answer: bytes = b""
    replay_of: int | None = None
    replay_mode: str | None = None
    url: str = ""
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.answer) + 512

    def summary(self) -> dict[str, Any]:
        """What a row of the page shows."""
        return {
            "id": self.id,
            "at": self.at,
            "type": self.message_type,
            "call_id": self.call_id,
            "level": self.level,
            "verification": "verified" if self.verified else "refused" if self.reason else "-",
            "reason": self.reason,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "replay_of": self.replay_of,
            "replay_mode": self.replay_mode,
        }


class Journal:
    """The bounded list of exchanges, and the queues of those watching it.

    Args:
        keep: Exchanges kept at most.
        max_bytes: Bytes of bodies and answers kept at most.
    """

    def __init__(self, keep: int, max_bytes: int) -> None:
        self.keep = keep
        self.max_bytes = max_bytes
        self._exchanges: deque[Exchange] = deque()
        self._bytes = 0
        self._ids = itertools.count(1)
        self._watchers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def start(self, headers: dict[str, str], body: bytes, **fields: Any) -> Exchange:
        """A new exchange, not yet in the list: it is added once answered (`finish`)."""
        kept = body if len(body) <= self.max_bytes // 4 else b""
        return Exchange(next(self._ids), time.time(), headers, kept, len(body), **fields)

    def finish(self, exchange: Exchange) -> None:
        """Add an answered exchange, drop the oldest past the bounds, and tell the watchers."""
        self._exchanges.append(exchange)
        self._bytes += exchange.size
        while self._exchanges and (
            len(self._exchanges) > self.keep or self._bytes > self.max_bytes
        ):
            self._bytes -= self._exchanges.popleft().size
        summary = exchange.summary()
        for queue in list(self._watchers):
            try:
                queue.put_nowait(summary)
            except asyncio.QueueFull:  # not reading: let it go, the page reconnects
                self._watchers.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)

    def get(self, exchange_id: int) -> Exchange | None:
        for exchange in self._exchanges:
            if exchange.id == exchange_id:
                return exchange
        return None

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self._exchanges)

    def __len__(self) -> int:
        return len(self._exchanges)

    def watch(self) -> asyncio.Queue[dict[str, Any] | None] | None:
        """A queue of new exchanges' summaries (`None` = stop), or `None` if too many watch."""
        if len(self._watchers) >= MAX_WATCHERS:
            return None
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(WATCHER_BACKLOG)
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._watchers.discard(queue)
