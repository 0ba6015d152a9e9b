"""The inbox's own thread: SQLite calls run there, never on the event loop, in batches.

One thread owns the one connection, so calls are serialised without locks, and a commit
waiting on the disk (`synchronous = "full"`) holds up other inbox calls but never a request
that does not touch the inbox. Connection and thread are created on first use, so that
building a receiver touches no file, and again after a fork (a connection must not cross
one).

Group commit: the thread takes every call queued while it was busy and runs them in one
transaction with one commit, then wakes each event loop once for the whole batch. Under
load this turns a round trip and a commit per call into one per batch, which is most of
the inbox's cost. A caller's future is resolved only after the commit, so a delivery is
still on disk before it is acknowledged. Each call runs inside its own savepoint: one that
raises is rolled back alone and gets its exception, the others commit. If the batch itself
cannot begin or commit (another worker holds the lock too long, a disk error), its calls
are run again one transaction each, so a failure is reported to the calls it belongs to.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from receiver.inbox.store import InboxStore

P = ParamSpec("P")
T = TypeVar("T")

#: A queued call: what to run, and the future (and its loop) that gets the outcome.
_Job = tuple[Callable[[InboxStore], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
#: Calls committed together at most: bounds how long a batch holds the file's write lock,
#: which other workers sharing the file wait for.
MAX_BATCH: Final = 256
#: Ends the thread, after the calls queued before it.
_STOP: Final = None


class StoreThread:
    """Runs `InboxStore` methods on a dedicated thread, committing concurrent calls together.

    Args:
        opener: Opens the store; called on the thread, at the first call.
    """

    def __init__(self, opener: Callable[[], InboxStore]) -> None:
        self._opener = opener
        self._queue: queue.SimpleQueue[_Job | None] | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    async def call(
        self,
        method: Callable[Concatenate[InboxStore, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`await thread.call(InboxStore.add, key=...)`: the method, run on the thread.

        The method runs inside the batch's transaction; its writes are committed before
        this returns.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = functools.partial(_bound, method, args, kwargs)
        self._jobs().put((job, loop, future))
        return await future

    def submit(self, jobs: list[_Job]) -> None:
        """Queue calls already made elsewhere (`receiver.inbox.loop_writer`), to run here."""
        queued = self._jobs()
        for job in jobs:
            queued.put(job)

    async def close(self) -> None:
        """Close the connection and end the thread; a later call opens them again."""
        if self._queue is None or self._pid != os.getpid():
            return
        jobs, thread = self._queue, self._thread
        self._queue = self._thread = None
        jobs.put(_STOP)
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def _jobs(self) -> queue.SimpleQueue[_Job | None]:
        if self._pid != os.getpid():  # forked: the parent's thread and connection are gone
            self._pid, self._queue, self._thread = os.getpid(), None, None
        if self._queue is None:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=_serve, args=(self._opener, self._queue), name="vapi-inbox", daemon=True
            )
            self._thread.start()
        return self._queue


def _bound(
    method: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], store: InboxStore
) -> T:
    return method(store, *args, **kwargs)


def _serve(opener: Callable[[], InboxStore], jobs: queue.SimpleQueue[_Job | None]) -> None:
    """The thread: take what is queued, run it as one batch, until told to stop."""
    store: InboxStore | None = None
    try:
        while True:
            batch, stop = _take(jobs)
            if batch:
                if store is None:
                    try:
                        store = opener()
                    except Exception as exc:  # every caller must hear of it; next batch retries
                        _resolve(batch, [(None, exc)] * len(batch))
                        continue
                _resolve(batch, _run_batch(store, batch))
            if stop:
                return
    finally:
        if store is not None:
            store.close()


def _take(jobs: queue.SimpleQueue[_Job | None]) -> tuple[list[_Job], bool]:
    """Wait for a job, then take those queued with it (up to `MAX_BATCH`); and whether to stop."""
    batch: list[_Job] = []
    job = jobs.get()
    while job is not None:  # None is _STOP
        batch.append(job)
        if len(batch) >= MAX_BATCH:
            return batch, False
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return batch, False
    return batch, True


def _run_batch(store: InboxStore, batch: list[_Job]) -> list[tuple[Any, BaseException | None]]:
    """Each job's (result, exception), all committed in one transaction when possible."""
    if len(batch) == 1:
        return [_run_alone(store, batch[0][0])]
    outcomes: list[tuple[Any, BaseException | None]] = []
    try:
        with store.batch():
            for job, _loop, _future in batch:
                outcomes.append(store.in_savepoint(job))
    except sqlite3.Error:
        # The batch could not begin or commit: nothing of it is on disk. Run each job in a
        # transaction of its own, so that the error reaches only the jobs it concerns.
        return [_run_alone(store, job) for job, _loop, _future in batch]
    return outcomes


def _run_alone(store: InboxStore, job: Callable[[InboxStore], Any]) -> tuple[Any, Any]:
    try:
        return job(store), None
    except Exception as exc:  # handed to the caller, which raises it
        return None, exc


def _resolve(batch: list[_Job], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    """Wake each event loop once, with all the outcomes of its calls."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
    for (_job, loop, future), (result, error) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, result, error))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
