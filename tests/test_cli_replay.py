"""`vapi-receiver replay`: recorded and captured deliveries posted again, each one checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver import Receiver
from receiver.cli import main
from receiver.testing import VapiTestClient, make_message
from tests.live_server import live_server

ORG = "org-secret-replay-0001"
TOOL = "tool-secret-replay-0002"
CONFIG = {"org": {"secret": ORG}, "tools": {"lookup_order": {"secret": TOOL}}}


def make_receiver(record_to: Path | None = None) -> Receiver:
    receiver = Receiver(config=CONFIG, record_to=record_to)

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"status": "shipped"}

    return receiver


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A live receiver that itself records what it is sent, to compare with the original."""
    received = tmp_path / "received.jsonl"
    with live_server(make_receiver(record_to=received).app) as base:
        yield base + "/vapi", received


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "vapi.toml"
    path.write_text(f'[org]\nsecret = "{ORG}"\n[tools.lookup_order]\nsecret = "{TOOL}"\n')
    return path


def replay(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def bodies(path: Path) -> list[str]:
    return [json.loads(line)["body"] for line in path.read_bytes().split(b"\n") if line]


def test_a_recording_is_replayed_byte_for_byte(
    tmp_path: Path,
    target: tuple[str, Path],
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recording = tmp_path / "recorded.jsonl"
    with VapiTestClient(make_receiver(record_to=recording)) as client:
        client.tool_call("lookup_order", order_id="A-1")
        client.send("status-update", status="ended")
        client.send("end-of-call-report", minutes=3)
    url, received = target
    code, out, _ = replay(capsys, str(recording), "--url", url, "--config", str(config_file))
    assert code == 0, out
    assert bodies(received) == bodies(recording)
    lines = out.splitlines()
    assert "line 1" in lines[0] and "tool-calls" in lines[0] and "ok: a valid" in lines[0]
    assert "end-of-call-report" in lines[2] and "ok: acknowledged" in lines[2]
    assert lines[-1] == f"replayed 3 deliveries to {url}: 3 ok, 0 failed"


@pytest.mark.parametrize("form", ["one envelope", "a list", "json lines"])
def test_captured_envelopes_in_any_form(
    form: str,
    tmp_path: Path,
    target: tuple[str, Path],
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envelopes = [make_message("hang"), make_message("tool-calls")]
    path = tmp_path / "captured.json"
    if form == "one envelope":
        envelopes = envelopes[:1]
        path.write_text(json.dumps(envelopes[0], indent=2))
    elif form == "a list":
        path.write_text(json.dumps(envelopes, indent=2))
    else:
        path.write_text("\n".join(json.dumps(e) for e in envelopes) + "\n\n")
    url, received = target
    code, out, _ = replay(capsys, str(path), "--url", url, "--config", str(config_file))
    assert code == 0, out
    assert [json.loads(b) for b in bodies(received)] == envelopes
    assert f"{len(envelopes)} ok, 0 failed" in out


def test_any_failure_makes_the_exit_code_1(
    tmp_path: Path, target: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "captured.jsonl"
    messages = [make_message("hang"), make_message("tool-calls"), {"message": {"no": "type"}}]
    path.write_text("\n".join(json.dumps(m) for m in messages))
    url, _ = target
    code, out, _ = replay(capsys, str(path), "--url", url, "--secret", ORG)
    assert code == 1
    lines = out.splitlines()
    assert "ok: acknowledged" in lines[0]
    assert "FAILED: refused with 401" in lines[1]  # the tool has its own secret
    assert "(not an envelope)" in lines[2] and "FAILED: failed with 400" in lines[2]
    assert lines[-1].endswith("1 ok, 2 failed")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"message": {"type": "hang"}}\n{oops\n', "line 2 is not JSON"),
        ('{"type": "hang"}', "neither an envelope"),
        ("[]", "no deliveries"),
        ("", "no deliveries"),
    ],
)
def test_unreadable_files_are_usage_errors(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    code, out, err = replay(capsys, str(path), "--secret", ORG)
    assert code == 2
    assert message in err and not out


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = replay(capsys, str(tmp_path / "none.jsonl"))
    assert code == 2 and "No such file" in err


def test_recorded_headers_are_sent_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, Any]] = []
    receiver = make_receiver()

    @receiver.on("hang")
    def hang(message: Any) -> None:
        seen.append(message.raw)

    line = {
        "received_at": "2025-01-01T00:00:00Z",
        "headers": {"x-tenant": "acme", "host": "old.example", "content-length": "999"},
        "body": json.dumps(make_message("hang")),
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(line) + "\n")
    captured: list[dict[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            captured.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await receiver.app(scope, receive, send)

    with live_server(app) as base:
        code, out, _ = replay(capsys, str(path), "--url", base + "/vapi", "--secret", ORG)
    assert code == 0, out
    assert captured[0]["x-tenant"] == "acme"
    assert captured[0]["host"].startswith("127.0.0.1")
    assert len(seen) == 1


def test_a_line_separator_inside_a_body_does_not_split_the_line(
    tmp_path: Path, target: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = make_message("transcript", transcript="first\u2028second")
    line = {
        "received_at": "2025-01-01T00:00:00Z",
        "headers": {},
        "body": json.dumps(envelope, ensure_ascii=False),
    }
    path = tmp_path / "recorded.jsonl"
    second = json.dumps(make_message("hang"))  # two lines, so the file is read as JSON Lines
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n" + second, encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    url, received = target
    code, out, _ = replay(capsys, str(path), "--url", url, "--secret", ORG)
    assert code == 0, out
    assert bodies(received) == [line["body"], second]


# -- HMAC and OAuth2 levels ----------------------------------------------------------------------

SIGNED = {
    "org": {
        "credentials": [
            {"type": "hmac", "secret_key": "org-hmac-replay", "algorithm": "sha256",
             "message_id_header": "svix-id"}
        ]
    },
    "tools": {
        "lookup_order": {
            "credentials": [
                {"type": "oauth2", "client_id": "vapi", "client_secret": "oauth-replay-0003"}
            ]
        }
    },
}  # fmt: skip
SIGNED_TOML = """
[[org.credentials]]
type = "hmac"
secret_key = "org-hmac-replay"
algorithm = "sha256"
message_id_header = "svix-id"

[[tools.lookup_order.credentials]]
type = "oauth2"
client_id = "vapi"
client_secret = "oauth-replay-0003"
"""


def test_signed_deliveries_are_signed_afresh_and_keep_their_message_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "recorded.jsonl"
    original = Receiver(config=SIGNED, record_to=recording)
    original.add_tool(lambda order_id: "shipped", name="lookup_order")
    with VapiTestClient(original) as client:
        for order in ("A-1", "A-2"):
            assert client.tool_call("lookup_order", order_id=order) == "shipped"
        assert client.send("status-update", status="ended").status_code == 200
    recorded = [json.loads(line)["headers"] for line in recording.read_text().splitlines()]
    config_file = tmp_path / "vapi.toml"
    config_file.write_text(SIGNED_TOML)
    target = Receiver(config=SIGNED)
    target.add_tool(lambda order_id: "shipped", name="lookup_order")
    seen: list[tuple[str, dict[str, str]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            seen.append((scope["path"], headers))
        await target.app(scope, receive, send)

    with live_server(app) as base:
        url = base + "/vapi"
        code, out, _ = replay(capsys, str(recording), "--url", url, "--config", str(config_file))
    assert code == 0, out
    assert out.splitlines()[-1] == f"replayed 3 deliveries to {url}: 3 ok, 0 failed"
    # One token for the whole run, fetched from the token endpoint at --url's origin.
    assert [path for path, _ in seen] == ["/oauth/token", "/vapi", "/vapi", "/vapi"]
    status_update = seen[-1][1]
    assert status_update["svix-id"] == recorded[-1]["svix-id"]  # kept, as in a Vapi retry
    assert status_update["x-signature"]  # signed again, with the replay's own timestamp
    assert int(status_update["x-timestamp"]) > int(recorded[-1]["x-timestamp"])
