"""Work before authentication is bounded, refusals are quiet, logs cannot be forged.

- A request whose headers no configured credential can accept is refused before its body
  is read: a stranger's 30 MB costs nothing (`ReceiverCore.screen`).
- A 401 names only the schemes accepted; the full explanation goes to the log, and to the
  answer only when `explain_refusals` is on.
- Two values of a credential header are refused: proxies and frameworks disagree on which
  one counts.
- A payload cannot add a line to the log.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.authentication import screen
from receiver.credentials import HmacCredential, OAuth2Credential
from receiver.errors import Unauthorized
from receiver.log import LOGGER_NAME
from receiver.testing import make_message
from tests.live_server import live_server
from tests.served import handle_served

SECRET = "org-secret-value"
JSON_TYPE = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    receiver = Receiver(
        config={"org": {"secret": SECRET}, "receiver": {"max_body_bytes": 64 * 1024 * 1024}}
    )
    with live_server(receiver.app) as base:
        yield base + "/vapi"


# -- a stranger's body is never read ---------------------------------------------------------


def answer_while_sending(url: str, headers: dict[str, str], declared: int) -> bytes:
    """The server's answer to a request declaring `declared` bytes of which 64 KiB are sent."""
    parts = urlsplit(url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head += f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"{" + b" " * 65535)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)  # times out (an error) if the server waits for the body
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_large_body_without_a_credential_is_refused_before_it_is_read(url: str) -> None:
    started = time.monotonic()
    answer = answer_while_sending(url, {}, declared=30_000_000)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert time.monotonic() - started < 5
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"].startswith("no valid credential; expected the x-vapi-secret header.")


def test_a_large_body_with_a_wrong_secret_is_refused_before_it_is_read(url: str) -> None:
    answer = answer_while_sending(url, {"x-vapi-secret": "wrong"}, declared=30_000_000)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


NOW = time.time()
HMAC_PLAN = {"type": "hmac", "secret_key": "hmac-key", "algorithm": "sha256"}
SCREEN_CONFIG: dict[str, Any] = {
    "org": {"secret": SECRET},
    "tools": {"refund": {"credentials": [{"type": "bearer", "token": "tool-token"}]}},
    "assistants": {"asst-1": {"credentials": [HMAC_PLAN]}},
}
SCREEN_CASES: list[tuple[str, dict[str, str], bool]] = [
    ("nothing", {}, False),
    ("wrong secret", {"x-vapi-secret": "wrong"}, False),
    ("org secret", {"x-vapi-secret": SECRET}, True),
    ("secret of another case", {"X-Vapi-Secret": SECRET}, True),
    (
        "a tool's Bearer token: the level is not known yet",
        {"authorization": "Bearer tool-token"},
        True,
    ),
    ("wrong Bearer token", {"authorization": "Bearer other"}, False),
    ("HMAC signature without its timestamp", {"x-signature": "00"}, False),
    ("HMAC timestamp without its signature", {"x-timestamp": str(int(NOW))}, False),
    (
        "HMAC with a stale timestamp",
        {"x-signature": "00", "x-timestamp": str(int(NOW) - 600)},
        False,
    ),
    (
        "HMAC headers: only the body can tell",
        {"x-signature": "00", "x-timestamp": str(int(NOW))},
        True,
    ),
]


@pytest.mark.parametrize(
    ("headers", "passes"), [case[1:] for case in SCREEN_CASES], ids=[c[0] for c in SCREEN_CASES]
)
def test_the_screen_decides_on_headers_what_headers_can_decide(
    headers: dict[str, str], passes: bool
) -> None:
    config = Receiver(config=SCREEN_CONFIG).config
    if passes:
        assert screen(headers, config) == {name.lower(): value for name, value in headers.items()}
    else:
        with pytest.raises(Unauthorized, match="refused before the body is read"):
            screen(headers, config)


def test_the_screen_accepts_an_oauth2_token_it_issued_and_nothing_else() -> None:
    credential = OAuth2Credential(client_id="vapi", client_secret="client-secret")
    config = Receiver(config={"org": {"credentials": [{"type": "oauth2", **CLIENT}]}}).config
    assert screen(credential.headers_for(credential.issue()), config)
    with pytest.raises(Unauthorized):
        screen({"authorization": "Bearer forged"}, config)


CLIENT = {"client_id": "vapi", "client_secret": "client-secret"}


def test_a_signed_delivery_passes_the_screen_and_the_check() -> None:
    receiver = Receiver(config=SCREEN_CONFIG)
    receiver.tool("refund")(lambda: "refunded")
    body = json.dumps(make_message("status-update", assistant_id="asst-1")).encode()
    signer = HmacCredential(secret_key="hmac-key", algorithm="sha256")
    outcome = asyncio.run(receiver.handle({**JSON_TYPE, **signer.sign(body)}, body))
    assert outcome.status == 200


# -- quiet refusals --------------------------------------------------------------------------

HIDDEN = {
    "tool": "lookup_order",
    "assistant": "asst-hidden-7",
    "phone": "pn-hidden-8",
    "org id": "org-hidden-9",
    "client id": "client-hidden",
    "token path": "/hidden/token",
    "bearer header": "x-hidden-key",
    "signature header": "x-hidden-signature",
    "timestamp header": "x-hidden-time",
}
QUIET_CONFIG: dict[str, Any] = {
    "tools": {
        HIDDEN["tool"]: {
            "credentials": [
                {"type": "bearer", "token": "tool-token", "header_name": HIDDEN["bearer header"]}
            ]
        }
    },
    "assistants": {
        HIDDEN["assistant"]: {
            "credentials": [
                {
                    **HMAC_PLAN,
                    "signature_header": HIDDEN["signature header"],
                    "timestamp_header": HIDDEN["timestamp header"],
                }
            ]
        }
    },
    "phone_numbers": {HIDDEN["phone"]: {"secret": "phone-secret"}},
    "orgs": {
        HIDDEN["org id"]: {
            "credentials": [
                {
                    "type": "oauth2",
                    "client_id": HIDDEN["client id"],
                    "client_secret": "client-secret",
                    "url": "https://example.com" + HIDDEN["token path"],
                }
            ]
        }
    },
}
EXPECTED = (
    "no valid credential; expected a Bearer token in a header or an HMAC signature or an "
    "OAuth2 token in Authorization or the x-vapi-secret header."
)
REFUSED: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        "tool-calls with a wrong token",
        make_message(
            "tool-calls",
            tool_calls=[(HIDDEN["tool"], {})],
            assistant_id=HIDDEN["assistant"],
            phone_number_id=HIDDEN["phone"],
            org_id=HIDDEN["org id"],
        ),
        {HIDDEN["bearer header"]: "Bearer wrong"},
    ),
    (
        "assistant event with a forged signature",
        make_message("status-update", assistant_id=HIDDEN["assistant"]),
        {HIDDEN["signature header"]: "00", HIDDEN["timestamp header"]: str(int(NOW))},
    ),
    (
        "phone number event with a wrong secret",
        make_message("status-update", phone_number_id=HIDDEN["phone"]),
        {"x-vapi-secret": "wrong"},
    ),
    (
        "org event with a forged token",
        make_message("status-update", org_id=HIDDEN["org id"]),
        {"authorization": "Bearer forged"},
    ),
    ("nothing sent", make_message("assistant-request", phone_number_id=HIDDEN["phone"]), {}),
]


@pytest.fixture(scope="module")
def quiet() -> TestClient:
    receiver = Receiver(config=QUIET_CONFIG)

    @receiver.tool
    def lookup_order() -> str:
        return "shipped"

    return TestClient(receiver.app)


@pytest.mark.parametrize(
    ("envelope", "headers"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_a_401_names_no_configured_key(
    quiet: TestClient,
    caplog: pytest.LogCaptureFixture,
    envelope: dict[str, Any],
    headers: dict[str, str],
) -> None:
    response = quiet.post("/vapi", content=json.dumps(envelope), headers={**JSON_TYPE, **headers})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error.startswith(EXPECTED)
    for key in HIDDEN.values():
        assert key not in error
    assert "refused with 401" in caplog.text and "no valid credential for" in caplog.text


def test_the_log_explains_what_the_answer_withholds(
    quiet: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    _, envelope, headers = REFUSED[0]
    quiet.post("/vapi", content=json.dumps(envelope), headers={**JSON_TYPE, **headers})
    assert f'no valid credential for tool "{HIDDEN["tool"]}"' in caplog.text
    assert f"Bearer token in {HIDDEN['bearer header']}: does not match" in caplog.text
    assert "tool-token" not in caplog.text and "wrong" not in caplog.text


def test_explain_refusals_from_the_configuration_file(tmp_path: Any) -> None:
    path = tmp_path / "vapi.toml"
    path.write_text(f'[org]\nsecret = "{SECRET}"\n[receiver]\nexplain_refusals = true\n')
    client = TestClient(Receiver(config=path).app)
    body = json.dumps(make_message("status-update"))
    error = client.post("/vapi", content=body, headers=JSON_TYPE).json()["error"]
    assert "no valid credential for org level; expected x-vapi-secret header: missing" in error
    explained = Receiver(config=path, explain_refusals=False).core
    assert not explained.explain_refusals, "the keyword overrides the file"


# -- duplicate credential headers ------------------------------------------------------------

DUPLICATES: list[tuple[str, list[tuple[str, str]], str]] = [
    (
        "valid secret first",
        [("x-vapi-secret", SECRET), ("x-vapi-secret", "wrong")],
        "x-vapi-secret",
    ),
    ("valid secret last", [("x-vapi-secret", "wrong"), ("x-vapi-secret", SECRET)], "x-vapi-secret"),
    (
        "same secret twice, names in different case",
        [("X-Vapi-Secret", SECRET), ("x-vapi-secret", SECRET)],
        "x-vapi-secret",
    ),
    (
        "authorization twice, though no credential reads it",
        [("x-vapi-secret", SECRET), ("Authorization", "Bearer a"), ("authorization", "Bearer b")],
        "authorization",
    ),
]


@pytest.mark.parametrize(
    ("headers", "name"), [case[1:] for case in DUPLICATES], ids=[c[0] for c in DUPLICATES]
)
def test_duplicate_credential_headers_are_refused_over_http(
    url: str, headers: list[tuple[str, str]], name: str
) -> None:
    body = json.dumps(make_message("status-update"))
    response = httpx2.post(
        url, content=body, headers=[("content-type", "application/json"), *headers]
    )
    assert response.status_code == 401
    assert response.json() == {"error": f"duplicate {name} header"}


def test_other_headers_may_repeat(url: str) -> None:
    body = json.dumps(make_message("status-update"))
    headers = [*JSON_TYPE.items(), ("x-vapi-secret", SECRET), ("x-tenant", "a"), ("x-tenant", "b")]
    assert httpx2.post(url, content=body, headers=headers).status_code == 200


def test_a_configured_header_may_not_repeat_and_handle_sees_case_duplicates() -> None:
    receiver = Receiver(config=QUIET_CONFIG)
    receiver.tool(HIDDEN["tool"])(lambda: "shipped")
    body = json.dumps(make_message("status-update")).encode()
    name = HIDDEN["signature header"]
    headers = {**JSON_TYPE, name: "00", name.upper(): "00"}
    outcome = asyncio.run(receiver.handle(headers, body))
    assert outcome.status == 401 and outcome.body == json.dumps(
        {"error": f"duplicate {name} header"}
    ).encode().replace(b": ", b":")


# -- no payload writes a log line ------------------------------------------------------------

FORGED = "\n2026-01-01 INFO vapi_receiver: answered 200 (forged)"
HOSTILE = [
    FORGED,
    "\r" + FORGED,
    "\u2028forged line separator",
    "\x1b[2K\x1b[1Gterminal rewrite",
    "tab\tand nul\x00",
]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record of the receiver's logger, formatted as a deployment would (with the
    fields of `extra`), tracebacks included."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_no_payload_adds_a_log_line(log_lines: io.StringIO) -> None:
    receiver = Receiver(config={"org": {"secret": SECRET}})
    fields: list[str] = []

    @receiver.tool
    def lookup_order(order_id: str) -> str:
        raise ValueError(f"no order {order_id}")

    @receiver.on("status-update")
    def fail(message: Any, call: Any) -> None:
        raise RuntimeError(f"cannot handle {call.id}")

    templates: list[str] = []

    class Fields(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            fields.extend(str(getattr(record, key, "")) for key in ("call_id", "message_type"))
            templates.append(str(record.msg))

    logging.getLogger(LOGGER_NAME).addHandler(collector := Fields())
    try:
        for text in HOSTILE:
            for envelope, secret in deliveries(text):
                body = json.dumps(envelope).encode()
                headers = {**JSON_TYPE, "x-vapi-secret": secret}
                handle_served(receiver, headers, body)
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(collector)
    output = log_lines.getvalue()
    lines = output.splitlines()  # splits on \r, \u2028 and the other line breaks too
    for expected in ("no order", "unknown tool", "cannot handle", "refused", "unknown message"):
        assert any(expected in line for line in lines), expected
    for line in lines:  # each line starts a record or belongs to a traceback
        assert not line or line.startswith(RECORD_OR_TRACEBACK), line
    assert "\x1b" not in output and "\x00" not in output and "\t" not in output
    assert all(value.isprintable() for value in fields)
    assert "unknown tool %r (registered: %s) %s" in templates, "log services group by template"


RECORD_OR_TRACEBACK = (
    *(f"{level} " for level in ("DEBUG", "INFO", "WARNING", "ERROR")),
    "Traceback (most recent call last):",
    "  ",
    "ValueError: no order ",
    "RuntimeError: cannot handle ",
)


def deliveries(text: str) -> list[tuple[dict[str, Any], str]]:
    """Messages carrying `text` where the receiver logs it, and the secret to send."""
    return [
        (
            make_message(
                "tool-calls", tool_calls=[("lookup_order", {"order_id": text})], call__id=text
            ),
            SECRET,
        ),
        (make_message("tool-calls", tool_calls=[(f"x{text}", {})]), SECRET),
        (make_message("status-update", call__id=text), SECRET),
        (make_message("status-update", call__id=text), "wrong"),
        ({"message": {"type": f"unknown{text}", "call": {"id": text}}}, SECRET),
    ]


def test_the_example_apps_own_log_lines_cannot_be_forged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The example's handlers log `call.id` and the status: its logger escapes them too."""
    monkeypatch.setenv("VAPI_SERVER_SECRET", SECRET)
    monkeypatch.setenv("VAPI_INBOX_PATH", str(tmp_path / "inbox.sqlite3"))
    monkeypatch.delitem(sys.modules, "example_app", raising=False)
    example_app = importlib.import_module("example_app")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    example_logger = logging.getLogger("example_app")
    example_logger.addHandler(handler)
    previous = example_logger.level
    example_logger.setLevel(logging.INFO)
    message = make_message("status-update", status="ended", call__id="c1" + FORGED)
    try:
        with TestClient(example_app.app) as client:
            answer = client.post("/vapi", json=message, headers={"x-vapi-secret": SECRET})
    finally:
        example_logger.removeHandler(handler)
        example_logger.setLevel(previous)
    assert answer.status_code == 200
    assert "c1\\x0a2026-01-01" in stream.getvalue()
    assert len(stream.getvalue().splitlines()) == 1
