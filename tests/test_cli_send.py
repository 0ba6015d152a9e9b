"""`vapi-receiver send`: the right credential, the answer checked as Vapi would check it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import Receiver
from receiver.cli import main
from receiver.message_types import TYPES_IN_ORDER
from tests.live_server import free_port, live_server

ORG = "org-secret-abcdefgh-0001"
TOOL = "tool-secret-abcdefgh-0002"
ASSISTANT = "assistant-secret-abcd-0003"
PHONE = "phone-secret-abcdefgh-0004"

CONFIG = f"""
[org]
secret = "{ORG}"
[tools.lookup_order]
secret = "{TOOL}"
[assistants.asst-1]
secret = "{ASSISTANT}"
[phone_numbers.pn-1]
secret = "{PHONE}"
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "vapi.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def url(config_file: Path) -> Iterator[str]:
    receiver = Receiver(config=config_file, explain_refusals=True)  # as `serve` runs it

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"status": "shipped", "order": order_id}

    @receiver.on("assistant-request")
    def pick(message: Any) -> dict[str, str]:
        return {"assistantId": "asst-1"}

    with live_server(receiver.app) as base:
        yield base + "/vapi"


def send(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["send", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tool_call_with_the_tools_own_secret(
    url: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = send(
        capsys,
        "tool-calls",
        "--url",
        url,
        "--config",
        str(config_file),
        "--tool",
        "lookup_order",
        "--args",
        '{"order_id": "A-7"}',
    )
    assert code == 0
    assert 'x-vapi-secret ****0002 (tool "lookup_order")' in out
    assert '\\"order\\": \\"A-7\\"' in out  # the answer is printed
    assert "ok: a valid tool-calls answer" in out
    assert TOOL not in out  # secrets are masked


def test_the_org_secret_is_refused_for_a_tool_with_its_own(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = send(capsys, "tool-calls", "--url", url, "--secret", ORG)
    assert code == 1
    assert "401 Unauthorized" in out
    assert "FAILED: refused with 401" in err and "tool" in err


def test_assistant_request_uses_the_phone_numbers_secret(
    url: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = send(
        capsys,
        "assistant-request",
        "--url",
        url,
        "--config",
        str(config_file),
        "--phone-number-id",
        "pn-1",
        "--customer-number",
        "+14155550100",
    )
    assert code == 0, out
    assert 'phone number "pn-1"' in out and '"assistantId": "asst-1"' in out


def test_set_and_unset_reach_the_message(
    url: str, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With the assistant id set by path, the assistant's secret wins over the org's.
    code, out, _ = send(
        capsys,
        "status-update",
        "--url",
        url,
        "--config",
        str(config_file),
        "--set",
        "call__assistant_id=asst-1",
        "--set",
        'status="ended"',
        "--unset",
        "assistant",
    )
    assert code == 0, out
    assert 'assistant "asst-1"' in out


def test_the_environment_supplies_the_secret(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAPI_SERVER_SECRET", ORG)
    code, out, _ = send(capsys, "end-of-call-report", "--url", url)
    assert code == 0
    assert "x-vapi-secret ****0001 (org level)" in out and "ok: acknowledged" in out


def test_an_unreachable_receiver_fails(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/vapi"
    code, _, err = send(capsys, "hang", "--url", url, "--secret", ORG)
    assert code == 1
    assert "unreachable: connection refused" in err


def test_list_names_every_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = send(capsys, "--list")
    assert code == 0
    listed = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(TYPES_IN_ORDER)  # the registry's types, in the doctor's order
    assert "campaign.started" in listed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tool-callz"], "did you mean 'tool-calls'"),
        (["hang", "--set", "status"], "must be PATH=VALUE"),
        (["hang", "--tool", "x"], "--tool applies to tool-calls and function-call"),
        (["hang", "--url", "localhost:8000"], "must be an http:// or https:// URL"),
        (["hang", "--config", "/nonexistent/vapi.toml"], "configuration file not found"),
        ([], "give a message TYPE"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = send(capsys, *argv)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--tool", "f", "--args", "[1]"],
        ["--tool", "f", "--args", "{nope"],
        ["--args", "{}"],
        # NaN is not JSON: the receiver would refuse these arguments, so `send` does too.
        ["--tool", "f", "--args", '{"n": NaN}'],
    ],
)
def test_bad_tool_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send", "tool-calls", *argv])
    assert exited.value.code == 2
    assert "--args" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "send", "replay"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: vapi-receiver {command}" in capsys.readouterr().out


# -- answers Vapi would not accept, from a stand-in server --------------------------------------

_ANSWER: dict[str, Any] = {}


async def _scripted(request: Request) -> Response:
    body = await request.json()
    await asyncio.sleep(_ANSWER.get("delay", 0))
    answer = _ANSWER["answer"]
    if callable(answer):
        answer = answer(body["message"])
    return Response(
        answer if isinstance(answer, bytes) else json.dumps(answer),
        status_code=_ANSWER.get("status", 200),
        media_type=_ANSWER.get("media_type", "application/json"),
        headers=_ANSWER.get("headers"),
    )


@pytest.fixture(scope="module")
def scripted_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/vapi", _scripted, methods=["POST"])])
    with live_server(app) as base:
        yield base + "/vapi"


def _result_for(message: dict[str, Any], **result: Any) -> dict[str, Any]:
    call = message["toolCallList"][0]
    return {"results": [{"toolCallId": call["id"], "name": "lookup_order", **result}]}


@pytest.mark.parametrize(
    ("kind", "script", "reason"),
    [
        ("tool-calls", {"answer": {"results": "ok"}}, "results: Input should be a valid list"),
        (
            "tool-calls",
            {"answer": {"results": [{"toolCallId": "call_other", "name": "f", "result": "1"}]}},
            "no result for toolCallId",
        ),
        (
            "tool-calls",
            {"answer": lambda m: _result_for(m, result="ok"), "status": 201},
            "Vapi ignores a tool-calls answer unless 200",
        ),
        ("assistant-request", {"answer": [1, 2]}, "must be a JSON object"),
        ("assistant-request", {"answer": b"<html>", "media_type": "text/html"}, "is not JSON"),
        ("campaign.predial", {"answer": b'{"eligible": true, "score": NaN}'}, "is not JSON"),
        ("campaign.predial", {"answer": {"eligible": "maybe"}}, "eligible"),
        ("voice-request", {"answer": {"audio": "x"}}, "raw PCM audio, not JSON"),
        (
            "voice-request",
            {"answer": b"\x00\x01\x02", "media_type": "application/octet-stream"},
            "not whole 16-bit samples",
        ),
        (
            "hang",
            {"answer": {}, "status": 307, "headers": {"location": "https://x.example/vapi"}},
            "redirected (307) to https://x.example/vapi",
        ),
        ("status-update", {"answer": {"error": "boom"}, "status": 500}, "failed with 500"),
    ],
)
def test_answers_vapi_would_not_accept_fail(
    scripted_url: str,
    kind: str,
    script: dict[str, Any],
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _ANSWER.clear()
    _ANSWER.update(script)
    code, _, err = send(capsys, kind, "--url", scripted_url, "--secret", ORG)
    assert code == 1
    assert reason in err


def test_tool_errors_and_unknown_keys_are_noted_not_failed(
    scripted_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _ANSWER.clear()
    _ANSWER["answer"] = lambda m: _result_for(m, error="No such order", reslt="typo")
    code, out, _ = send(capsys, "tool-calls", "--url", scripted_url, "--secret", ORG)
    assert code == 0
    assert "note: keys this receiver's models do not know: results[0].reslt" in out
    assert "note: tool 'lookup_order' answered an error: No such order" in out


def test_audio_is_summarised(scripted_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _ANSWER.clear()
    _ANSWER.update(answer=b"\x00\x00" * 2400, media_type="application/octet-stream")
    code, out, _ = send(capsys, "voice-request", "--url", scripted_url, "--secret", ORG)
    assert code == 0
    assert "<4800 bytes of application/octet-stream>" in out
    assert "ok: 4800 bytes of 16-bit PCM audio" in out


def test_a_slow_answer_times_out(scripted_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _ANSWER.clear()
    _ANSWER.update(answer={}, delay=1.0)
    code, _, err = send(capsys, "hang", "--url", scripted_url, "--secret", ORG, "--timeout", "0.2")
    assert code == 1
    assert "no answer within 0.2 s" in err


# -- every scheme, as Vapi presents it, through real HTTP --------------------------------------

SVIX_KEY = "c3ZpeC1zdHlsZS1rZXktMDAwMQ=="  # base64 of "svix-style-key-0001"
SCHEMES_CONFIG = f"""
[[org.credentials]]
type = "hmac"
secret_key = "org-hmac-key-0005"
algorithm = "sha256"

[tools.by_secret]
secret = "{TOOL}"

[[tools.by_bearer.credentials]]
type = "bearer"
token = "bearer-token-abcdefgh-0006"
headerName = "X-Api-Key"
bearerPrefixEnabled = false

[[tools.by_hmac.credentials]]
type = "hmac"
secret_key = "{SVIX_KEY}"
secret_is_base64 = true
algorithm = "sha512"
message_id_header = "svix-id"
payload_format = "{{svix-id}}.{{timestamp}}.{{method}}.{{url}}.{{body}}"
signature_encoding = "base64"
signature_prefix = "v1,"

[[tools.by_oauth2.credentials]]
type = "oauth2"
client_id = "vapi"
client_secret = "oauth-client-secret-0007"
url = "https://hooks.example.com/auth/token"
"""


@pytest.fixture(scope="module")
def schemes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schemes") / "vapi.toml"
    path.write_text(SCHEMES_CONFIG)
    return path


def _answering_as(name: str) -> Any:
    def tool(order_id: str = "") -> str:
        return f"{name} {order_id}"

    return tool


@pytest.fixture(scope="module")
def schemes_url(schemes_file: Path) -> Iterator[str]:
    receiver = Receiver(config=schemes_file)
    for name in ("by_secret", "by_bearer", "by_hmac", "by_oauth2"):
        receiver.add_tool(_answering_as(name), name=name)
    with live_server(receiver.app) as base:
        yield base + "/vapi"


@pytest.mark.parametrize(
    ("tool", "shown"),
    [
        ("by_secret", 'x-vapi-secret ****0002 (tool "by_secret")'),
        ("by_bearer", 'x-api-key ****0006 (tool "by_bearer")'),
        ("by_hmac", "HMAC-SHA512 signature in x-signature with timestamp in x-timestamp and "
                    'message id in svix-id (tool "by_hmac")'),
        ("by_oauth2", "OAuth2 token in Authorization for client 'vapi' (POST /auth/token)"),
    ],
)  # fmt: skip
def test_each_scheme_is_presented_as_vapi_would(
    tool: str,
    shown: str,
    schemes_url: str,
    schemes_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = send(
        capsys, "tool-calls", "--url", schemes_url, "--config", str(schemes_file),
        "--tool", tool, "--args", '{"order_id": "A-9"}',
    )  # fmt: skip
    assert code == 0, out + err
    assert shown in out
    assert f'"result": "{tool} A-9"' in out
    for secret in ("bearer-token-abcdefgh-0006", "oauth-client-secret-0007", SVIX_KEY):
        assert secret not in out


def test_an_hmac_org_signs_informational_messages(
    schemes_url: str, schemes_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = send(
        capsys, "end-of-call-report", "--url", schemes_url, "--config", str(schemes_file)
    )
    assert code == 0, out
    assert "HMAC-SHA256 signature in x-signature" in out and "ok: acknowledged" in out


def test_tools_of_several_schemes_get_a_header_each(
    schemes_url: str, schemes_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = send(
        capsys, "tool-calls", "--url", schemes_url, "--config", str(schemes_file),
        "--tool", "by_bearer", "--tool", "by_hmac", "--tool", "by_oauth2",
    )  # fmt: skip
    assert code == 0, out
    assert "x-api-key ****0006 + HMAC-SHA512" in out and "+ OAuth2 token" in out


def test_a_missing_token_endpoint_fails_with_the_reason(
    scripted_url: str, schemes_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ANSWER.clear()
    _ANSWER["answer"] = {}
    code, _, err = send(
        capsys, "tool-calls", "--url", scripted_url, "--config", str(schemes_file),
        "--tool", "by_oauth2",
    )  # fmt: skip
    assert code == 1
    assert "FAILED: the OAuth2 token request to POST /auth/token got 404" in err
