"""What the inbox runner needs from a store, whatever the engine behind it.

`Inbox` (the runner) and `ToolResultReplay` talk to an `InboxBackend` and nothing else, so a
store for a fleet of hosts can sit where the one-host SQLite file sits today. Every method
that writes has committed when it returns, except `save_tool_result`, which is written
behind: a stored tool result only spares a retry from running the tool again, and the
answer should not wait for the disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from receiver.errors import ReceiverError
from receiver.inbox.schema import InboxError
from receiver.inbox.settings import InboxConfig
from receiver.inbox.store import Accepted, Counts, Delivery, Purged, Status


class StoreUnavailable(ReceiverError):
    """The store refused a read or a write (locked too long, disk full, connection lost)."""


class IncompatibleSchema(InboxError):
    """The store's schema is newer than this package: the code would misread it."""


class InboxBackend(Protocol):
    """The inbox's storage; see `receiver.inbox.store.InboxStore` for each operation's rules.

    Raises (every method):
        StoreUnavailable: the operation did not happen; nothing of it was written.
        receiver.inbox.InboxError: the store cannot be opened or used at all.
    """

    async def add(
        self, *, key: str, kind: str, call_id: str | None, body: bytes, owner: str, lease: float
    ) -> Accepted: ...

    async def claim_due(self, owner: str, *, lease: float, limit: int) -> list[Delivery]: ...

    async def renew(self, owner: str, ids: Collection[int], *, lease: float) -> int: ...

    async def finish(
        self,
        delivery_id: int,
        owner: str,
        *,
        succeeded: Collection[str],
        errors: Mapping[str, str],
        max_attempts: int,
        backoff: Callable[[int], float],
        park: bool = False,
    ) -> Status | None: ...

    async def tool_result(self, key: str, *, window: float) -> str | None: ...

    def save_tool_result(self, key: str, result: str) -> None:
        """Store a tool result soon after, without waiting; a failure is logged."""

    async def first_sight(self, key: str, *, ttl: float) -> bool:
        """Record a signed request's replay key for `ttl` seconds; false if already recorded.

        Shared by every process on the store. A store that one process alone uses need not
        keep anything: the credential's own memory already covers that process.
        """

    async def counts(self) -> Counts: ...

    async def probe(self) -> None:
        """Take the write lock and let it go, writing nothing: what storing needs first."""

    async def purge(self, *, older_than: float, tool_result_window: float) -> Purged: ...

    async def maintain(self) -> None:
        """Housekeeping the runner's sweep asks for about once a second."""

    #: Whether `wait_for_work` returns early when work appears: the sweep may then poll less.
    wakes_on_work: bool

    async def wait_for_work(self, timeout: float) -> None:
        """Return after `timeout` seconds, or sooner when another process says work is due."""

    async def close(self) -> None:
        """Write what is behind, then let the connections go; a later call opens them again."""


def open_backend(config: InboxConfig, *, clock: Callable[[], float] = time.time) -> InboxBackend:
    """The store `config` names; nothing is opened until the first call."""
    if config.url:
        from receiver.inbox.postgres import PostgresBackend  # the engines load on demand

        return PostgresBackend(config)
    from receiver.inbox.sqlite import SqliteBackend

    return SqliteBackend(config, clock=clock)
