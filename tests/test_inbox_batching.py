"""Group commit on the inbox thread, on a real SQLite file: calls queued together commit
together, each caller gets its own outcome, and one failing call loses none of the others."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from receiver.inbox import InboxStore
from receiver.inbox.schema import connect
from receiver.inbox.store import Accepted
from receiver.inbox.thread import StoreThread

T = TypeVar("T")


class Counted:
    """Opens the inbox at `path` and counts the COMMIT statements run on its connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits = 0

    def __call__(self) -> InboxStore:
        connection = connect(str(self.path))
        connection.set_trace_callback(self._trace)
        return InboxStore(connection)

    def _trace(self, statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            self.commits += 1


def hold(store: InboxStore, gate: threading.Event) -> None:
    """Keeps the inbox thread busy until `gate` is set, so that calls queue up behind it."""
    assert gate.wait(10), "the test never released the inbox thread"


def add(store: InboxStore, key: str) -> Accepted:
    return store.add(key=key, kind="status-update", call_id="c", body=b"{}", owner="w", lease=30)


def add_then_fail(store: InboxStore, key: str) -> None:
    add(store, key)
    raise ValueError("this job fails after writing")


def end_the_transaction(store: InboxStore) -> None:
    """What SQLite does on some errors (a full disk): rolls the whole transaction back."""
    store._db.execute("ROLLBACK")


def keys_on_disk(path: Path) -> dict[str, int]:
    """Key to id, as another process sees them: through its own connection."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, id FROM deliveries"))


async def queued_behind_a_busy_thread(
    thread: StoreThread, calls: Sequence[Callable[[], Awaitable[T]]]
) -> list[T | BaseException]:
    """Run `calls` so that all are queued before the thread takes any: one batch."""
    gate = threading.Event()
    busy = asyncio.ensure_future(thread.call(hold, gate))
    tasks = [asyncio.ensure_future(call()) for call in calls]
    await asyncio.sleep(0)  # every task has queued its call; the thread is still held
    gate.set()
    await busy
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_concurrent_adds_commit_once_and_each_caller_gets_its_own_delivery(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.db"
    opener = Counted(path)
    keys = [f"k{n}" for n in range(50)]

    async def scenario() -> list[Any]:
        thread = StoreThread(opener)
        try:
            calls = [functools.partial(thread.call, add, key) for key in keys]
            results = await queued_behind_a_busy_thread(thread, calls)
            # Acknowledged means committed: another connection sees every delivery already.
            assert set(keys_on_disk(path)) == set(keys)
            return results
        finally:
            await thread.close()

    results = asyncio.run(scenario())

    on_disk = keys_on_disk(path)
    assert results == [Accepted(id=on_disk[key], duplicate=False) for key in keys]
    assert opener.commits == 1


def test_a_failing_call_is_undone_alone_and_the_others_commit(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    opener = Counted(path)

    async def scenario() -> list[Any]:
        thread = StoreThread(opener)
        try:
            return await queued_behind_a_busy_thread(
                thread,
                [
                    functools.partial(thread.call, add, "before"),
                    functools.partial(thread.call, add_then_fail, "failed"),
                    functools.partial(thread.call, add, "before"),  # a repeat in the same batch
                    functools.partial(thread.call, add, "after"),
                ],
            )
        finally:
            await thread.close()

    before, failed, repeat, after = asyncio.run(scenario())

    assert isinstance(failed, ValueError)
    on_disk = keys_on_disk(path)
    assert set(on_disk) == {"before", "after"}  # the failed call's write is rolled back
    assert before == Accepted(id=on_disk["before"], duplicate=False)
    assert repeat == Accepted(id=on_disk["before"], duplicate=True)
    assert after == Accepted(id=on_disk["after"], duplicate=False)
    assert opener.commits == 1


def test_a_batch_whose_transaction_is_lost_runs_its_calls_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    opener = Counted(path)

    async def scenario() -> list[Any]:
        thread = StoreThread(opener)
        try:
            return await queued_behind_a_busy_thread(
                thread,
                [
                    functools.partial(thread.call, add, "first"),
                    functools.partial(thread.call, end_the_transaction),
                    functools.partial(thread.call, add, "second"),
                ],
            )
        finally:
            await thread.close()

    first, lost, second = asyncio.run(scenario())

    # Run alone, the culprit has no transaction to roll back; the others are stored.
    assert isinstance(lost, sqlite3.OperationalError)
    on_disk = keys_on_disk(path)
    assert first == Accepted(id=on_disk["first"], duplicate=False)
    assert second == Accepted(id=on_disk["second"], duplicate=False)


def test_a_store_that_cannot_open_fails_every_queued_call_and_is_tried_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.db"
    path.write_bytes(b"not an inbox" * 100)

    async def scenario() -> None:
        thread = StoreThread(functools.partial(InboxStore.open, str(path)))
        try:
            outcomes = await asyncio.gather(
                *(thread.call(add, f"k{n}") for n in range(3)), return_exceptions=True
            )
            assert all("cannot use the inbox" in str(outcome) for outcome in outcomes)
            path.unlink()
            assert await thread.call(add, "k") == Accepted(id=1, duplicate=False)
        finally:
            await thread.close()

    asyncio.run(scenario())


def test_a_closed_thread_opens_again_on_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"

    async def scenario() -> None:
        thread = StoreThread(functools.partial(InboxStore.open, str(path)))
        await thread.call(add, "a")
        await thread.close()
        await thread.close()  # closing twice is harmless
        assert await thread.call(add, "a") == Accepted(id=1, duplicate=True)
        await thread.close()

    asyncio.run(scenario())


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.name == "vapi-inbox"]
    for thread in left:
        thread.join(5)
    assert not [t for t in left if t.is_alive()]


def test_the_loop_writer_has_the_wal_checkpointed_without_a_sweep(tmp_path: Path) -> None:
    # A receiver that serves only tool calls runs no sweep, which would otherwise ask for
    # checkpoints: the WAL must still stop growing.
    from receiver.inbox.loop_writer import CHECKPOINT_EVERY, LoopWriter

    path = tmp_path / "inbox.sqlite3"
    opener = functools.partial(InboxStore.open, str(path))
    thread = StoreThread(opener)
    writer = LoopWriter(opener, thread)
    result = "x" * 3000

    async def write(count: int) -> None:
        for n in range(count):
            await writer.call(InboxStore.save_tool_result, f"k{n}", result)

    async def scenario() -> tuple[int, int]:
        try:
            await write(CHECKPOINT_EVERY - 1)  # not yet checkpointed: one round's growth
            one_round = os.path.getsize(f"{path}-wal")
            await write(4 * CHECKPOINT_EVERY + 1)
            await asyncio.sleep(0.5)  # the thread's last checkpoint
            return one_round, os.path.getsize(f"{path}-wal")
        finally:
            writer.close()
            await thread.close()

    one_round, five_rounds = asyncio.run(scenario())
    assert five_rounds <= 2 * one_round  # the WAL is reused, not grown five times
