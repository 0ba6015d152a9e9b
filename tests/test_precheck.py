"""Bodies from strangers are refused before they are parsed (parsing costs ~25x the body).

Headers that no credential can accept are refused before the body is even read (see
`tests/test_preauth.py`); these are the bodies whose headers might pass, such as an HMAC
signature that only the body can disprove.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from receiver import Receiver, authentication
from receiver.config import DEFAULT_MAX_UNVERIFIED_PARSE_BYTES
from receiver.core import Outcome
from receiver.credentials import HmacCredential
from receiver.errors import ConfigError
from receiver.testing import make_message

HMAC = {
    "type": "hmac",
    "secret_key": "org-hmac-key",
    "algorithm": "sha256",
    "message_id_header": "svix-id",
}
CONFIG: dict[str, Any] = {
    "org": {"credentials": [HMAC]},
    "tools": {"refund": {"credentials": [{"type": "bearer", "token": "tool-token"}]}},
}


def make_receiver(config: dict[str, Any], **options: Any) -> Receiver:
    receiver = Receiver(config=config, **options)
    receiver.tool("refund")(lambda: "refunded")  # every [tools.X] must be a registered tool
    return receiver


def large_body(size: int = DEFAULT_MAX_UNVERIFIED_PARSE_BYTES + 1024) -> bytes:
    envelope = make_message("status-update")
    envelope["message"]["padding"] = [{}] * (size // 3)
    return json.dumps(envelope, separators=(",", ":")).encode()


def handle(receiver: Receiver, headers: dict[str, str], body: bytes) -> Outcome:
    merged = {"content-type": "application/json", **headers}
    return asyncio.run(receiver.core.handle(merged, body))


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the bodies the core parsed."""
    sizes: list[int] = []
    real = authentication.read_envelope

    def spy(body: bytes) -> dict[str, Any]:
        sizes.append(len(body))
        return real(body)

    monkeypatch.setattr(authentication, "read_envelope", spy)
    return sizes


def test_a_large_body_with_a_forged_signature_is_refused_unparsed(
    parsed: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    receiver = make_receiver(CONFIG)
    forged = {"x-signature": "00", "x-timestamp": str(int(time.time())), "svix-id": "msg_1"}
    outcome = handle(receiver, {"authorization": "Bearer wrong", **forged}, large_body())
    assert outcome.status == 401
    assert parsed == []
    assert isinstance(outcome.body, bytes)
    error = json.loads(outcome.body)["error"]
    assert (
        error
        == "no valid credential; expected a Bearer token in Authorization or an HMAC signature."
    )
    assert "is parsed, by every configured level" in caplog.text
    assert "signature does not match" in caplog.text
    assert "Auth-like headers present: authorization, svix-id, x-signature, x-timestamp" in (
        caplog.text
    )
    for value in ("wrong", "tool-token", "org-hmac-key"):
        assert value not in error and value not in caplog.text


def test_a_small_body_is_parsed_so_the_401_names_the_winning_level(
    parsed: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    receiver = make_receiver(CONFIG, explain_refusals=True)
    body = json.dumps(make_message("status-update")).encode()
    outcome = handle(receiver, {"authorization": "Bearer tool-token"}, body)
    assert outcome.status == 401 and parsed == [len(body)]
    assert isinstance(outcome.body, bytes)
    assert "no valid credential for org level" in json.loads(outcome.body)["error"]


@pytest.mark.parametrize(
    ("limit", "size", "parsed_first"), [(0, 100, False), (64, 100, False), (100_000, 50_000, True)]
)
def test_the_bound_on_unverified_parsing_is_configurable(
    parsed: list[int], limit: int, size: int, parsed_first: bool
) -> None:
    receiver = make_receiver({**CONFIG, "receiver": {"max_unverified_parse_bytes": limit}})
    forged = {"x-signature": "00", "x-timestamp": str(int(time.time())), "svix-id": "msg_1"}
    body = large_body(size)
    assert handle(receiver, forged, body).status == 401
    assert parsed == ([len(body)] if parsed_first else [])


def test_a_large_signed_body_is_accepted_once_and_its_replay_refused(parsed: list[int]) -> None:
    """The pre-check must not record the message id, or the real check calls it a replay."""
    receiver = make_receiver(CONFIG, explain_refusals=True)
    signer = HmacCredential(
        secret_key="org-hmac-key", algorithm="sha256", message_id_header="svix-id"
    )
    body = large_body()
    headers = signer.sign(body)
    assert handle(receiver, headers, body).status == 200
    replay = handle(receiver, headers, body)
    assert replay.status == 401
    assert isinstance(replay.body, bytes)
    assert "signed request already seen (a replay)" in json.loads(replay.body)["error"]


def test_a_large_body_valid_for_another_level_gets_the_detailed_401(parsed: list[int]) -> None:
    """The pre-check only filters strangers; the winning level still decides."""
    receiver = make_receiver(CONFIG, explain_refusals=True)
    body = large_body()
    outcome = handle(receiver, {"authorization": "Bearer tool-token"}, body)
    assert outcome.status == 401 and parsed == [len(body)]
    assert isinstance(outcome.body, bytes)
    assert "no valid credential for org level" in json.loads(outcome.body)["error"]


def test_insecure_mode_parses_large_bodies_without_a_credential(parsed: list[int]) -> None:
    receiver = Receiver(config={"receiver": {"insecure": True}})
    assert handle(receiver, {}, large_body()).status == 200
    assert len(parsed) == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [(-1, "must not be negative"), (True, "must be an integer"), ("32k", "must be an integer")],
)
def test_a_bad_bound_is_a_start_up_error(value: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"max_unverified_parse_bytes.? {problem}"):
        Receiver(config={**CONFIG, "receiver": {"max_unverified_parse_bytes": value}})
