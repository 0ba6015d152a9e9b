"""A fleet on one PostgreSQL inbox: three receiver processes, one killed with kill -9 mid-stream.

Stands in for three replicas behind a load balancer: each a uvicorn process on its own port,
all on one database (the machine's server, a database of the test's own). Every delivery that
any replica acknowledged must be handled by the survivors once the dead one's leases run out;
in the steady state each is handled exactly once; across the crash at least once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest

from receiver.inbox.postgres_schema import SCHEMA
from receiver.testing import make_message
from tests.inbox_server import HEADERS, ServerProcess, handled, post, report, wait_until
from tests.postgres import admin, database_url, fresh_database

pytestmark = pytest.mark.slow  # three uvicorn processes, a kill -9, a lease to run out

DISTINCT, REPEAT_SHARE, LEASE = 1000, 0.2, 2.0


def test_three_hosts_one_killed_lose_nothing_acknowledged(tmp_path: Path) -> None:
    with fresh_database() as name:
        url = database_url(name)

        def query(sql: str) -> int:
            return int(admin(sql, database=name)[0][0] or 0)

        settings = {
            "VAPI_RECEIVER_INBOX_URL": url,
            "INBOX_APP_LEASE": str(LEASE),
            "INBOX_APP_SLEEP": "0.2",  # handlers still running when the kill lands
        }
        hosts = [ServerProcess(tmp_path, **settings) for _ in range(3)]
        try:
            rng = random.Random(7)
            ids = [f"fleet-{n:04}" for n in range(DISTINCT)]
            bodies = {call_id: report(call_id) for call_id in ids}  # a repeat: the same bytes
            # Each delivery goes to a host; a fifth of them again, to a different host.
            plan = [(call_id, n % 3) for n, call_id in enumerate(ids)]
            for call_id, host in rng.sample(plan, int(DISTINCT * REPEAT_SHARE)):
                plan.insert(rng.randrange(len(plan)), (call_id, (host + 1 + rng.randrange(2)) % 3))
            victim = hosts[1]
            kill_at = len(plan) * 2 // 5
            acknowledged: list[tuple[str, int]] = []
            refused: list[str] = []
            lock = threading.Lock()
            sent = Counter[str]()

            orphaned: list[int] = []  # the dead host's claims, left pending by the kill

            def send(index: int, call_id: str, host: int) -> None:
                if index == kill_at:
                    victim.kill_9()
                    orphaned.append(
                        query(
                            f"SELECT count(*) FROM {SCHEMA}.deliveries WHERE status = 'pending' "
                            f"AND lease_owner LIKE '%:{victim.process.pid}:%'"
                        )
                    )
                with httpx2.Client(timeout=10) as client:
                    ok = post(client, hosts[host].url, bodies[call_id])
                with lock:
                    sent[call_id] += 1
                    (acknowledged.append((call_id, host)) if ok else refused.append(call_id))

            with ThreadPoolExecutor(8) as pool:
                for index, (call_id, host) in enumerate(plan):
                    pool.submit(send, index, call_id, host)
            pending_at_kill_end = query(
                f"SELECT count(*) FROM {SCHEMA}.deliveries WHERE status = 'pending'"
            )
            # What the dead host could not answer, Vapi sends again (its backoff plan): to a
            # survivor, as the load balancer now would.
            resent = 0
            with httpx2.Client(timeout=10) as client:
                for call_id in refused:
                    resent += 1
                    host = rng.choice([0, 2])
                    assert post(client, hosts[host].url, bodies[call_id])
                    acknowledged.append((call_id, host))
            wait_until(
                lambda: (
                    query(f"SELECT count(*) FROM {SCHEMA}.deliveries WHERE status <> 'done'") == 0
                ),
                60,
                "every delivery done (the dead host's after their lease)",
            )
            time.sleep(0.5)
            lines = handled(tmp_path)
            times = Counter(lines)
            distinct_acknowledged = {call_id for call_id, _host in acknowledged}
            duplicates = query(f"SELECT sum(duplicates) FROM {SCHEMA}.deliveries")
            twice = sorted(call_id for call_id, n in times.items() if n > 1)
            print(
                f"\nfleet test: 3 hosts on one PostgreSQL inbox, host 2 killed mid-stream"
                f"\n  POSTs sent: {sum(sent.values()) + resent} ({DISTINCT} distinct, "
                f"{len(plan) - DISTINCT} repeats to another host, {resent} re-sent after "
                "the kill)"
                f"\n  acknowledged: {len(acknowledged)} POSTs, {len(distinct_acknowledged)} "
                "distinct deliveries"
                f"\n  left pending by the kill (the dead host's claims): {orphaned[0]}; "
                f"pending when the sends ended: {pending_at_kill_end}"
                f"\n  handled: {len(lines)} for {len(times)} call ids; handled twice "
                f"across the crash: {len(twice)}"
                f"\n  repeated deliveries dropped: {duplicates}"
            )
            assert orphaned[0] > 0, "the kill must land while the host still had work"
            assert set(times) == distinct_acknowledged == set(ids)
            assert query(f"SELECT count(*) FROM {SCHEMA}.deliveries") == DISTINCT
            # More than once only for what the dead host was running when it died.
            assert len(twice) <= 8 * 2, twice
            assert duplicates >= len(acknowledged) - DISTINCT - len(twice)

            # A tool call retried on another host answers the stored result.
            call = make_message("tool-calls", tool_calls=[("book_table", {"time": "19:00"})])
            body = json.dumps(call).encode()
            with httpx2.Client(timeout=10) as client:
                first = client.post(hosts[0].url, content=body, headers=HEADERS).json()
                wait_until(
                    lambda: query(f"SELECT count(*) FROM {SCHEMA}.tool_results") == 1,
                    5,
                    "the tool result stored",
                )
                again = client.post(hosts[2].url, content=body, headers=HEADERS).json()
            assert again == first
            tool_runs = Path(f"{tmp_path / 'handled.txt'}.tools").read_text().splitlines()
            assert len(tool_runs) == 1
        finally:
            for host in hosts:
                host.stop()
