"""The inbox on PostgreSQL (`[inbox] url`): the SQLite inbox's promises, shared by replicas.

Against the machine's real server, each test in a database of its own (`tests.postgres`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.errors import ConfigError
from receiver.inbox import InboxConfig
from receiver.inbox.postgres import PostgresBackend
from receiver.inbox.postgres_schema import SCHEMA, VERSION
from receiver.testing import make_message
from tests.helpers import SECRET
from tests.inbox_server import wait_until
from tests.postgres import admin, database_url, fresh_database, table_rows
from tests.served import close_served, served

HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


def pg_receiver(url: str, **inbox: Any) -> Receiver:
    return Receiver(config={"org": {"secret": SECRET}, "inbox": {"url": url, **inbox}})


def body_of(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def rows(url: str, table: str = "deliveries") -> list[dict[str, Any]]:
    return table_rows(url.rsplit("/", 1)[1], table)


def test_a_delivery_is_committed_before_its_answer_and_done_after_its_handler(
    pg_url: str,
) -> None:
    receiver = pg_receiver(pg_url)
    seen: list[str] = []
    receiver.on("status-update")(lambda message, call: seen.append(call.id))
    client = served(receiver.app)
    envelope = make_message("status-update")
    assert client.post("/vapi", content=body_of(envelope), headers=HEADERS).status_code == 200
    [row] = rows(pg_url)
    assert (row["type"], row["call_id"]) == ("status-update", envelope["message"]["call"]["id"])
    assert bytes(row["body"]) == body_of(envelope)
    wait_until(lambda: rows(pg_url)[0]["status"] == "done")
    assert seen == [envelope["message"]["call"]["id"]]


def test_a_repeat_is_dropped_on_any_replica(pg_url: str) -> None:
    runs: list[str] = []
    replicas = []
    for _ in range(2):
        receiver = pg_receiver(pg_url)
        receiver.on("status-update")(lambda message, call: runs.append(call.id))
        replicas.append(served(receiver.app))
    body = body_of(make_message("status-update"))
    for client in (*replicas, replicas[0]):
        assert client.post("/vapi", content=body, headers=HEADERS).status_code == 200
    wait_until(lambda: rows(pg_url)[0]["status"] == "done")
    time.sleep(0.2)
    [row] = rows(pg_url)
    assert row["duplicates"] == 2
    assert len(runs) == 1


def test_a_retried_tool_call_answers_the_stored_result_on_another_replica(pg_url: str) -> None:
    runs: list[str] = []
    replicas = []
    for _ in range(2):
        receiver = pg_receiver(pg_url)

        @receiver.tool
        async def book_table(time: str) -> str:
            runs.append(time)
            return f"booked {time} (#{len(runs)})"

        replicas.append(served(receiver.app))
    envelope = make_message("tool-calls", tool_calls=[("book_table", {"time": "19:00"})])
    first = replicas[0].post("/vapi", content=body_of(envelope), headers=HEADERS).json()
    wait_until(lambda: len(rows(pg_url, "tool_results")) == 1)
    again = replicas[1].post("/vapi", content=body_of(envelope), headers=HEADERS).json()
    assert again == first
    assert runs == ["19:00"]


def test_a_failing_handler_is_retried_with_backoff_then_parked(pg_url: str) -> None:
    receiver = pg_receiver(pg_url, max_attempts=3, retry_backoff=0.2, lease_seconds=1)
    attempts: list[float] = []

    @receiver.on("status-update")
    def crm_down(message: Any) -> None:
        attempts.append(time.monotonic())
        raise RuntimeError("CRM down")

    client = served(receiver.app)
    assert client.post("/vapi", content=body_of(make_message("status-update")), headers=HEADERS)
    wait_until(lambda: rows(pg_url)[0]["status"] == "failed", 20)
    [row] = rows(pg_url)
    assert row["attempts"] == 3
    assert "CRM down" in row["error"]
    assert len(attempts) == 3
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0] - 0.05  # backing off


def test_deliveries_arriving_together_share_one_commit_and_repeats_among_them(
    pg_url: str,
) -> None:
    backend = PostgresBackend(InboxConfig(url=pg_url))

    async def burst() -> list[Any]:
        adds = [
            backend.add(
                key=f"k{n % 15}",
                kind="status-update",
                call_id=None,
                body=b"{}",
                owner="w",
                lease=30,
            )
            for n in range(20)
        ]
        try:
            return await asyncio.gather(*adds)
        finally:
            await backend.close()

    accepted = asyncio.run(burst())
    assert len({a.id for a in accepted}) == 15
    assert [a.duplicate for a in accepted[15:]] == [True] * 5
    assert not any(a.duplicate for a in accepted[:15])
    assert sum(row["duplicates"] for row in rows(pg_url)) == 5


def test_claims_skip_what_another_worker_holds_and_take_it_after_the_lease(pg_url: str) -> None:
    backend = PostgresBackend(InboxConfig(url=pg_url))

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        try:
            for n in range(3):
                await backend.add(
                    key=f"k{n}",
                    kind="status-update",
                    call_id=None,
                    body=b"{}",
                    owner="a",
                    lease=0.5,
                )
            held = [d.id for d in await backend.claim_due("b", lease=30, limit=10)]
            await asyncio.sleep(0.6)  # worker a died: its leases run out
            taken = [d.id for d in await backend.claim_due("b", lease=30, limit=2)]
            rest = [d.id for d in await backend.claim_due("c", lease=30, limit=10)]
            return held, taken, rest
        finally:
            await backend.close()

    held, taken, rest = asyncio.run(scenario())
    assert held == []
    assert len(taken) == 2 and len(rest) == 1 and not set(taken) & set(rest)


def test_a_schema_newer_than_the_code_is_refused(pg_url: str) -> None:
    receiver = pg_receiver(pg_url)
    receiver.on("status-update")(lambda message: None)
    with TestClient(receiver.app) as client:  # migrates the new database at first use
        assert client.post("/vapi", content=body_of(make_message("status-update")), headers=HEADERS)
    admin(
        f"UPDATE {SCHEMA}.schema_version SET version = {VERSION + 1}",
        database=pg_url.rsplit("/", 1)[1],
    )
    later = pg_receiver(pg_url)
    later.on("status-update")(lambda message: None)
    with TestClient(later.app) as client:
        refused = client.post(
            "/vapi", content=body_of(make_message("status-update")), headers=HEADERS
        )
        assert refused.status_code == 503
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "newer than this package" in ready.text


def test_url_and_path_together_are_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"`path` .* and `url` .* are both set"):
        Receiver(
            config={"org": {"secret": SECRET}, "inbox": {"path": "x.db", "url": "postgresql://h/d"}}
        )
    with pytest.raises(ConfigError, match="must be a PostgreSQL URL"):
        Receiver(config={"org": {"secret": SECRET}, "inbox": {"url": "mysql://u:pw@h/d"}})


@pytest.mark.slow  # an outage and a recovery, several seconds
def test_a_database_outage_answers_503_keeps_tool_calls_running_and_heals() -> None:
    role = f"vapi_role_{int(time.time() * 1000) % 10**8}"
    admin(f'CREATE ROLE "{role}" LOGIN')
    try:
        with fresh_database(owner=role) as name:
            url = database_url(name, user=role)
            receiver = pg_receiver(url)
            receiver.on("status-update")(lambda message: None)

            @receiver.tool
            async def lookup_order(order_id: str) -> str:
                return f"order {order_id} shipped"

            client = served(receiver.app)

            def status() -> int:
                body = body_of(make_message("status-update"))
                return client.post("/vapi", content=body, headers=HEADERS).status_code

            assert status() == 200
            # The outage: the role may no longer connect, and its connections are cut.
            admin(f'ALTER ROLE "{role}" NOLOGIN')
            admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
            assert status() == 503
            ready = client.get("/ready")
            assert ready.status_code == 503 and "PostgreSQL" in ready.text
            tool_call = make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "7"})])
            answer = client.post("/vapi", content=body_of(tool_call), headers=HEADERS)
            assert answer.status_code == 200
            assert answer.json()["results"][0]["result"] == "order 7 shipped"
            # The database is back: service resumes by itself.
            admin(f'ALTER ROLE "{role}" LOGIN')
            wait_until(lambda: status() == 200, 15)
            assert client.get("/ready").status_code == 200
    finally:
        close_served()
        admin(f'DROP ROLE IF EXISTS "{role}"')


def test_the_inbox_command_works_on_postgresql(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from receiver.cli import main

    assert main(["inbox", "stats", "--url", pg_url]) == 2  # no schema yet: says to migrate
    assert "run `vapi-receiver inbox migrate`" in capsys.readouterr().err
    assert main(["inbox", "migrate", "--url", pg_url]) == 0
    assert f"schema migrated from version 0 to version {VERSION}" in capsys.readouterr().out
    receiver = pg_receiver(pg_url, max_attempts=1)

    @receiver.on("status-update")
    def fails(message: Any) -> None:
        raise RuntimeError("CRM down")

    client = served(receiver.app)
    assert client.post("/vapi", content=body_of(make_message("status-update")), headers=HEADERS)
    wait_until(lambda: rows(pg_url)[0]["status"] == "failed")
    assert main(["inbox", "stats", "--url", pg_url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["by_status"] == {"pending": 0, "done": 0, "failed": 1}
    assert main(["inbox", "list", "--url", pg_url, "--status", "failed", "--json"]) == 0
    [failed] = json.loads(capsys.readouterr().out)
    assert "CRM down" in failed["error"]
    assert main(["inbox", "retry", "--url", pg_url, "--all-failed"]) == 0
    assert "1 deliveries sent back to pending" in capsys.readouterr().out
    # The running receiver is woken by the retry's NOTIFY, well before its next poll (5 s).
    wait_until(
        lambda: rows(pg_url)[0]["attempts"] == 1 and rows(pg_url)[0]["status"] == "failed", 4
    )
    assert main(["inbox", "purge", "--url", pg_url, "--older-than", "0s", "--include-failed"]) == 0
    assert rows(pg_url) == []


def test_an_unreachable_database_is_a_failure_not_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from receiver.cli import main

    assert main(["inbox", "stats", "--url", "postgresql://nobody:pw@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "pw" not in err


def test_a_signed_request_replayed_to_another_replica_is_refused(pg_url: str) -> None:
    hmac = {
        "type": "hmac",
        "secret_key": "fleet-hmac-secret-0123456789",
        "algorithm": "sha256",
        "signature_header": "x-signature",
        "timestamp_header": "x-timestamp",
        "include_timestamp": True,
        "payload_format": "{timestamp}.{body}",
    }
    replicas = []
    for _ in range(2):
        receiver = Receiver(config={"org": {"credentials": [hmac]}, "inbox": {"url": pg_url}})
        receiver.on("status-update")(lambda message: None)
        replicas.append((receiver, served(receiver.app)))
    from receiver.signing import winning_credential

    envelope = make_message("status-update")
    body = body_of(envelope)
    headers = winning_credential(envelope["message"], replicas[0][0].config).headers_for(body)
    headers["content-type"] = "application/json"
    assert replicas[0][1].post("/vapi", content=body, headers=headers).status_code == 200
    replayed = replicas[1][1].post("/vapi", content=body, headers=headers)
    assert replayed.status_code == 401  # captured and sent to another replica in the window
    # A retry as Vapi sends it, signed afresh, is a repeat: acknowledged, not run twice.
    fresh = winning_credential(envelope["message"], replicas[0][0].config).headers_for(body)
    fresh["content-type"] = "application/json"
    time.sleep(1.1)  # a new signed timestamp (seconds)
    assert replicas[1][1].post("/vapi", content=body, headers=fresh).status_code == 200
    wait_until(lambda: rows(pg_url)[0]["status"] == "done")
    assert rows(pg_url)[0]["duplicates"] == 1
