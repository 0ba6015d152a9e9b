"""The transport contract: each kind of bad input gets its own status and a specific error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver.testing import make_message
from tests.conftest import SECRET, make_receiver, post
from tests.served import served

HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


@pytest.fixture
def calls() -> list[Any]:
    return []


@pytest.fixture
def client(calls: list[Any]) -> TestClient:
    receiver = make_receiver(max_body_bytes=64 * 1024)
    receiver.on_any(calls.append)
    return served(receiver.app)


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405_with_allow(client: TestClient, method: str) -> None:
    response = client.request(method, "/vapi")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "Vapi sends POST" in response.json()["error"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_gets_415(client: TestClient, content_type: str | None) -> None:
    headers = {"x-vapi-secret": SECRET}
    if content_type:
        headers["content-type"] = content_type
    response = client.post("/vapi", content=b"{}", headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_json_with_charset_is_accepted(client: TestClient) -> None:
    headers = {**HEADERS, "content-type": "application/json; charset=utf-8"}
    response = client.post("/vapi", content=json.dumps(make_message("hang")), headers=headers)
    assert response.status_code == 200


def test_oversized_declared_body_gets_413(client: TestClient) -> None:
    response = client.post("/vapi", content=b"x" * (64 * 1024 + 1), headers=HEADERS)
    assert response.status_code == 413
    assert "65536 byte limit" in response.json()["error"]


def test_oversized_streamed_body_gets_413_without_content_length(client: TestClient) -> None:
    sent: list[int] = []

    def chunks() -> Any:
        for _ in range(100):
            sent.append(1)
            yield b"x" * 4096

    response = client.post("/vapi", content=chunks(), headers=HEADERS)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"{not json", "not valid JSON"),
        (b'{"message": NaN}', "not valid JSON"),
        (b"[]", "must be a JSON object, not an array"),
        (b'"text"', "must be a JSON object, not a string"),
        (b"{}", 'must have a "message" object (missing)'),
        (b'{"message": []}', 'must have a "message" object (an array)'),
        (b'{"message": {}}', '"message.type" must be a non-empty string'),
        (b'{"message": {"type": 7}}', '"message.type" must be a non-empty string'),
        (b"[" * 20_000 + b"]" * 20_000, "not valid JSON"),
        (b'{"message": {"type": "hang", "n": ' + b"9" * 5000 + b"}}", "not valid JSON"),
        (b'{"message": {"type": "hang", "call": {"id": "\\udc00"}}}', "unpaired UTF-16"),
    ],
    ids=[
        "utf8",
        "json",
        "nan",
        "array",
        "string",
        "no message",
        "message array",
        "no type",
        "type number",
        "deep nesting",
        "huge number",
        "lone surrogate",
    ],
)
def test_malformed_bodies_get_400_and_never_reach_a_handler(
    client: TestClient, calls: list[Any], body: bytes, expected: str
) -> None:
    response = client.post("/vapi", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert expected in response.json()["error"]
    assert calls == []


def test_unverified_requests_never_reach_a_handler(client: TestClient, calls: list[Any]) -> None:
    response = post(client, make_message("end-of-call-report"), secret="wrong")
    assert response.status_code == 401
    assert calls == []


def test_tool_calls_without_type_are_recognised(client: TestClient) -> None:
    envelope = make_message("tool-calls", tool_calls=[("x", {})])
    del envelope["message"]["type"]
    response = post(client, envelope)
    assert response.status_code == 200
    assert response.json()["results"][0]["error"] == "unknown tool 'x'"
