"""Large bodies from strangers are refused before they are parsed (parsing costs ~25x)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from receiver import Receiver
from receiver import core as core_module
from receiver.core import PRECHECK_BYTES, Outcome
from receiver.credentials import HmacCredential
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


def large_body(size: int = PRECHECK_BYTES + 1024) -> bytes:
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
    real = core_module.read_envelope

    def spy(body: bytes) -> dict[str, Any]:
        sizes.append(len(body))
        return real(body)

    monkeypatch.setattr(core_module, "read_envelope", spy)
    return sizes


def test_a_large_body_without_any_valid_credential_is_refused_unparsed(
    parsed: list[int],
) -> None:
    receiver = Receiver(config=CONFIG)
    outcome = handle(receiver, {"authorization": "Bearer wrong", "x-signature": "00"}, large_body())
    assert outcome.status == 401
    assert parsed == []
    assert isinstance(outcome.body, bytes)
    error = json.loads(outcome.body)["error"]
    assert "before it is read" in error
    assert "Bearer token in authorization" in error and "x-signature" in error
    assert "Auth-like headers present: authorization, x-signature" in error
    assert "wrong" not in error and "tool-token" not in error and "org-hmac-key" not in error


def test_a_small_body_keeps_the_401_that_names_the_winning_level(parsed: list[int]) -> None:
    receiver = Receiver(config=CONFIG)
    body = json.dumps(make_message("status-update")).encode()
    outcome = handle(receiver, {"authorization": "Bearer wrong"}, body)
    assert outcome.status == 401 and parsed == [len(body)]
    assert isinstance(outcome.body, bytes)
    assert "no valid credential for org level" in json.loads(outcome.body)["error"]


def test_a_large_signed_body_is_accepted_once_and_its_replay_refused(parsed: list[int]) -> None:
    """The pre-check must not record the message id, or the real check calls it a replay."""
    receiver = Receiver(config=CONFIG)
    signer = HmacCredential(
        secret_key="org-hmac-key", algorithm="sha256", message_id_header="svix-id"
    )
    body = large_body()
    headers = signer.sign(body)
    assert handle(receiver, headers, body).status == 200
    replay = handle(receiver, headers, body)
    assert replay.status == 401
    assert isinstance(replay.body, bytes)
    assert "svix-id already seen (a replay)" in json.loads(replay.body)["error"]


def test_a_large_body_valid_for_another_level_gets_the_detailed_401(parsed: list[int]) -> None:
    """The pre-check only filters strangers; the winning level still decides."""
    receiver = Receiver(config=CONFIG)
    body = large_body()
    outcome = handle(receiver, {"authorization": "Bearer tool-token"}, body)
    assert outcome.status == 401 and parsed == [len(body)]
    assert isinstance(outcome.body, bytes)
    assert "no valid credential for org level" in json.loads(outcome.body)["error"]


def test_insecure_mode_parses_large_bodies_without_a_credential(parsed: list[int]) -> None:
    receiver = Receiver(config={"receiver": {"insecure": True}})
    assert handle(receiver, {}, large_body()).status == 200
    assert len(parsed) == 1
