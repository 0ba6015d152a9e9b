"""Through a real uvicorn server on loopback: the network path a deployment uses."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import uvicorn

from receiver.testing import make_message
from tests.helpers import SECRET, make_receiver

pytestmark = pytest.mark.slow  # real uvicorn servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    receiver = make_receiver(max_body_bytes=1024 * 1024)
    seen: list[str] = []

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"status": "shipped", "order": order_id}

    @receiver.on("end-of-call-report")
    def report(message: Any, call: Any) -> None:
        seen.append(call.id)

    port = free_port()
    config = uvicorn.Config(receiver.app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", seen
    instance.should_exit = True
    thread.join(5)


def test_tool_call_over_real_http(server: tuple[str, list[str]]) -> None:
    url, _ = server
    envelope = make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "A-1042"})])
    response = httpx2.post(
        f"{url}/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": SECRET},
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["result"] == '{"status": "shipped", "order": "A-1042"}'


def test_report_is_acknowledged_then_handled(server: tuple[str, list[str]]) -> None:
    url, seen = server
    envelope = make_message("end-of-call-report")
    response = httpx2.post(
        f"{url}/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": SECRET},
    )
    assert response.status_code == 200 and response.json() == {}
    call_id = envelope["message"]["call"]["id"]
    deadline = time.monotonic() + 5
    while call_id not in seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert call_id in seen


def test_oversized_chunked_upload_is_refused_before_it_ends(
    server: tuple[str, list[str]],
) -> None:
    """The 413 arrives while the client is still sending: the rest is never buffered."""
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    chunk = b" " * (256 * 1024)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /vapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-Vapi-Secret: {SECRET}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(6):  # 1.5 MiB against a 1 MiB limit, and the body is never finished
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_bad_secret_over_real_http(server: tuple[str, list[str]]) -> None:
    url, seen = server
    before = list(seen)
    response = httpx2.post(
        f"{url}/vapi",
        content=json.dumps(make_message("end-of-call-report")),
        headers={"content-type": "application/json", "x-vapi-secret": "nope"},
    )
    assert response.status_code == 401
    time.sleep(0.1)
    assert seen == before
