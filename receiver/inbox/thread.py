"""The inbox's own thread: SQLite calls run there, never on the event loop.

One thread owns the one connection, so calls are serialised without locks, and a commit
waiting on the disk (`synchronous = "full"`) holds up other inbox calls but never a request
that does not touch the inbox. Connection and thread are created on first use, so that
building a receiver touches no file, and again after a fork (a connection must not cross
one).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from receiver.inbox.store import InboxStore

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    """Runs `InboxStore` methods on a dedicated thread and awaits their results.

    Args:
        opener: Opens the store; called on the thread, at the first call.
    """

    def __init__(self, opener: Callable[[], InboxStore]) -> None:
        self._opener = opener
        self._executor: ThreadPoolExecutor | None = None
        self._store: InboxStore | None = None
        self._pid = os.getpid()

    async def call(
        self,
        method: Callable[Concatenate[InboxStore, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`await thread.call(InboxStore.add, key=...)`: the method, run on the thread."""
        loop = asyncio.get_running_loop()
        job = functools.partial(self._run, method, *args, **kwargs)
        return await loop.run_in_executor(self._thread(), job)

    async def close(self) -> None:
        """Close the connection and end the thread; a later call opens them again."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        await asyncio.get_running_loop().run_in_executor(executor, self._close_store)
        executor.shutdown(wait=False)

    def _thread(self) -> ThreadPoolExecutor:
        if self._pid != os.getpid():  # forked: the parent's thread and connection are gone
            self._pid, self._executor, self._store = os.getpid(), None, None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vapi-inbox")
        return self._executor

    def _run(
        self, method: Callable[Concatenate[InboxStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        if self._store is None:
            self._store = self._opener()
        return method(self._store, *args, **kwargs)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
