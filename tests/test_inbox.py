"""The durable inbox on a real SQLite file: stored before the 200, retried, parked, purged,
deduplicated, and tool results replayed."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import ConfigError, Receiver, load_config
from receiver.config import config_from_mapping
from receiver.credentials import HmacCredential
from receiver.inbox import InboxConfig, InboxError, InboxStore
from receiver.inbox.keys import signed_id_header
from receiver.inbox.runner import Inbox
from receiver.models import Message, parse_message
from receiver.testing import make_message
from tests.helpers import SECRET
from tests.inbox_server import wait_until
from tests.postgres import database_url, fresh_database, table_rows
from tests.served import served

HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def receiver_at(path: Path | Store, **inbox: Any) -> Receiver:
    where = path.settings if isinstance(path, Store) else {"path": str(path)}
    return Receiver(config={"org": {"secret": SECRET}, "inbox": {**where, **inbox}})


@dataclass(frozen=True)
class Store:
    """An inbox store the tests below run on: the `[inbox]` keys naming it, and its rows."""

    settings: dict[str, Any]
    rows: Callable[[], list[dict[str, Any]]]
    tool_results: Callable[[], list[dict[str, Any]]]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each test that takes it runs on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "inbox.sqlite3"
        yield Store({"path": str(path)}, lambda: rows(path), lambda: rows(path, "tool_results"))
        return
    with fresh_database() as name:
        yield Store(
            {"url": database_url(name)},
            lambda: table_rows(name, "deliveries"),
            lambda: table_rows(name, "tool_results"),
        )


def body_of(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def rows(path: Path, table: str = "deliveries") -> list[dict[str, Any]]:
    """The deliveries (or tool results) as another process sees them: its own connection."""
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def add(store: InboxStore, n: int, *, owner: str = "worker-a", lease: float = 30.0) -> int:
    return store.add(
        key=f"k{n}", kind="status-update", call_id=f"c{n}", body=b"{}", owner=owner, lease=lease
    ).id


def parse(raw: dict[str, Any]) -> Message | None:
    return parse_message(raw)


# -- stored before the acknowledgement -------------------------------------------------------


def test_delivery_is_committed_before_the_answer_and_done_after_its_handler(
    store: Store,
) -> None:
    receiver = receiver_at(store)
    handled: list[str] = []
    receiver.on("end-of-call-report")(lambda message, call: handled.append(call.id))
    envelope = make_message("end-of-call-report")

    async def scenario() -> None:
        async with receiver.lifespan():
            outcome = await receiver.handle(HEADERS, body_of(envelope))
            # The answer exists, the handler has not run, and the delivery is already on disk.
            assert (outcome.status, outcome.body) == (200, b"{}")
            assert handled == []
            [row] = store.rows()
            assert row["status"] == "pending" and row["body"] == body_of(envelope)
            assert row["call_id"] == envelope["message"]["call"]["id"]
            assert outcome.background is not None
            await outcome.background()  # after the answer

    asyncio.run(scenario())
    assert handled == [envelope["message"]["call"]["id"]]
    [row] = store.rows()
    assert (row["status"], row["attempts"], row["error"]) == ("done", 1, None)


def test_the_inbox_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    receiver = receiver_at(path)
    receiver.on("status-update")(lambda message: None)
    previous = os.umask(0o022)  # the usual umask, which would leave them world-readable
    try:
        with TestClient(receiver.app) as client:
            response = client.post(
                "/vapi", content=body_of(make_message("status-update")), headers=HEADERS
            )
            assert response.status_code == 200
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
                f.name: 0o600 for f in files
            }
    finally:
        os.umask(previous)


def _locks_held_on(path: Path) -> list[str]:
    """This process's POSIX locks on `path`, as Linux lists them in /proc/locks."""
    inode = path.stat().st_ino
    return [
        line
        for line in Path("/proc/locks").read_text().splitlines()
        if f" {os.getpid()} " in line and line.split()[5].endswith(f":{inode}")
    ]


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's /proc/locks")
def test_opening_the_inbox_again_keeps_the_locks_of_connections_already_open(
    tmp_path: Path,
) -> None:
    # A connection's shared lock is what keeps another process from deleting the WAL when
    # it closes; a second open in the same process once dropped it by closing a descriptor.
    path = tmp_path / "inbox.sqlite3"
    first = InboxStore.open(str(path))
    try:
        first._db.execute("BEGIN")
        first._db.execute("SELECT count(*) FROM deliveries").fetchone()
        held = _locks_held_on(path)
        assert held, "an open read transaction holds a shared lock on the file"
        InboxStore.open(str(path)).close()
        assert _locks_held_on(path) == held
        first._db.execute("COMMIT")
    finally:
        first.close()


def test_a_delivery_that_cannot_be_stored_is_not_acknowledged(tmp_path: Path) -> None:
    receiver = receiver_at(tmp_path / "no-such-directory" / "inbox.sqlite3")
    handled: list[Any] = []
    receiver.on("status-update")(lambda message: handled.append(message))
    with TestClient(receiver.app) as client:  # the sweep's failures are only logged
        response = client.post(
            "/vapi", content=body_of(make_message("status-update")), headers=HEADERS
        )
    assert response.status_code == 503
    assert "could not store" in response.json()["error"]
    assert handled == []


def test_types_without_handlers_are_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    receiver = receiver_at(path)
    receiver.on("status-update")(lambda message: None)
    client = TestClient(receiver.app)
    assert client.post("/vapi", content=body_of(make_message("hang")), headers=HEADERS).is_success
    assert not path.exists()


def test_disabled_inbox_runs_handlers_from_memory_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    receiver = receiver_at(path, enabled=False)
    handled: list[Any] = []
    receiver.on("status-update")(lambda message: handled.append(message))
    body = body_of(make_message("status-update"))
    client = TestClient(receiver.app)
    for _ in range(2):
        assert client.post("/vapi", content=body, headers=HEADERS).status_code == 200
    assert len(handled) == 2  # no inbox, no deduplication either
    assert not path.exists()


# -- status transitions, retries, parking ----------------------------------------------------


def test_failures_back_off_exponentially_then_park(tmp_path: Path) -> None:
    clock = Clock()
    store = InboxStore.open(str(tmp_path / "inbox.sqlite3"), clock=clock)
    config = InboxConfig(max_attempts=3, retry_backoff=10, retry_backoff_max=15)
    delivery_id = add(store, 1)

    def fail() -> str | None:
        return store.finish(
            delivery_id,
            "worker-a",
            succeeded=[],
            errors={"app.on_report": "RuntimeError: CRM down"},
            max_attempts=config.max_attempts,
            backoff=config.backoff,
        )

    assert fail() == "pending"
    failed = store.get(delivery_id)
    assert failed is not None and failed.attempts == 1
    assert failed.error == "app.on_report: RuntimeError: CRM down"
    assert failed.next_attempt_at == clock.now + 10
    clock.now += 9.9
    assert store.claim_due("worker-a", lease=30, limit=10) == []
    clock.now += 0.1
    assert [d.id for d in store.claim_due("worker-a", lease=30, limit=10)] == [delivery_id]
    assert fail() == "pending"
    second = store.get(delivery_id)
    assert second is not None and second.next_attempt_at == clock.now + 15  # 20, capped at 15
    clock.now += 15
    assert store.claim_due("worker-a", lease=30, limit=10)
    assert fail() == "failed"
    clock.now += 3600
    assert store.claim_due("worker-a", lease=30, limit=10) == []  # parked: never run again
    parked = store.get(delivery_id)
    assert parked is not None and (parked.status, parked.attempts) == ("failed", 3)

    assert store.retry(delivery_id) == 1
    again = store.get(delivery_id)
    assert again is not None and (again.status, again.attempts) == ("pending", 0)
    assert [d.id for d in store.claim_due("worker-a", lease=30, limit=10)] == [delivery_id]
    assert store.retry(delivery_id) == 0  # only failed deliveries are retried


def test_only_the_failed_handler_runs_again_and_success_completes_the_delivery(
    tmp_path: Path,
) -> None:
    clock = Clock()
    receiver = receiver_at(tmp_path / "inbox.sqlite3")
    calls: list[str] = []
    crm_up = False

    @receiver.on("end-of-call-report")
    def archive(message: Any) -> None:
        calls.append("archive")

    @receiver.on("end-of-call-report")
    def push_to_crm(message: Any) -> None:
        calls.append("crm")
        if not crm_up:
            raise RuntimeError("CRM down")

    config = InboxConfig(path=str(tmp_path / "inbox.sqlite3"), retry_backoff=30)
    # The serving loop's own sweeps come at most every lease/4 = 7.5 s: none during the test.
    inbox = Inbox(config, receiver.core.dispatcher, parse, clock=clock, poll_interval=3600)
    envelope = make_message("end-of-call-report")

    async def scenario() -> None:
        async with inbox.serving():  # entered first, so its first sweep finds nothing due
            await steps()

    async def steps() -> None:
        nonlocal crm_up
        run = await inbox.accept(envelope["message"], HEADERS, body_of(envelope))
        assert run is not None
        await run()
        assert await inbox.sweep() == 0  # backing off
        clock.now += 30
        crm_up = True
        assert await inbox.sweep() == 1
        for _ in range(500):  # the sweep's task runs in the background
            if rows(tmp_path / "inbox.sqlite3")[0]["status"] != "pending":
                break
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert sorted(calls) == ["archive", "crm", "crm"]  # handlers run concurrently
    [row] = rows(tmp_path / "inbox.sqlite3")
    assert (row["status"], row["attempts"], row["error"]) == ("done", 2, None)
    done = json.loads(row["handlers_done"])
    assert [name.rsplit(".", 1)[1] for name in done] == ["archive", "push_to_crm"]


def test_a_message_that_does_not_fit_its_model_is_parked_at_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = receiver_at(store)
    handled: list[Any] = []
    receiver.on("end-of-call-report")(lambda message: handled.append(message))
    envelope = make_message("end-of-call-report")
    envelope["message"]["endedReason"] = 5
    client = served(receiver.app)
    assert client.post("/vapi", content=body_of(envelope), headers=HEADERS).status_code == 200
    wait_until(lambda: store.rows()[0]["status"] != "pending")
    [row] = store.rows()
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "does not fit its model" in row["error"]
    assert handled == []
    [parked] = [r.getMessage() for r in caplog.records if "parked as failed" in r.getMessage()]
    assert "a retry fails the same way until the receiver's models accept it" in parked


def test_pending_deliveries_of_a_dead_worker_run_when_the_server_starts(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    envelope = make_message("status-update")
    store = InboxStore.open(str(path))
    # What a worker killed mid-handler leaves behind: pending, its lease already run out.
    store.add(
        key="k", kind="status-update", call_id="c", body=body_of(envelope), owner="dead", lease=0
    )
    store.close()
    receiver = receiver_at(path)
    handled = threading.Event()
    receiver.on("status-update")(lambda message: handled.set())
    with TestClient(receiver.app):  # runs the lifespan, which starts the sweep
        assert handled.wait(10)
    deadline = time.monotonic() + 10
    while rows(path)[0]["status"] != "done" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rows(path)[0]["status"] == "done"


def test_a_stored_body_is_read_by_the_rules_it_was_received_by(tmp_path: Path) -> None:
    """A body in the inbox file that the receiver would have refused (here NaN, which
    `json.loads` accepts) is parked as unreadable, and no handler runs on it."""
    path = tmp_path / "inbox.sqlite3"
    body = body_of(make_message("status-update"))[:-2] + b', "duration": NaN}}'
    store = InboxStore.open(str(path))
    store.add(key="k", kind="status-update", call_id="c", body=body, owner="dead", lease=0)
    store.close()
    receiver = receiver_at(path)
    handled: list[Any] = []
    receiver.on("status-update")(lambda message: handled.append(message))
    with TestClient(receiver.app):  # runs the lifespan, which starts the sweep
        deadline = time.monotonic() + 10
        while rows(path)[0]["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.02)
    [row] = rows(path)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "stored body unreadable" in row["error"]
    assert handled == []


def test_a_running_delivery_stays_claimed_while_its_lease_is_renewed(tmp_path: Path) -> None:
    clock = Clock()
    path = str(tmp_path / "inbox.sqlite3")
    store_a = InboxStore.open(path, clock=clock)
    store_b = InboxStore.open(path, clock=clock)
    delivery_id = add(store_a, 1, owner="worker-a", lease=30)
    clock.now += 20
    assert store_a.renew("worker-a", {delivery_id}, lease=30) == 1
    clock.now += 20  # 40 s after the claim, 20 s after the renewal
    assert store_b.claim_due("worker-b", lease=30, limit=10) == []
    clock.now += 10.1  # the lease ran out: worker A is presumed dead
    assert [d.id for d in store_b.claim_due("worker-b", lease=30, limit=10)] == [delivery_id]
    # Worker A's late result is not recorded over worker B's claim.
    outcome = store_a.finish(
        delivery_id, "worker-a", succeeded=["h"], errors={}, max_attempts=3, backoff=float
    )
    assert outcome is None


def test_two_connections_never_claim_the_same_delivery(tmp_path: Path) -> None:
    path = str(tmp_path / "inbox.sqlite3")
    setup = InboxStore.open(path)
    ids = {add(setup, n, lease=0) for n in range(300)}
    setup.close()
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        store = InboxStore.open(path)
        start.wait()
        while batch := store.claim_due(f"worker-{name}", lease=60, limit=7):
            claimed[name].extend(d.id for d in batch)
        store.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert set(claimed["a"]) | set(claimed["b"]) == ids
    assert len(claimed["a"]) + len(claimed["b"]) == len(ids)


# -- purge -----------------------------------------------------------------------------------


def test_purge_deletes_only_finished_deliveries_older_than_the_retention(tmp_path: Path) -> None:
    clock = Clock()
    store = InboxStore.open(str(tmp_path / "inbox.sqlite3"), clock=clock)

    def finish(delivery_id: int, errors: dict[str, str]) -> None:
        store.finish(
            delivery_id, "worker-a", succeeded=[], errors=errors, max_attempts=1, backoff=float
        )

    old_done, old_failed, old_pending = add(store, 1), add(store, 2), add(store, 3)
    finish(old_done, {})
    finish(old_failed, {"h": "RuntimeError: x"})
    store.save_tool_result("old", "{}")
    clock.now += 8 * 86400
    recent = add(store, 4)
    finish(recent, {})

    purged = store.purge(older_than=7 * 86400, tool_result_window=3600)
    assert (purged.deliveries, purged.tool_results) == (1, 1)
    assert {d.id for d in store.deliveries()} == {old_failed, old_pending, recent}
    purged = store.purge(older_than=7 * 86400, tool_result_window=3600, include_failed=True)
    assert purged.deliveries == 1
    assert {d.id for d in store.deliveries()} == {old_pending, recent}


# -- deduplication ---------------------------------------------------------------------------


def test_a_repeated_body_is_acknowledged_and_not_run_again(store: Store) -> None:
    receiver = receiver_at(store)
    handled: list[str] = []
    receiver.on("end-of-call-report")(lambda message, call: handled.append(call.id))
    client = served(receiver.app)
    first, other = make_message("end-of-call-report"), make_message("end-of-call-report")
    for envelope in (first, first, other, first):
        assert client.post("/vapi", content=body_of(envelope), headers=HEADERS).status_code == 200
    assert handled == [first["message"]["call"]["id"], other["message"]["call"]["id"]]
    assert [row["duplicates"] for row in store.rows()] == [2, 0]


def hmac_receiver_at(
    path: Path | Store, *, insecure: bool = False, **plan: Any
) -> tuple[Receiver, HmacCredential, list[str]]:
    """An org level signed Svix-style; the list records the handled status-update call ids."""
    hmac_plan = {"type": "hmac", "secret_key": "k" * 32, "algorithm": "sha256", **plan}
    where = path.settings if isinstance(path, Store) else {"path": str(path)}
    config = {"org": {"credentials": [hmac_plan]}, "inbox": where}
    receiver = Receiver(config=config, insecure=insecure)
    assert receiver.config.org is not None
    [credential] = receiver.config.org.credentials
    assert isinstance(credential, HmacCredential)
    handled: list[str] = []
    receiver.on("status-update")(lambda message, call: handled.append(call.id))
    return receiver, credential, handled


def post_signed(
    client: TestClient, credential: HmacCredential, envelope: dict[str, Any], message_id: str
) -> int:
    """Signed afresh each time (a new timestamp), as Vapi signs a retry."""
    body = body_of(envelope)
    headers = {"content-type": "application/json"}
    headers |= credential.sign(body, message_id=message_id)
    return client.post("/vapi", content=body, headers=headers).status_code


def test_a_signed_message_id_is_one_delivery_whatever_the_body(store: Store) -> None:
    receiver, credential, handled = hmac_receiver_at(
        store,
        message_id_header="svix-id",
        payload_format="{svix-id}.{timestamp}.{body}",
    )
    client = served(receiver.app)
    first, other = make_message("status-update"), make_message("status-update")
    sent = [("msg-1", first), ("msg-1", other), ("msg-2", other)]  # a retry, re-serialised
    assert [post_signed(client, credential, e, message_id) for message_id, e in sent] == [200] * 3
    assert handled == [first["message"]["call"]["id"], other["message"]["call"]["id"]]
    assert [row["key"] for row in store.rows()] == [
        "id:svix-id:msg-1",
        "id:svix-id:msg-2",
    ]


def test_an_unsigned_message_id_is_not_the_duplicate_key(store: Store) -> None:
    """The default payload_format does not sign {svix-id}: the body's digest is the key."""
    receiver, credential, handled = hmac_receiver_at(store, message_id_header="svix-id")
    client = served(receiver.app)
    first, other = make_message("status-update"), make_message("status-update")
    # The same body under new ids runs once; another body under a seen id is not swallowed.
    sent = [("msg-1", first), ("msg-2", first), ("msg-1", other)]
    assert [post_signed(client, credential, e, message_id) for message_id, e in sent] == [200] * 3
    assert handled == [first["message"]["call"]["id"], other["message"]["call"]["id"]]
    assert all(row["key"].startswith("sha256:") for row in store.rows())


def test_an_insecure_receiver_trusts_no_message_id(tmp_path: Path) -> None:
    """Nothing was verified, so no header can be a signed id."""
    receiver, _, handled = hmac_receiver_at(
        tmp_path / "inbox.sqlite3",
        message_id_header="svix-id",
        payload_format="{svix-id}.{timestamp}.{body}",
        insecure=True,
    )
    client = served(receiver.app)
    sent = [make_message("status-update"), make_message("status-update")]
    headers = {"content-type": "application/json", "svix-id": "msg-1"}
    for envelope in sent:
        assert client.post("/vapi", content=body_of(envelope), headers=headers).is_success
    assert handled == [envelope["message"]["call"]["id"] for envelope in sent]


SVIX = {
    "type": "hmac",
    "secret_key": "k" * 32,
    "algorithm": "sha256",
    "message_id_header": "Svix-Id",
    "payload_format": "{svix-id}.{timestamp}.{body}",
}


@pytest.mark.parametrize(
    ("org", "expected"),
    [
        ({"credentials": [SVIX]}, "svix-id"),
        ({"credentials": [{**SVIX, "payload_format": "{timestamp}.{body}"}]}, None),
        ({"credentials": [SVIX, {**SVIX, "message_id_header": "X-Id"}]}, None),
        # Any credential of the level lets a request in; a secret signs no id.
        ({"secret": SECRET, "credentials": [SVIX]}, None),
        ({"secret": SECRET}, None),
    ],
)
def test_the_message_id_is_a_key_only_when_every_credential_signs_it(
    org: dict[str, Any], expected: str | None
) -> None:
    config = config_from_mapping({"org": org})
    assert signed_id_header(make_message("status-update")["message"], config) == expected


# -- tool results ----------------------------------------------------------------------------


def tool_receiver(path: Path | Store, **inbox: Any) -> tuple[Receiver, list[str]]:
    receiver = receiver_at(path, **inbox)
    runs: list[str] = []

    @receiver.tool
    async def book_table(time: str) -> str:
        runs.append(time)
        await asyncio.sleep(0.05)
        return f"booked {time} (#{len(runs)})"

    return receiver, runs


def test_a_repeated_tool_call_id_answers_the_stored_result(store: Store) -> None:
    receiver, runs = tool_receiver(store)
    client = served(receiver.app)
    envelope = make_message("tool-calls", tool_calls=[("book_table", {"time": "19:00"})])
    first = client.post("/vapi", content=body_of(envelope), headers=HEADERS).json()
    again = client.post("/vapi", content=body_of(envelope), headers=HEADERS).json()
    assert first == again
    assert first["results"][0]["result"] == "booked 19:00 (#1)"
    assert runs == ["19:00"]
    # Another receiver on the same store (a restarted or second worker, another replica)
    # replays it too, once it is written (just after the answer).
    wait_until(lambda: len(store.tool_results()) == 1)
    other, other_runs = tool_receiver(store)
    replayed = served(other.app).post("/vapi", content=body_of(envelope), headers=HEADERS)
    assert replayed.json() == first
    assert other_runs == []


def test_concurrent_repeats_wait_for_the_first_run(tmp_path: Path) -> None:
    receiver, runs = tool_receiver(tmp_path / "inbox.sqlite3")
    body = body_of(make_message("tool-calls", tool_calls=[("book_table", {"time": "20:00"})]))

    async def three_at_once() -> list[Any]:
        return await asyncio.gather(*(receiver.handle(HEADERS, body) for _ in range(3)))

    outcomes = asyncio.run(three_at_once())
    assert runs == ["20:00"]
    assert len({outcome.body for outcome in outcomes}) == 1


def test_the_same_id_with_other_arguments_runs_and_a_zero_window_turns_replay_off(
    tmp_path: Path,
) -> None:
    receiver, runs = tool_receiver(tmp_path / "inbox.sqlite3")
    client = TestClient(receiver.app)
    envelope = make_message("tool-calls", tool_calls=[("book_table", {"time": "19:00"})])
    client.post("/vapi", content=body_of(envelope), headers=HEADERS)
    envelope["message"]["toolCallList"][0]["function"]["arguments"] = {"time": "21:00"}
    client.post("/vapi", content=body_of(envelope), headers=HEADERS)
    assert runs == ["19:00", "21:00"]

    off, off_runs = tool_receiver(tmp_path / "other.sqlite3", tool_result_window=0)
    off_client = TestClient(off.app)
    for _ in range(2):
        off_client.post("/vapi", content=body_of(envelope), headers=HEADERS)
    assert off_runs == ["21:00", "21:00"]


# -- readiness -------------------------------------------------------------------------------


def probes(client: TestClient) -> tuple[tuple[int, Any], tuple[int, Any]]:
    health, ready = client.get("/health"), client.get("/ready")
    return (health.status_code, health.json()), (ready.status_code, ready.json())


def test_ready_when_the_inbox_can_store_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    with TestClient(receiver_at(path).app) as client:
        assert probes(client) == ((200, {"status": "ok"}), (200, {"status": "ok"}))
    assert rows(path) == []


def test_not_ready_while_the_inbox_cannot_be_opened_and_ready_once_it_can(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the inbox's directory should be")
    receiver = receiver_at(blocker / "inbox.sqlite3")
    receiver.on("status-update")(lambda message: None)
    unavailable = {"status": "unavailable", "reason": "the inbox file cannot be opened or used"}
    with TestClient(receiver.app) as client:
        for _ in range(2):
            assert probes(client) == ((200, {"status": "ok"}), (503, unavailable))
        body = body_of(make_message("status-update"))
        assert client.post("/vapi", content=body, headers=HEADERS).status_code == 503
        blocker.unlink()
        blocker.mkdir()
        assert probes(client)[1] == (200, {"status": "ok"})
        assert client.post("/vapi", content=body, headers=HEADERS).status_code == 200
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not ready")]
    assert len(logged) == 1, "logged when it changes, not on every probe"
    assert f"cannot open the inbox at {blocker / 'inbox.sqlite3'}" in logged[0]
    assert str(blocker) not in json.dumps(unavailable), "the answer names no path"


def test_not_ready_when_the_file_is_no_inbox(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    path.write_bytes(b"not a database " * 100)
    with TestClient(receiver_at(path).app) as client:
        assert probes(client)[1][0] == 503


def test_not_ready_while_another_process_holds_the_inbox_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("receiver.inbox.runner.READY_TIMEOUT", 0.2)
    path = tmp_path / "inbox.sqlite3"
    with TestClient(receiver_at(path).app) as client:
        assert probes(client)[1][0] == 200
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            status, answer = probes(client)[1]
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert (status, answer) == (
        503,
        {"status": "unavailable", "reason": "the inbox did not answer within 0.2 s"},
    )


def test_readiness_without_an_inbox_is_always_ready(tmp_path: Path) -> None:
    receiver = receiver_at(tmp_path / "no-such-directory" / "inbox.sqlite3", enabled=False)
    with TestClient(receiver.app) as client:
        assert probes(client)[1] == (200, {"status": "ok"})


# -- configuration ---------------------------------------------------------------------------


def test_inbox_table_is_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "vapi.toml"
    path.write_text(
        '[org]\nsecret = "s"\n[inbox]\npath = "/data/inbox.db"\nsynchronous = "full"\n'
        "max_attempts = 3\nretry_backoff = 2\nretention_days = 30\n"
    )
    inbox = load_config(path).inbox
    assert (inbox.path, inbox.synchronous, inbox.max_attempts) == ("/data/inbox.db", "full", 3)
    assert (inbox.retry_backoff, inbox.retention_days) == (2, 30)
    assert inbox.enabled and inbox.tool_result_window == 3600


def test_default_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAPI_INBOX_PATH", "/var/lib/vapi/inbox.sqlite3")
    assert InboxConfig().path == "/var/lib/vapi/inbox.sqlite3"
    monkeypatch.delenv("VAPI_INBOX_PATH")
    assert InboxConfig().path == "./vapi-inbox.sqlite3"


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"pth": "x"}, "[inbox]: unknown key `pth`"),
        (
            {"lease_second": 5},
            "unknown key `lease_second` (expected one of: enabled, lease_seconds,",
        ),
        ({"lease_second": 5}, "did you mean `lease_seconds`?"),
        ({"enabled": "yes"}, "[inbox]: `enabled` must be true or false"),
        ({"max_attempts": 0}, "[inbox]: `max_attempts` must be at least 1"),
        ({"max_attempts": 2.5}, "[inbox]: `max_attempts` must be an integer"),
        ({"synchronous": "off"}, '[inbox]: `synchronous` must be "normal" or "full"'),
        ({"retention_days": -1}, "[inbox]: `retention_days` must be a positive number"),
        (
            {"message_id_headers": ["X-Delivery-Id"]},
            "`message_id_headers` is no longer read: an unsigned header is no duplicate key",
        ),
    ],
)
def test_bad_inbox_settings_name_the_file_table_and_key(table: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"org": {"secret": "s"}, "inbox": table}, source="vapi.toml")
    assert str(caught.value).startswith("vapi.toml: ")
    assert error in str(caught.value)


def test_a_file_that_is_not_an_inbox_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    with pytest.raises(InboxError, match=r"cannot use the inbox at .*notes.txt"):
        InboxStore.open(str(path))
