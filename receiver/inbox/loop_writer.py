"""SQLite writes on the event loop, one group commit per loop turn.

With `synchronous = "normal"` a WAL commit does not wait for the disk: it costs tens of
microseconds, less than handing the call to a thread and waking the loop when it is done.
So the calls made during one turn of the loop are queued and committed together, in one
transaction, by a callback at the start of the next turn: a lone request waits for no
timer, and a burst costs one commit. A caller's future is resolved only after the commit,
so a delivery is still on disk before it is acknowledged.

The loop must never wait long on the file. The connection here gives up on another
process's write lock almost at once, and never checkpoints (a checkpoint syncs the
database file); a batch that cannot begin is handed, unchanged and uncommitted, to the
inbox thread, which waits as long as the busy timeout allows, and the thread runs the
checkpoints.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from receiver.inbox.store import InboxStore
from receiver.inbox.thread import MAX_BATCH, StoreThread, _bound, _Job, _settle

P = ParamSpec("P")
T = TypeVar("T")

#: Milliseconds the loop's connection waits for another process's write lock before the
#: batch goes to the inbox thread instead.
LOOP_BUSY_TIMEOUT_MS: Final = 2
#: Commits after which the thread checkpoints the WAL, whether or not a sweep asks for it
#: (a receiver serving only tool calls has no sweep running).
CHECKPOINT_EVERY: Final = 1000
#: Seconds a write that nothing waits for (a handler's outcome, a tool result) may wait to
#: share the commit of the next delivery, instead of costing a commit of its own.
BEHIND: Final = 0.05


class LoopWriter:
    """Runs `InboxStore` methods on the event loop's thread, committing each turn's together.

    Args:
        opener: Opens the store; called at the first call, and again after a fork.
        thread: Where a batch goes when the file's write lock is busy or the batch fails.
    """

    def __init__(self, opener: Callable[[], InboxStore], thread: StoreThread) -> None:
        self._opener = opener
        self._thread = thread
        self._store: InboxStore | None = None
        self._pid = os.getpid()
        self._queued: list[_Job] = []
        self._commit_scheduled = False
        self._behind_timer: asyncio.TimerHandle | None = None
        self._commits = 0

    async def call(
        self,
        method: Callable[Concatenate[InboxStore, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`await writer.call(InboxStore.add, key=...)`, committed before it returns."""
        return await self.submit(method, *args, **kwargs)

    def submit_behind(
        self,
        method: Callable[Concatenate[InboxStore, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> asyncio.Future[T]:
        """Like `submit`, for a write that may wait up to `BEHIND` seconds for the next commit.

        A process killed in between loses it, which costs what at-least-once already allows
        for: a handler's outcome not recorded runs the delivery again after its lease, a tool
        result not stored runs a retried tool again.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append((functools.partial(_bound, method, args, kwargs), loop, future))
        if not self._commit_scheduled and self._behind_timer is None:
            self._behind_timer = loop.call_later(BEHIND, self._commit_queued)
        return future

    def submit(
        self,
        method: Callable[Concatenate[InboxStore, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> asyncio.Future[T]:
        """Queue a call for this turn's commit; the future has its outcome after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append((functools.partial(_bound, method, args, kwargs), loop, future))
        if not self._commit_scheduled:
            self._commit_scheduled = True
            loop.call_soon(self._commit_queued)
        return future

    def read(
        self, method: Callable[Concatenate[InboxStore, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a read-only method at once, outside any transaction (WAL readers never wait)."""
        return method(self._open(), *args, **kwargs)

    def close(self) -> None:
        """Let the connection go; calls still queued are committed first."""
        if self._queued:
            self._commit_queued()
        if self._store is not None and self._pid == os.getpid():
            self._store.close()
        self._store = None

    def _open(self) -> InboxStore:
        if self._pid != os.getpid():  # forked: the parent's connection must not be used
            self._pid, self._store, self._queued = os.getpid(), None, []
        if self._store is None:
            store = self._opener()
            store.tune_for_the_loop(LOOP_BUSY_TIMEOUT_MS)
            self._store = store
        return self._store

    def _checkpoint_on_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(lambda f: f.cancelled() or f.exception())  # logged nowhere: retried
        self._thread.submit([(InboxStore.checkpoint, loop, done)])

    def _commit_queued(self) -> None:
        self._commit_scheduled = False
        if self._behind_timer is not None:
            self._behind_timer.cancel()
            self._behind_timer = None
        batch, self._queued = self._queued, []
        for start in range(0, len(batch), MAX_BATCH):
            self._commit(batch[start : start + MAX_BATCH])

    def _commit(self, batch: list[_Job]) -> None:
        live = [job for job in batch if not job[2].cancelled()]
        if not live:
            return
        try:
            store = self._open()
            outcomes: list[tuple[Any, BaseException | None]] = []
            with store.batch():
                if len(live) == 1:  # no savepoint needed: its failure rolls back the batch
                    outcomes.append((live[0][0](store), None))
                else:
                    for job, _loop, _future in live:
                        outcomes.append(store.in_savepoint(job))
        except (sqlite3.Error, OSError):
            # Nothing of the batch was committed: the thread runs it again, waiting for the
            # lock as long as the busy timeout allows, and reports each job's own error.
            self._thread.submit(live)
            return
        except Exception as exc:  # the file cannot be opened: every caller hears of it
            outcomes = [(None, exc)] * len(live)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_on_thread(live[0][1])
        _settle([(job[2], *outcome) for job, outcome in zip(live, outcomes, strict=True)])
