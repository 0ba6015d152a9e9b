"""`authenticate`, the sans-I/O way in for people who keep their own web framework.

It runs the same sequence as the receiver's endpoint (which calls it), so every refusal
here has the status and the public wording the receiver itself answers with.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver import RequestError, Verified, authenticate, authentication
from receiver.config import ReceiverConfig, config_from_mapping
from receiver.credentials import HmacCredential
from receiver.errors import BadRequest, Unauthorized
from receiver.testing import make_message
from tests.conftest import SECRET

ASSISTANT_SECRET = "assistant-secret-" + "a" * 24
TOOL_TOKEN = "tool-token-" + "t" * 24
CONFIG = config_from_mapping(
    {
        "org": {"secret": SECRET},
        "assistants": {"asst-1": {"secret": ASSISTANT_SECRET}},
        # No registry here: `refund` is trusted as written (see `authenticate`).
        "tools": {"refund": {"credentials": [{"type": "bearer", "token": TOOL_TOKEN}]}},
        "receiver": {"max_tool_calls": 3, "max_unverified_parse_bytes": 4096},
    }
)
JSON_TYPE = {"content-type": "application/json"}


HMAC_KEY = "org-hmac-key-" + "k" * 20
SIGNER = HmacCredential(secret_key=HMAC_KEY, algorithm="sha256", message_id_header="svix-id")


def hmac_config(**receiver: Any) -> ReceiverConfig:
    hmac = {
        "type": "hmac",
        "secret_key": HMAC_KEY,
        "algorithm": "sha256",
        "message_id_header": "svix-id",
    }
    return config_from_mapping({"org": {"credentials": [hmac]}, "receiver": receiver})


def body_of(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def refused(headers: Any, body: bytes, config: ReceiverConfig = CONFIG) -> RequestError:
    with pytest.raises(RequestError) as caught:
        authenticate(headers, body, config)
    return caught.value


def view(headers: Any, body: bytes, url: str) -> tuple[dict[str, Any], int]:
    """The documented Flask view, without Flask: what it answers for one request."""
    try:
        verified = authenticate(headers, body, CONFIG, method="POST", url=url)
    except RequestError as error:
        return {"error": error.answer}, error.status
    if verified.type == "status-update":
        return {}, 200
    return {"error": f"{verified.type} is not handled here"}, 200


# -- accepted --------------------------------------------------------------------------------


def test_returns_the_verified_message_and_its_winning_level() -> None:
    envelope = make_message("status-update", call_id="call-1")
    verified = authenticate({**JSON_TYPE, "x-vapi-secret": SECRET}, body_of(envelope), CONFIG)
    assert isinstance(verified, Verified)
    assert verified.message == envelope["message"]
    assert verified.type == "status-update"
    assert [(level.kind, level.key) for level in verified.levels] == [("org", "")]


def test_the_assistant_level_wins_and_only_its_credential_is_accepted() -> None:
    body = body_of(
        make_message("status-update", call__assistant_id="asst-1", assistant__id="asst-1")
    )
    verified = authenticate({"x-vapi-secret": ASSISTANT_SECRET}, body, CONFIG)
    assert [(level.kind, level.key) for level in verified.levels] == [("assistant", "asst-1")]
    error = refused({"x-vapi-secret": SECRET}, body)  # the org's secret is not the winner's
    assert isinstance(error, Unauthorized)
    assert "asst-1" in error.message, "the log gets the full explanation"
    assert "asst-1" not in error.answer, "the answer names no configured key"


def test_a_tools_table_is_trusted_without_a_registry() -> None:
    body = body_of(make_message("tool-calls", tool_name="refund", arguments={}))
    verified = authenticate({"authorization": f"Bearer {TOOL_TOKEN}"}, body, CONFIG)
    assert [(level.kind, level.key) for level in verified.levels] == [("tool", "refund")]
    assert refused({"x-vapi-secret": SECRET}, body).status == 401


def test_insecure_mode_accepts_without_a_credential_and_names_no_level() -> None:
    config = config_from_mapping({"receiver": {"insecure": True}})
    verified = authenticate({}, body_of(make_message("status-update")), config)
    assert verified.levels == ()


def test_the_documented_view_answers_as_the_receiver_does() -> None:
    ok = body_of(make_message("status-update"))
    assert view({"x-vapi-secret": SECRET}, ok, "https://example.com/vapi") == ({}, 200)
    answer, status = view({"x-vapi-secret": "wrong"}, ok, "https://example.com/vapi")
    assert status == 401
    expected = "expected a Bearer token in Authorization or the x-vapi-secret header."
    assert answer == {"error": f"no valid credential; {expected}"}
    assert view({"x-vapi-secret": SECRET}, b"[]", "")[1] == 400


# -- every refusal ---------------------------------------------------------------------------

GOOD = {"x-vapi-secret": SECRET}
REFUSALS: list[tuple[str, Any, bytes, type[RequestError], str]] = [
    (
        "duplicate credential header",
        [("x-vapi-secret", SECRET), ("X-Vapi-Secret", SECRET)],
        body_of(make_message("status-update")),
        Unauthorized,
        "duplicate x-vapi-secret header",
    ),
    (
        "a stranger, screened on headers",
        {"x-vapi-secret": "wrong"},
        body_of(make_message("status-update")),
        Unauthorized,
        "no valid credential",
    ),
    ("not UTF-8", GOOD, b'{"message": "\xff"}', BadRequest, "not valid UTF-8 (byte 13)"),
    ("not JSON", GOOD, b"{", BadRequest, "body is not valid JSON"),
    ("not an object", GOOD, b"[]", BadRequest, "must be a JSON object, not an array"),
    ("no message", GOOD, b"{}", BadRequest, 'must have a "message" object (missing)'),
    ("no type", GOOD, b'{"message": {}}', BadRequest, '"message.type" must be a non-empty'),
    (
        "too many tool calls",
        GOOD,
        body_of(make_message("tool-calls", tool_calls=["x"] * 4)),
        BadRequest,
        "carries 4 tool calls; this receiver accepts at most 3",
    ),
    (
        "ids that disagree",
        GOOD,
        body_of(
            make_message("status-update", call__assistant_id="asst-1", assistant__id="asst-other")
        ),
        Unauthorized,
        "no valid credential",
    ),
    (
        "wrong credential for the winning level",
        GOOD,
        body_of(make_message("status-update", call__assistant_id="asst-1")),
        Unauthorized,
        "no valid credential",
    ),
]


@pytest.mark.parametrize(
    ("headers", "body", "kind", "answer"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_every_refusal_raises_the_request_error_with_its_status(
    headers: Any, body: bytes, kind: type[RequestError], answer: str
) -> None:
    if isinstance(headers, list):
        headers = _MultiHeaders(headers)
    error = refused(headers, body)
    assert type(error) is kind
    assert error.status == {BadRequest: 400, Unauthorized: 401}[kind]
    assert answer in error.answer


def test_no_winning_level_is_refused() -> None:
    config = config_from_mapping({"assistants": {"asst-1": {"secret": ASSISTANT_SECRET}}})
    body = body_of(
        make_message("status-update", call__assistant_id="asst-2", assistant__id="asst-2")
    )
    error = refused({"x-vapi-secret": ASSISTANT_SECRET}, body, config)
    assert error.status == 401
    assert "no configured level applies" in error.message


def test_a_large_body_with_a_forged_signature_is_refused_before_it_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[int] = []
    real = authentication.read_envelope
    monkeypatch.setattr(authentication, "read_envelope", lambda b: parsed.append(len(b)) or real(b))
    config = hmac_config(max_unverified_parse_bytes=16384)
    envelope = make_message("status-update")
    envelope["message"]["padding"] = "x" * 32768
    body = body_of(envelope)
    forged = SIGNER.sign(body + b" ")  # headers that pass the screen, a signature that does not
    error = refused(forged, body, config)
    assert error.status == 401
    assert parsed == []
    small = body_of(make_message("status-update"))
    refused(SIGNER.sign(small + b" "), small, config)
    assert parsed == [len(small)], "a small body is parsed, to find the level that explains"


def test_the_same_hmac_request_is_refused_the_second_time() -> None:
    config = hmac_config()
    body = body_of(make_message("status-update"))
    headers = SIGNER.sign(body)
    assert authenticate(headers, body, config).type == "status-update"
    error = refused(headers, body, config)
    assert error.status == 401, "the replay state lives in the config's credential objects"


class _MultiHeaders(dict[str, str]):
    """Headers whose `items()` repeats a name, as Starlette's do."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def items(self) -> Any:
        return list(self._pairs)
