"""The inspector (`vapi-receiver serve --inspect`), over real HTTP through uvicorn."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import uvicorn

from receiver import Receiver
from receiver.inspector import Inspector
from receiver.inspector.journal import Journal
from receiver.inspector.masking import MASK, masked_body
from receiver.signing import winning_credential
from receiver.testing import make_message
from tests.live_server import free_port

SECRET = "inspector-test-secret-0123456789"
HMAC_SECRET = "inspector-hmac-secret-0123456789"


def make_receiver(tmp_path: Any, **config: Any) -> Receiver:
    receiver = Receiver(
        config={
            "org": {"secret": SECRET},
            "inbox": {"path": str(tmp_path / "inbox.sqlite3")},
            **config,
        }
    )
    receiver.on("status-update")(lambda message: None)
    receiver.on("end-of-call-report")(lambda message: None)

    @receiver.tool
    async def lookup_order(order_id: str) -> dict[str, str]:
        return {"id": order_id, "status": "shipped"}

    return receiver


@contextlib.contextmanager
def serving(inspector: Inspector) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(inspector, host="127.0.0.1", port=port, log_level="warning")
    )
    inspector.stopping = lambda: server.should_exit
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop (an event stream held it?)"


@pytest.fixture
def inspected(tmp_path: Any) -> Iterator[tuple[Inspector, httpx2.Client]]:
    inspector = Inspector(make_receiver(tmp_path), keep=5)
    with serving(inspector) as url, httpx2.Client(base_url=url, timeout=10) as client:
        yield inspector, client


def deliver(client: httpx2.Client, envelope: dict[str, Any], secret: str = SECRET) -> int:
    body = json.dumps(envelope).encode()
    headers = {"content-type": "application/json", "x-vapi-secret": secret}
    return client.post("/vapi", content=body, headers=headers).status_code


def token_of(client: httpx2.Client) -> str:
    page = client.get("/_inspect").text
    return page.split('data-token="', 1)[1].split('"', 1)[0]


def test_every_delivery_is_listed_with_its_type_call_level_outcome_and_latency(
    inspected: tuple[Inspector, httpx2.Client],
) -> None:
    _inspector, client = inspected
    status = make_message("status-update")
    assert deliver(client, status) == 200
    assert deliver(client, make_message("status-update"), secret="wrong") == 401
    page = client.get("/_inspect")
    assert page.status_code == 200
    rows = page.text.split('<tbody id="rows">', 1)[1]
    assert rows.index('data-status="401"') < rows.index('data-status="200"')  # newest first
    detail = client.get("/_inspect/exchanges/1").json()
    assert detail["type"] == "status-update"
    assert detail["call_id"] == status["message"]["call"]["id"]
    assert (detail["level"], detail["verification"], detail["status"]) == ("org", "verified", 200)
    assert detail["latency_ms"] > 0
    refused = client.get("/_inspect/exchanges/2").json()
    assert (refused["verification"], refused["status"]) == ("refused", 401)
    assert refused["reason"].startswith("invalid_credential")
    assert SECRET not in json.dumps(refused)


def test_the_detail_masks_credential_headers_and_payload_secrets(
    inspected: tuple[Inspector, httpx2.Client],
) -> None:
    _inspector, client = inspected
    envelope = make_message("status-update")
    envelope["message"]["phoneNumber"] = {
        "id": "pn-1",
        "serverUrlSecret": "payload-secret-value",
        "server": {"url": "https://example.test", "secret": "nested-secret-value"},
        "credentials": [{"provider": "twilio", "apiKey": "key-value", "authToken": "tok"}],
    }
    assert deliver(client, envelope) == 200
    detail = client.get("/_inspect/exchanges/1").json()
    assert detail["headers"]["x-vapi-secret"] == MASK
    shown = json.dumps(detail)
    for secret in (SECRET, "payload-secret-value", "nested-secret-value", "key-value", '"tok"'):
        assert secret not in shown
    body = json.loads(detail["body"])
    assert body["message"]["phoneNumber"]["server"] == {
        "url": "https://example.test",
        "secret": MASK,
    }
    assert json.loads(detail["answer"]) == {}


def test_replay_sends_a_new_delivery_and_resend_as_retry_is_dropped_as_a_repeat(
    inspected: tuple[Inspector, httpx2.Client],
) -> None:
    _inspector, client = inspected
    assert deliver(client, make_message("status-update")) == 200
    token = token_of(client)
    fresh = client.post("/_inspect/exchanges/1/replay", headers={"x-inspector-token": token})
    assert fresh.status_code == 200
    replayed = client.get(f"/_inspect/exchanges/{fresh.json()['id']}").json()
    assert (replayed["status"], replayed["replay_of"], replayed["replay_mode"]) == (200, 1, "fresh")
    assert replayed["reason"] is None  # a new delivery, run again
    retry = client.post(
        "/_inspect/exchanges/1/replay?mode=retry", headers={"x-inspector-token": token}
    )
    repeated = client.get(f"/_inspect/exchanges/{retry.json()['id']}").json()
    assert repeated["status"] == 200
    assert repeated["reason"] == "repeated delivery: acknowledged, not run again"


def test_replay_re_signs_an_hmac_delivery(tmp_path: Any) -> None:
    receiver = make_receiver(
        tmp_path,
        org={
            "credentials": [
                {
                    "type": "hmac",
                    "secret_key": HMAC_SECRET,
                    "algorithm": "sha256",
                    "signature_header": "x-signature",
                }
            ]
        },
    )
    inspector = Inspector(receiver)
    with serving(inspector) as url, httpx2.Client(base_url=url, timeout=10) as client:
        envelope = make_message("status-update")
        body = json.dumps(envelope).encode()
        headers = winning_credential(envelope["message"], receiver.config).headers_for(
            body, url=f"{url}/vapi"
        )
        headers["content-type"] = "application/json"
        sent = client.post("/vapi", content=body, headers=headers)
        assert sent.status_code == 200
        assert client.get("/_inspect/exchanges/1").json()["headers"]["x-signature"] == MASK
        again = client.post(
            "/_inspect/exchanges/1/replay", headers={"x-inspector-token": token_of(client)}
        )
        assert client.get(f"/_inspect/exchanges/{again.json()['id']}").json()["status"] == 200


def test_replay_needs_the_page_token(inspected: tuple[Inspector, httpx2.Client]) -> None:
    _inspector, client = inspected
    assert deliver(client, make_message("status-update")) == 200
    for headers in ({}, {"x-inspector-token": "guess"}):
        refused = client.post("/_inspect/exchanges/1/replay", headers=headers)
        assert refused.status_code == 403
    assert len(client.get("/_inspect").text.split("<tr data-id=")) == 2  # nothing replayed


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": "203.0.113.9"},
        {"forwarded": "for=203.0.113.9"},
        {"cf-connecting-ip": "203.0.113.9"},
        {"host": "attacker.example"},  # a DNS-rebinding page on a name that points here
        {"host": "abcd.ngrok-free.app"},
    ],
)
def test_the_inspector_refuses_tunnels_proxies_and_foreign_hosts(
    inspected: tuple[Inspector, httpx2.Client], headers: dict[str, str]
) -> None:
    _inspector, client = inspected
    for path in ("/_inspect", "/_inspect/events", "/_inspect/exchanges/1"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 403, path
    # The webhook itself is untouched: Vapi comes through tunnels.
    envelope = json.dumps(make_message("status-update")).encode()
    posted = client.post(
        "/vapi",
        content=envelope,
        headers={**headers, "content-type": "application/json", "x-vapi-secret": SECRET},
    )
    assert posted.status_code == 200


def test_the_page_escapes_what_arrives_and_sets_a_strict_policy(
    inspected: tuple[Inspector, httpx2.Client],
) -> None:
    _inspector, client = inspected
    envelope = make_message("status-update")
    envelope["message"]["call"]["id"] = '"><script>alert(1)</script>'
    assert deliver(client, envelope) == 200
    page = client.get("/_inspect")
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    detail = client.get("/_inspect/exchanges/1").text
    assert "<script>" not in detail  # JSON with < and > escaped, whatever reads it


def test_memory_is_bounded_by_count_and_bytes(tmp_path: Any) -> None:
    journal = Journal(keep=3, max_bytes=100_000)
    for _ in range(10):
        journal.finish(journal.start({}, b"x" * 100))
        assert len(journal) <= 3
    assert [e.id for e in journal] == [8, 9, 10]
    large = journal.start({}, b"y" * 60_000)  # over a quarter of the cap: only its size kept
    assert (large.body, large.body_size) == (b"", 60_000)
    small = Journal(keep=100, max_bytes=10_000)
    for _ in range(50):
        small.finish(small.start({}, b"z" * 1_000))
    assert sum(e.size for e in small) <= 10_000


def test_the_event_stream_sends_new_deliveries_and_resumes_after_a_reconnect(
    inspected: tuple[Inspector, httpx2.Client],
) -> None:
    _inspector, client = inspected
    assert deliver(client, make_message("status-update")) == 200
    seen: list[dict[str, Any]] = []

    def read_stream() -> None:
        with client.stream("GET", "/_inspect/events", headers={"last-event-id": "0"}) as events:
            for line in events.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if len(seen) == 2:
                        return

    reader = threading.Thread(target=read_stream, daemon=True)
    reader.start()
    time.sleep(0.3)
    assert deliver(client, make_message("end-of-call-report")) == 200
    reader.join(10)
    assert [event["id"] for event in seen] == [1, 2]  # the missed one first, then the new one
    assert seen[1]["type"] == "end-of-call-report"


def test_masking_walks_deep_and_wide_documents_once() -> None:
    deep: Any = {"token": "t0"}
    for _ in range(150):
        deep = {"inner": deep, "list": [{"secret": "s"}]}
    shown = masked_body(json.dumps(deep).encode())
    assert '"t0"' not in shown and '"s"' not in shown
    assert masked_body(b"not json <b>") == "not json <b>"
