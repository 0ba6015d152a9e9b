"""The one-host inbox: a SQLite file, behind the `InboxBackend` seam.

With `synchronous = "normal"` (the default) writes run on the event loop, one group commit
per loop turn (`loop_writer`), and reads never leave the loop. With `"full"` every commit
waits for the disk, which must not stall the loop: everything then runs on the inbox thread
(`thread`), which also runs what may take long whatever the setting: purges, checkpoints,
and a batch that found the file locked by another process.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from receiver.inbox.backend import StoreUnavailable
from receiver.inbox.loop_writer import LoopWriter
from receiver.inbox.settings import InboxConfig
from receiver.inbox.store import Accepted, Counts, Delivery, InboxStore, Purged, Status
from receiver.inbox.thread import StoreThread
from receiver.log import logger

P = ParamSpec("P")
T = TypeVar("T")


class SqliteBackend:
    """`InboxBackend` on the SQLite file at `config.path`.

    Args:
        config: The `[inbox]` settings (`path`, `synchronous`).
        clock: Seconds since the epoch, for the stored timestamps.
    """

    def __init__(self, config: InboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        opener = functools.partial(
            InboxStore.open, config.path, synchronous=config.synchronous, clock=clock
        )
        self._thread = StoreThread(opener)
        self._loop = LoopWriter(opener, self._thread) if config.synchronous == "normal" else None
        self._behind: set[asyncio.Future[Any]] = set()
        self._prepared_in = 0  # the pid whose thread created or checked the file

    async def add(
        self, *, key: str, kind: str, call_id: str | None, body: bytes, owner: str, lease: float
    ) -> Accepted:
        return await self._write(
            InboxStore.add,
            key=key,
            kind=kind,
            call_id=call_id,
            body=body,
            owner=owner,
            lease=lease,
        )

    async def claim_due(self, owner: str, *, lease: float, limit: int) -> list[Delivery]:
        return await self._write(InboxStore.claim_due, owner, lease=lease, limit=limit)

    async def renew(self, owner: str, ids: Collection[int], *, lease: float) -> int:
        return await self._write(InboxStore.renew, owner, ids, lease=lease)

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
    ) -> Status | None:
        # Nothing waits for it but the handlers' own task, after the answer: it shares the
        # next delivery's commit (`loop_writer.BEHIND`).
        return await self._write_behind(
            InboxStore.finish,
            delivery_id,
            owner,
            succeeded=succeeded,
            errors=errors,
            max_attempts=max_attempts,
            backoff=backoff,
            park=park,
        )

    async def tool_result(self, key: str, *, window: float) -> str | None:
        return await self._read(InboxStore.tool_result, key, window=window)

    def save_tool_result(self, key: str, result: str) -> None:
        written: asyncio.Future[None] = (
            self._loop.submit(InboxStore.save_tool_result, key, result)
            if self._loop is not None and self._prepared_in == os.getpid()
            else asyncio.ensure_future(self._write(InboxStore.save_tool_result, key, result))
        )
        self._behind.add(written)
        written.add_done_callback(self._written)

    async def first_sight(self, key: str, *, ttl: float) -> bool:
        # Each worker's credentials remember what they accepted; the signed timestamp's
        # window bounds a replay to another worker of this host.
        return True

    async def counts(self) -> Counts:
        return await self._read(InboxStore.counts)

    async def probe(self) -> None:
        await self._write(InboxStore.probe)

    async def purge(self, *, older_than: float, tool_result_window: float) -> Purged:
        return await self._on_thread(
            InboxStore.purge, older_than=older_than, tool_result_window=tool_result_window
        )

    wakes_on_work = False

    async def wait_for_work(self, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def maintain(self) -> None:
        if self._loop is not None:  # its connection never checkpoints by itself
            await self._on_thread(InboxStore.checkpoint)

    async def close(self) -> None:
        if self._behind:
            await asyncio.wait(set(self._behind))
        if self._loop is not None:
            self._loop.close()
        await self._thread.close()

    # -- where each call runs ------------------------------------------------------------------

    async def _write(
        self, method: Callable[Concatenate[InboxStore, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            if self._loop is not None:
                await self._prepare()
                return await self._loop.call(method, *args, **kwargs)
            return await self._thread.call(method, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from None

    async def _write_behind(
        self, method: Callable[Concatenate[InboxStore, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        if self._loop is None:
            return await self._write(method, *args, **kwargs)
        try:
            await self._prepare()
            return await self._loop.submit_behind(method, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from None

    async def _prepare(self) -> None:
        """Let the thread create or check the file first, waiting for other processes' locks
        as long as it takes; the loop's connection then finds it ready and never waits."""
        if self._prepared_in != os.getpid():
            await self._thread.call(_open_only)
            self._prepared_in = os.getpid()

    async def _read(
        self, method: Callable[Concatenate[InboxStore, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            if self._loop is not None:
                await self._prepare()
                return self._loop.read(method, *args, **kwargs)
            return await self._thread.call(method, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from None

    async def _on_thread(
        self, method: Callable[Concatenate[InboxStore, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            return await self._thread.call(method, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from None

    def _written(self, written: asyncio.Future[Any]) -> None:
        self._behind.discard(written)
        if not written.cancelled() and (error := written.exception()) is not None:
            logger.error("could not store a tool result; a retry runs the tool again: %s", error)


def _open_only(store: InboxStore) -> None:
    """A call that makes the thread open the file, and does nothing with it."""
