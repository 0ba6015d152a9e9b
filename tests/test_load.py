"""Many concurrent slow handlers through a real uvicorn server: acknowledgements stay fast
and every delivery is handled.

Each of the REQUESTS end-of-call reports has a handler that sleeps HANDLER_SECONDS before
recording it; CONCURRENCY requests are in flight at a time. Run once per inbox mode (off,
`synchronous = "normal"`, `"full"`). The latencies are printed (`pytest -s`), not asserted
beyond a sanity bound: an acknowledgement that waited for its handler would take at least
HANDLER_SECONDS, so a median well below it shows that none did.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx2
import pytest

from receiver.testing import make_message
from tests.helpers import SECRET
from tests.inbox_server import handled, serving, wait_until

pytestmark = pytest.mark.slow  # a real server under load

REQUESTS, CONCURRENCY, HANDLER_SECONDS = 500, 50, 2.0
HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


async def post_all(url: str, bodies: list[bytes]) -> list[float]:
    """Every body posted, CONCURRENCY at a time; the latency of each acknowledgement."""
    latencies: list[float] = []
    slots = asyncio.Semaphore(CONCURRENCY)
    limits = httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as client:

        async def one(body: bytes) -> None:
            async with slots:
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=HEADERS)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(one(body) for body in bodies))
    return latencies


@pytest.mark.parametrize("mode", ["off", "normal", "full"])
def test_slow_handlers_do_not_slow_acknowledgements_and_none_is_dropped(
    tmp_path: Path, mode: str
) -> None:
    bodies = [
        json.dumps(make_message("end-of-call-report", call_id=f"load-{n:04}")).encode()
        for n in range(REQUESTS)
    ]
    with serving(tmp_path, INBOX_APP_INBOX=mode, INBOX_APP_SLEEP=str(HANDLER_SECONDS)) as server:
        started = time.perf_counter()
        latencies = asyncio.run(post_all(server.url, bodies))
        posting = time.perf_counter() - started
        wait_until(lambda: len(handled(tmp_path)) >= REQUESTS, 60, "every handler")
        drained = time.perf_counter() - started

    ms = sorted(latency * 1000 for latency in latencies)
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    print(
        f"\nload, inbox {mode}: {REQUESTS} deliveries, {CONCURRENCY} in flight, handlers "
        f"sleep {HANDLER_SECONDS:g} s: ack p50 {p50:.1f} ms, p99 {p99:.1f} ms, max "
        f"{ms[-1]:.1f} ms; all acknowledged in {posting:.2f} s "
        f"({REQUESTS / posting:.0f}/s), all handled after {drained:.2f} s"
    )
    assert sorted(handled(tmp_path)) == sorted(f"load-{n:04}" for n in range(REQUESTS))
    assert p50 < HANDLER_SECONDS * 1000 / 2
