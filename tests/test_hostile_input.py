"""Hostile input through the real app: never a 500, never a handler without a credential.

Three levels with three schemes (org secret, assistant HMAC, tool Bearer) so that mutations
which move a message from one level to another are covered too. Every handler records a
marker carried in the message; markers of requests sent without a valid credential must
never show up, and after each barrage the receiver still answers an ordinary delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.testing import MESSAGE_TYPES, make_message

SECRET = "hostile-org-secret"
BEARER = "hostile-tool-token"
HMAC_KEY = "hostile-assistant-key"
ASSISTANT = "asst-hmac"
MARKER = "hostileMarker"

BOUNDED = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Json = Any


class Target:
    """The app under attack, and what its handlers saw."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.handled: set[str] = set()
        self.unverified: set[str] = set()

    def post(self, body: bytes, headers: dict[str, str], *, verified: bool) -> Any:
        response = self.client.post(
            "/vapi", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code != 500
        if verified:
            assert response.status_code in (200, 400), response.text
        else:
            assert response.status_code in (400, 401), response.text
        return response

    def assert_still_serving(self) -> None:
        marker = uuid.uuid4().hex
        envelope = make_message("status-update", assistant_id="asst-plain")
        envelope["message"][MARKER] = marker
        body = json.dumps(envelope).encode()
        assert self.post(body, {"x-vapi-secret": SECRET}, verified=True).status_code == 200
        assert marker in self.handled
        assert self.client.get("/health").status_code == 200
        assert not self.handled & self.unverified, "a handler ran without a valid credential"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    inbox = Path(tmp_path_factory.mktemp("inbox")) / "inbox.sqlite3"
    receiver = Receiver(
        config={
            "org": {"secret": SECRET},
            "assistants": {
                ASSISTANT: {
                    "credentials": [{"type": "hmac", "secret_key": HMAC_KEY, "algorithm": "sha256"}]
                }
            },
            "tools": {"lookup_order": {"credentials": [{"type": "bearer", "token": BEARER}]}},
            "inbox": {"path": str(inbox)},
        }
    )

    @receiver.tool
    def lookup_order(order_id: str = "") -> str:
        return "shipped"

    with TestClient(receiver.app) as client:  # starting checks [tools.*] against the tools
        state = Target(client)

        def record(message: Any) -> None:
            marker = message.raw.get(MARKER)
            if isinstance(marker, str):
                state.handled.add(marker)

        receiver.on_any(record)

        @receiver.on("assistant-request")
        def assistant(message: Any) -> dict[str, str]:
            record(message)
            return {"assistantId": ASSISTANT}

        @receiver.on("transfer-destination-request")
        def transfer(message: Any) -> dict[str, Any]:
            record(message)
            return {"error": "no transfer"}

        yield state
        state.assert_still_serving()


def credentials(body: bytes) -> dict[str, str]:
    """Every level's credential at once, so the request is verified whichever level wins."""
    now = str(int(time.time()))
    signature = hmac.new(HMAC_KEY.encode(), now.encode() + b"." + body, hashlib.sha256)
    return {
        "x-vapi-secret": SECRET,
        "authorization": f"Bearer {BEARER}",
        "x-signature": signature.hexdigest(),
        "x-timestamp": now,
    }


WRONG_CREDENTIALS = [
    {},
    {"x-vapi-secret": SECRET + "x"},
    {"authorization": "Bearer " + BEARER[:-1]},
    {"x-signature": "0" * 64, "x-timestamp": str(int(time.time()))},
    {"x-vapi-secret": "", "authorization": "", "x-signature": "", "x-timestamp": ""},
]


def template(kind: str) -> dict[str, Any]:
    if kind == "tool-calls":
        return make_message(kind, assistant_id=ASSISTANT, tool_calls=[("lookup_order", {})])
    return make_message(kind, assistant_id=ASSISTANT)


TEMPLATES = {kind: template(kind) for kind in MESSAGE_TYPES}


def paths(value: Json, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


PATHS = {kind: list(paths(envelope)) for kind, envelope in TEMPLATES.items()}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "[REDACTED]", "tool-calls", ASSISTANT, "lookup_order", "0" * 300])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def replaced(envelope: Json, path: tuple[str | int, ...], value: Json) -> Json:
    """A deep copy of `envelope` with the value at `path` set (objects made on the way)."""
    if not path:
        return value
    copy = json.loads(json.dumps(envelope))
    parent = copy
    for step in path[:-1]:
        parent = parent.setdefault(step, {}) if isinstance(parent, dict) else parent[step]
    parent[path[-1]] = value
    return copy


def marked(envelope: Json) -> tuple[Json, str]:
    """The envelope with a fresh marker in its message, when it still has a message."""
    marker = uuid.uuid4().hex
    if isinstance(envelope, dict) and isinstance(envelope.get("message"), dict):
        envelope = {**envelope, "message": {**envelope["message"], MARKER: marker}}
    return envelope, marker


def attack(target: Target, body: bytes, marker: str) -> None:
    """Send `body` without, then with, a valid credential."""
    target.unverified.add(marker)
    for wrong in WRONG_CREDENTIALS:
        target.post(body, wrong, verified=False)
    assert marker not in target.handled
    target.unverified.discard(marker)  # from here on it is sent with a credential
    target.post(body, credentials(body), verified=True)


@st.composite
def mutated_messages(draw: st.DrawFn) -> tuple[bytes, str, str]:
    kind = draw(st.sampled_from(MESSAGE_TYPES))
    path = draw(st.sampled_from(PATHS[kind]))
    envelope, marker = marked(replaced(TEMPLATES[kind], path, draw(json_values)))
    return json.dumps(envelope).encode(), marker, kind


@pytest.mark.slow  # a long property search
def test_wrong_types_in_every_field(target: Target) -> None:
    @BOUNDED
    @given(mutated_messages())
    def run(case: tuple[bytes, str, str]) -> None:
        body, marker, _ = case
        unverified_marker = uuid.uuid4().hex
        target.unverified.add(unverified_marker)
        for wrong in WRONG_CREDENTIALS:
            target.post(
                body.replace(marker.encode(), unverified_marker.encode()), wrong, verified=False
            )
        target.post(body, credentials(body), verified=True)

    run()
    target.assert_still_serving()


def test_requests_get_well_formed_answers_whatever_their_fields(target: Target) -> None:
    @BOUNDED
    @given(mutated_messages())
    def run(case: tuple[bytes, str, str]) -> None:
        body, _, kind = case
        response = target.post(body, credentials(body), verified=True)
        if response.status_code == 200 and kind != "voice-request":
            assert isinstance(response.json(), dict)
        if response.status_code == 400:
            assert response.json()["error"]

    run()
    target.assert_still_serving()


def test_malformed_bodies(target: Target) -> None:
    valid = json.dumps(TEMPLATES["status-update"]).encode()

    @BOUNDED
    @given(
        st.binary(max_size=300)
        | st.builds(lambda n: valid[:n], st.integers(0, len(valid) - 1))
        | st.sampled_from([b"", b"null", b"[]", b'"message"', b"{}", b'{"message": null}'])
        | st.sampled_from([b'{"message": {"type": 7}}', b'{"message": {"type": ""}}'])
        | st.sampled_from([b"NaN", b'{"message": {"type": "hang", "x": NaN}}'])
        | st.sampled_from([b'{"message": {"type": "hang", "x": Infinity}}', b"\x00" * 100])
    )
    def run(body: bytes) -> None:
        target.post(body, {}, verified=False)
        response = target.post(body, credentials(body), verified=True)
        assert response.status_code == 400, body
        assert response.json()["error"]

    run()
    target.assert_still_serving()


INVALID_UTF8 = [
    b"\xff",
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
]


def test_invalid_utf8(target: Target) -> None:
    valid = json.dumps(TEMPLATES["end-of-call-report"]).encode()

    @BOUNDED
    @given(st.integers(0, len(valid)), st.sampled_from(INVALID_UTF8))
    def run(position: int, garbage: bytes) -> None:
        body = valid[:position] + garbage + valid[position:]
        target.post(body, {}, verified=False)
        response = target.post(body, credentials(body), verified=True)
        assert response.status_code == 400
        assert "UTF-8" in response.json()["error"]

    run()
    target.assert_still_serving()


def test_deep_nesting(target: Target) -> None:
    @BOUNDED
    @given(
        st.sampled_from(MESSAGE_TYPES),
        st.sampled_from(["[", '{"a":', '{"a":[']),
        st.integers(1, 200_000),
    )
    # Just under and over what the JSON parser allows, where later code could still recurse.
    @example("end-of-call-report", "[", 950)
    @example("tool-calls", '{"a":', 985)
    @example("status-update", '{"a":[', 495)
    def run(kind: str, opener: str, depth: int) -> None:
        closer = {"[": "]", '{"a":': "}", '{"a":[': "]}"}[opener]
        deep = opener * depth + "1" + closer * depth
        for path in (("message", "deep"), ("message", "call"), ("message", "toolCallList")):
            envelope, marker = marked(replaced(TEMPLATES[kind], path, "__DEEP__"))
            body = json.dumps(envelope).replace('"__DEEP__"', deep).encode()
            attack(target, body, marker)

    run()
    target.assert_still_serving()


def test_huge_and_odd_numbers(target: Target) -> None:
    @BOUNDED
    @given(
        st.sampled_from(MESSAGE_TYPES),
        st.sampled_from(
            [
                *("1e400", "-1e400", "1" * 5000, "-" + "9" * 4300, "1" * 4000),
                *("0.0000001e-400", "123456789012345678901234567890", "1.5e308", "-0", "1E+2"),
            ]
        ),
        st.sampled_from(
            [
                ("message", "timestamp"),
                ("message", "call", "cost"),
                ("message", "sampleRate"),
                ("message", "call", "id"),
                ("message", "call", "assistantId"),
                ("message", "type"),
            ]
        ),
    )
    def run(kind: str, number: str, path: tuple[str, ...]) -> None:
        envelope, marker = marked(replaced(TEMPLATES[kind], path, "__NUMBER__"))
        body = json.dumps(envelope).replace('"__NUMBER__"', number).encode()
        attack(target, body, marker)

    run()
    target.assert_still_serving()


def test_duplicate_keys(target: Target) -> None:
    @BOUNDED
    @given(
        st.sampled_from(MESSAGE_TYPES),
        st.sampled_from(["type", "call", "assistant", "toolCallList", "phoneNumber", MARKER]),
        json_values,
    )
    def run(kind: str, key: str, first: Json) -> None:
        envelope, marker = marked(TEMPLATES[kind])
        text = json.dumps(envelope)
        duplicate = '{"message": {' + json.dumps(key) + ": " + json.dumps(first) + ", "
        assert text.startswith('{"message": {')
        body = (duplicate + text.removeprefix('{"message": {')).encode()
        attack(target, body, marker)

    run()
    target.assert_still_serving()


def test_duplicate_keys_cannot_smuggle_a_message_past_its_level(target: Target) -> None:
    """The level is worked out from the same parse that handlers see: the last key wins."""
    for credential_of, first, last in (
        ("org", "asst-plain", ASSISTANT),
        ("assistant", ASSISTANT, "asst-plain"),
    ):
        envelope, marker = marked(make_message("status-update", assistant_id=last))
        text = json.dumps(envelope)
        smuggled = '{"message": {"call": {"assistantId": "' + first + '"}, '
        body = (smuggled + text.removeprefix('{"message": {')).encode()
        headers = credentials(body)
        if credential_of == "org":
            only = {"x-vapi-secret": headers["x-vapi-secret"]}
        else:
            only = {k: headers[k] for k in ("x-signature", "x-timestamp")}
        target.unverified.add(marker)
        assert target.post(body, only, verified=False).status_code == 401
        assert marker not in target.handled
    target.assert_still_serving()


def test_oversized_and_odd_headers(target: Target) -> None:
    header_values = st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200
    ) | st.builds(lambda n, c: c * n, st.integers(1_000, 200_000), st.sampled_from("a=0 ,"))

    @BOUNDED
    @given(
        st.sampled_from(["x-vapi-secret", "authorization", "x-signature", "x-timestamp"]),
        header_values,
        st.integers(0, 200),
    )
    def run(name: str, value: str, extra_headers: int) -> None:
        envelope, marker = marked(make_message("status-update", assistant_id=ASSISTANT))
        body = json.dumps(envelope).encode()
        noise = {f"x-token-{i}": "v" * 100 for i in range(extra_headers)}
        target.unverified.add(marker)
        response = target.post(body, {**noise, name: value.strip()}, verified=False)
        assert len(response.content) < 4000, "the 401 stays small whatever was sent"
        assert marker not in target.handled

    run()
    target.assert_still_serving()


def test_hostile_token_requests() -> None:
    """The token endpoint gets its own barrage: OAuth errors only, never a 500."""
    receiver = Receiver(
        config={
            "org": {"credentials": [{"type": "oauth2", "client_id": "vapi", "client_secret": "c"}]},
            "inbox": {"enabled": False},
        }
    )
    client = TestClient(receiver.app)

    @BOUNDED
    @given(
        st.binary(max_size=200)
        | st.builds(
            lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode(),
            st.lists(st.tuples(st.text(max_size=15), st.text(max_size=15)), max_size=20),
        ),
        st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""]),
        st.sampled_from(
            ["", "Basic", "Basic ???", "Basic dmFwaTpj", "Bearer x", "Basic " + "A" * 5000]
        ),
    )
    def run(body: bytes, content_type: str, authorization: str) -> None:
        headers = {"content-type": content_type}
        if authorization:
            headers["authorization"] = authorization
        response = client.post("/oauth/token", content=body, headers=headers)
        assert response.status_code in (200, 400, 401)
        answer = response.json()
        assert "access_token" in answer or answer["error"] in {
            "invalid_request",
            "invalid_client",
            "unsupported_grant_type",
            "invalid_scope",
        }

    run()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "vapi", "client_secret": "c"},
    ).json()["access_token"]
    assert token


@pytest.mark.slow  # a real uvicorn server
def test_uvicorn_refuses_a_header_block_over_its_limit() -> None:
    """`--h11-max-incomplete-event-size` caps a header block still arriving; then it serves on."""
    receiver = Receiver(config={"org": {"secret": SECRET}, "inbox": {"enabled": False}})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        receiver.app,
        host="127.0.0.1",
        port=port,
        log_level="critical",
        h11_max_incomplete_event_size=8 * 1024,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # Header lines past the limit, never finished by the blank line.
            sock.sendall(b"POST /vapi HTTP/1.1\r\nHost: x\r\n" + b"x-pad: " + b"a" * 10_000)
            assert sock.recv(64).startswith(b"HTTP/1.1 400 ")
        envelope = make_message("status-update")
        response = httpx2.post(
            f"http://127.0.0.1:{port}/vapi",
            content=json.dumps(envelope),
            headers={"content-type": "application/json", "x-vapi-secret": SECRET},
            timeout=5,
        )
        assert response.status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
