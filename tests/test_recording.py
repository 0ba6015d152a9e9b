"""Recording verified deliveries: exact bodies, no secrets, whole lines under concurrency."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import ConfigError, Receiver, load_config
from receiver.recording import OFFLOAD_BYTES, Recorder, recordable_headers
from receiver.testing import VapiTestClient, make_message
from tests.helpers import SECRET


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def test_a_verified_delivery_is_recorded_exactly(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.jsonl"
    receiver = Receiver(config={"org": {"secret": SECRET}}, record_to=path)
    # Odd whitespace, escapes, a non-ASCII name and U+2028 must all survive byte for byte.
    body = (
        '{"message":\t{"type": "hang",\r\n "call": {"id": "c-1"}, '
        r'"customer": {"name": "Zoë\u2028 \"Q\" \\ \n"}}}'
    ).encode()
    assert "\u2028".encode() not in body  # the escape, not the character: add it raw too
    body = body.replace(b"Zo\xc3\xab", "Zoë\u2028".encode())
    headers = {
        "content-type": "application/json",
        "x-vapi-secret": SECRET,
        "Authorization": "Bearer abc",
        "x-api-key": "k",
        "x-signature": "sig",
        "cookie": "session=1",
        "x-tenant": "acme",
    }
    response = VapiTestClient(receiver).http.post("/vapi", content=body, headers=headers)
    assert response.status_code == 200
    (record,) = lines_of(path)
    assert record["body"].encode() == body
    assert record["headers"]["x-tenant"] == "acme"
    assert record["headers"]["content-type"] == "application/json"
    for name in ("x-vapi-secret", "authorization", "x-api-key", "x-signature", "cookie"):
        assert name not in record["headers"]
    assert SECRET not in path.read_text()
    assert record["received_at"].endswith("Z")


def test_refused_and_malformed_deliveries_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.jsonl"
    receiver = Receiver(config={"org": {"secret": SECRET}}, record_to=path)
    client = VapiTestClient(receiver, secret="wrong")
    assert client.send("end-of-call-report").status_code == 401
    bad = client.http.post(
        "/vapi",
        content=b"{not json",
        headers={"content-type": "application/json", "x-vapi-secret": SECRET},
    )
    assert bad.status_code == 400
    assert not path.exists()


def test_start_up_says_that_recording_is_on_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    receiver = Receiver(config={"org": {"secret": SECRET}}, record_to="calls.jsonl")
    with caplog.at_level(logging.INFO, "vapi_receiver"), TestClient(receiver.app):
        pass
    started = [r.getMessage() for r in caplog.records if "recording" in r.getMessage()]
    assert started == [
        f"recording every verified delivery, headers without credentials, to "
        f"{tmp_path / 'calls.jsonl'}"
    ]


def test_record_to_in_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "vapi.toml"
    path.write_text('[org]\nsecret = "s"\n[receiver]\nrecord_to = "calls.jsonl"\n')
    assert load_config(path).record_to == "calls.jsonl"
    path.write_text('[org]\nsecret = "s"\n[receiver]\nrecord_to = 5\n')
    with pytest.raises(ConfigError, match="record_to` must be a string"):
        load_config(path)


def test_a_missing_directory_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Receiver(config={"org": {"secret": SECRET}}, record_to=tmp_path / "no" / "x.jsonl")


def test_a_failed_write_is_logged_and_the_delivery_still_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(config={"org": {"secret": SECRET}}, record_to=tmp_path)  # a directory
    with caplog.at_level(logging.ERROR, "vapi_receiver"):
        response = VapiTestClient(receiver).send("hang")
    assert response.status_code == 200
    assert "could not record a delivery" in caplog.text


def test_only_credential_like_headers_are_dropped() -> None:
    kept = recordable_headers(
        {
            "Content-Type": "application/json",
            "User-Agent": "Vapi",
            "X-Call-Id": "c",
            "X-Timestamp": "1",
            "Proxy-Authorization": "p",
            "X-Auth-Token": "t",
            "X-Vapi-Secret": "s",
            "X-Api-Key": "k",
            "ApiKey": "k",
            "X-Custom-Credential": "c",
            "Set-Cookie": "c",
        }
    )
    assert kept == {
        "content-type": "application/json",
        "user-agent": "Vapi",
        "x-call-id": "c",
        "x-timestamp": "1",
    }


def test_large_bodies_are_recorded_through_a_thread(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "big.jsonl")
    body = json.dumps(make_message("end-of-call-report", minutes=60)).encode()
    assert len(body) > OFFLOAD_BYTES
    asyncio.run(recorder.record({"content-type": "application/json"}, body))
    (record,) = lines_of(tmp_path / "big.jsonl")
    assert record["body"].encode() == body


def test_concurrent_threads_never_interleave_lines(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "threads.jsonl")
    bodies = [json.dumps({"n": n, "pad": "x" * (n % 3) * 300_000}).encode() for n in range(40)]
    threads = [threading.Thread(target=recorder.record_now, args=({}, body)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    records = lines_of(tmp_path / "threads.jsonl")
    assert sorted(json.loads(r["body"])["n"] for r in records) == list(range(40))


_WORKER = """
import json, sys
from receiver.recording import Recorder
recorder = Recorder(sys.argv[1])
for n in range(15):
    body = json.dumps({"worker": int(sys.argv[2]), "n": n, "pad": "y" * 200_000}).encode()
    recorder.record_now({}, body)
"""


@pytest.mark.slow  # four worker processes
def test_concurrent_worker_processes_never_interleave_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "workers.jsonl")
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, path, str(w)]) for w in range(4)]
    for worker in workers:
        assert worker.wait(60) == 0
    records = [json.loads(r["body"]) for r in lines_of(Path(path))]
    assert sorted((r["worker"], r["n"]) for r in records) == [
        (w, n) for w in range(4) for n in range(15)
    ]


def test_headers_read_by_any_configured_credential_are_never_recorded(tmp_path: Path) -> None:
    """A Bearer token in `X-Webhook-Key` has no credential-like name, but is one."""
    path = tmp_path / "deliveries.jsonl"
    config = {
        "org": {"credentials": [{"type": "bearer", "token": "org-tok", "header_name": "X-Webhook-Key"}]},  # noqa: E501
        "assistants": {
            "asst-1": {"credentials": [{"type": "bearer", "token": "t", "header_name": "X-Other"}]}
        },
    }  # fmt: skip
    receiver = Receiver(config=config, record_to=path)
    headers = {
        "content-type": "application/json",
        "x-webhook-key": "Bearer org-tok",
        "x-other": "Bearer for-another-level",
        "x-call-id": "c",
    }
    with TestClient(receiver.app) as client:
        response = client.post("/vapi", content=json.dumps(make_message("hang")), headers=headers)
    assert response.status_code == 200
    [recorded] = lines_of(path)
    assert recorded["headers"]["x-call-id"] == "c"
    assert not {"x-webhook-key", "x-other"} & set(recorded["headers"])
    assert "org-tok" not in path.read_text() and "for-another-level" not in path.read_text()
