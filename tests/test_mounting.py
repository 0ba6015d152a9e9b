"""The receiver mounted in a real FastAPI app keeps the inbox's promises.

A mounted app's own lifespan never runs. `Receiver.mount` (or `Receiver.lifespan` in the
host's lifespan) runs it; without either, the inbox refuses informational deliveries with
503 instead of acknowledging work that nothing would retry or recover.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Request
from starlette.testclient import TestClient

from receiver import ConfigError, Receiver
from receiver.inbox import InboxStore
from receiver.testing import make_message
from tests.conftest import SECRET
from tests.inbox_server import ServerProcess, count, handled, serving, wait_until

HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


def report(call_id: str) -> bytes:
    return json.dumps(make_message("end-of-call-report", call_id=call_id)).encode()


def recording_receiver(inbox: Path, seen: list[str]) -> Receiver:
    receiver = Receiver(config={"org": {"secret": SECRET}, "inbox": {"path": str(inbox)}})
    receiver.on("end-of-call-report")(lambda message, call: seen.append(call.id))
    return receiver


def left_by_a_crash(inbox: Path, call_id: str) -> None:
    """A delivery acknowledged by a worker that died before running it: pending, lease over."""
    store = InboxStore.open(str(inbox))
    try:
        store.add(
            key=f"crash-{call_id}",
            kind="end-of-call-report",
            call_id=call_id,
            body=report(call_id),
            owner="dead-worker",
            lease=0,
        )
    finally:
        store.close()


def test_a_plain_mount_refuses_deliveries_with_503_and_says_why_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    receiver = recording_receiver(tmp_path / "inbox.sqlite3", seen)
    api = FastAPI()
    api.mount("/hooks", receiver.app)  # the receiver's lifespan never runs

    with TestClient(api) as client, caplog.at_level(logging.ERROR, "vapi_receiver"):
        answers = [
            client.post("/hooks/vapi", content=report(f"c{n}"), headers=HEADERS) for n in (1, 2)
        ]
        tool = client.post("/hooks/vapi", content=json.dumps(make_message("hang")), headers=HEADERS)

    assert [a.status_code for a in answers] == [503, 503]
    assert "lifespan is not running" in answers[0].json()["error"]
    assert seen == []
    said = [r.getMessage() for r in caplog.records if "inbox is not serving" in r.getMessage()]
    assert len(said) == 1, "logged once, not once per delivery"
    assert "receiver.mount(app, path)" in said[0]
    assert tool.status_code == 200, "what needs no inbox is still answered"


def test_mount_runs_recovery_and_keeps_the_hosts_lifespan_and_state(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    left_by_a_crash(inbox, "left-pending")
    seen: list[str] = []
    receiver = recording_receiver(inbox, seen)
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("host start")
        yield {"pool": "the host's"}
        events.append(f"host stop after {sorted(seen)}")

    api = FastAPI(lifespan=lifespan)
    receiver.mount(api, "/hooks")

    @api.get("/pool")
    def pool(request: Request) -> str:
        return str(request.state.pool)

    with TestClient(api) as client:
        wait_until(lambda: "left-pending" in seen, 10, "recovery of the pending delivery")
        answer = client.post("/hooks/vapi", content=report("fresh"), headers=HEADERS)
        assert answer.status_code == 200
        assert client.get("/hooks/health").json() == {"status": "ok"}
        assert client.get("/pool").json() == "the host's", "the host's lifespan state is kept"
    assert sorted(seen) == ["fresh", "left-pending"]
    assert events == ["host start", "host stop after ['fresh', 'left-pending']"]
    assert count(inbox, "status = 'done'") == 2


def test_receiver_lifespan_is_a_fastapi_lifespan_as_it_is(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    left_by_a_crash(inbox, "left-pending")
    seen: list[str] = []
    receiver = recording_receiver(inbox, seen)
    api = FastAPI(lifespan=receiver.lifespan)
    api.mount("/hooks", receiver.app)

    with TestClient(api) as client:
        wait_until(lambda: seen == ["left-pending"], 10, "recovery of the pending delivery")
        assert client.post("/hooks/vapi", content=report("fresh"), headers=HEADERS).is_success


def test_the_path_option_moves_the_webhook_inside_the_mount(tmp_path: Path) -> None:
    receiver = Receiver(
        config={"org": {"secret": SECRET}, "inbox": {"path": str(tmp_path / "i.sqlite3")}},
        path="/webhook",
    )
    api = FastAPI()
    receiver.mount(api, "/hooks")
    with TestClient(api) as client:
        hang = json.dumps(make_message("hang"))
        assert client.post("/hooks/webhook", content=hang, headers=HEADERS).status_code == 200
        assert client.post("/hooks/vapi", content=hang, headers=HEADERS).status_code == 404


def test_a_configuration_error_stops_the_host_from_starting(tmp_path: Path) -> None:
    receiver = Receiver(
        config={"org": {"secret": SECRET}, "tools": {"lookup_ordr": {"secret": "x" * 32}}}
    )
    api = FastAPI()
    receiver.mount(api, "/hooks")
    with (
        pytest.raises(ConfigError, match=r"\[tools.lookup_ordr\] is not a registered tool"),
        TestClient(api),
    ):
        pass


# -- kill -9 through the mount ---------------------------------------------------------------


def mounted(workdir: Path, slow: str) -> contextlib.AbstractContextManager[ServerProcess]:
    """`tests.mounted_app` under uvicorn: the receiver at `/hooks` of a FastAPI app."""
    app = "tests.mounted_app:app"
    return serving(workdir, app=app, prefix="/hooks", INBOX_APP_SLOW=slow, INBOX_APP_LEASE="2")


def test_kill_9_then_restart_recovers_every_acknowledged_delivery_through_the_mount(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    calls = [f"slow-{n:02}" for n in range(12)]

    with mounted(tmp_path, slow="600") as first, httpx2.Client(timeout=10) as client:
        assert client.get(first.url.replace("/hooks/vapi", "/ready")).json() == {"ready": True}
        for call_id in calls:
            assert client.post(first.url, content=report(call_id), headers=HEADERS).is_success
        # Each handler sleeps before its only side effect: all are pending at the kill.
        first.kill_9()
    assert count(inbox, "status = 'pending'") == len(calls)
    assert handled(tmp_path) == []

    started = time.monotonic()
    with mounted(tmp_path, slow="0.1"):  # restart on the same file; nothing is resent
        wait_until(lambda: count(inbox, "status != 'done'") == 0, 30, "the inbox to drain")
    elapsed = time.monotonic() - started
    print(f"\nrecovered {len(calls)} deliveries through the mount in {elapsed:.1f} s")
    assert Counter(handled(tmp_path)) == Counter(calls), "each acknowledged delivery, once"
