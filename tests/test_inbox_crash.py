"""`kill -9` a real server mid-stream: after a restart, every acknowledged delivery is handled
exactly once, and repeated deliveries are dropped.

What the inbox promises is at-least-once: a handler that finished its side effect just
before the process died, and whose "done" was not yet committed, runs again after the
restart. This test places the kill where that window is empty, and so can assert exactly
once: the fast deliveries are all recorded *and* committed done before the stream of slow
ones starts, and a slow handler sleeps (for ten minutes, in this first life) before its only
side effect, so at the moment of the kill no handler is between its side effect and its
commit. Every slow delivery acknowledged before the kill is then pending in the file, and
must be run once, by the restarted server.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest

from tests.inbox_server import count, handled, post, report, scalar, serving, wait_until

pytestmark = pytest.mark.slow  # kills a uvicorn subprocess and restarts it

FAST, SLOW, SLOW_REPEATS = 40, 80, 20


def test_kill_9_mid_stream_loses_no_acknowledged_delivery(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    fast = [report(f"fast-{n:03}") for n in range(FAST)]
    slow = [report(f"slow-{n:03}") for n in range(SLOW)]
    # Each of the first SLOW_REPEATS slow deliveries is sent again a few places later.
    stream: list[bytes] = []
    for n, body in enumerate(slow):
        stream.append(body)
        if 5 <= n < 5 + SLOW_REPEATS:
            stream.append(slow[n - 5])
    acknowledged: list[bytes] = []
    unacknowledged: list[bytes] = []
    sent = 0

    with (
        serving(tmp_path, INBOX_APP_SLOW="600", INBOX_APP_LEASE="2") as first,
        httpx2.Client(timeout=10) as client,
    ):
        with ThreadPoolExecutor(8) as pool:
            batch = fast + fast[:10]  # ten of them twice
            results = list(pool.map(lambda b: post(client, first.url, b), batch))
            for body, ok in zip(batch, results, strict=True):
                sent += 1
                (acknowledged if ok else unacknowledged).append(body)
        wait_until(lambda: count(inbox, "status = 'done'") == FAST, 20, "the fast deliveries")

        # The stream: four senders, and a kill -9 once half of it is acknowledged.
        todo: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        for body in stream:
            todo.put(body)
        lock = threading.Lock()
        half = threading.Event()

        def sender() -> None:
            nonlocal sent
            while True:
                try:
                    body = todo.get_nowait()
                except queue.Empty:
                    return
                ok = post(client, first.url, body)
                with lock:
                    sent += 1
                    (acknowledged if ok else unacknowledged).append(body)
                    if len(acknowledged) - len(batch) >= len(stream) // 2:
                        half.set()

        senders = [threading.Thread(target=sender) for _ in range(4)]
        for thread in senders:
            thread.start()
        assert half.wait(30), "the stream did not get halfway"
        first.kill_9()
        for thread in senders:
            thread.join(30)
        pending_at_kill = count(inbox, "status = 'pending'")
        handled_before_restart = len(handled(tmp_path))

    assert pending_at_kill > 0, "the kill must land while handlers are still pending"
    assert unacknowledged, "the kill must land mid-stream"

    # Restart on the same file; resend what was not acknowledged, as a Vapi backoff plan would.
    with (
        serving(tmp_path, INBOX_APP_SLOW="0.1", INBOX_APP_LEASE="2") as second,
        httpx2.Client(timeout=10) as client,
    ):
        resent = list(unacknowledged)
        for body in resent:
            sent += 1
            assert post(client, second.url, body)
            acknowledged.append(body)
        wait_until(lambda: count(inbox, "status != 'done'") == 0, 60, "the inbox to drain")

    lines = handled(tmp_path)
    distinct = {json.loads(body)["message"]["call"]["id"] for body in acknowledged}
    times = Counter(lines)
    duplicates_dropped = scalar(inbox, "SELECT SUM(duplicates) FROM deliveries")
    repeats = len(fast[:10]) + SLOW_REPEATS
    print(
        f"\nkill -9 test: {len(fast) + len(slow)} distinct deliveries ({FAST} fast, {SLOW} slow)"
        f"\n  POSTs sent: {sent} = distinct + {repeats} deliberate repeats + {len(resent)} "
        "re-sends, after the restart, of POSTs the kill left unanswered"
        f"\n  acknowledged: {len(acknowledged)} POSTs, {len(distinct)} distinct deliveries"
        f"\n  at the kill: {handled_before_restart} handled, {pending_at_kill} pending"
        f"\n  handled: {len(lines)} ({len(lines) - handled_before_restart} after the restart), "
        f"{len(times)} call ids, max {max(times.values())} time(s) each"
        f"\n  repeated deliveries dropped: {duplicates_dropped}"
    )
    assert set(times) == distinct == {json.loads(b)["message"]["call"]["id"] for b in fast + slow}
    assert [call_id for call_id, n in times.items() if n != 1] == []  # exactly once each
    assert count(inbox) == len(distinct)
    assert duplicates_dropped >= len(acknowledged) - len(distinct)
