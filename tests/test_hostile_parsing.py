"""Bodies and tool arguments built to break the decoder: half surrogate pairs, deep nesting.

The org level takes an HMAC credential, so that a body sent with a wrong signature is read
and decoded before it is refused: the decoder is what an attacker without a credential
reaches. Every answer must be the expected status, never a 500, and no tool may run on
arguments that could not be decoded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.config import DEFAULT_MAX_UNVERIFIED_PARSE_BYTES
from receiver.jsontext import MAX_JSON_DEPTH
from receiver.testing import make_message

KEY = "parsing-hmac-key"
LONE = "\\ud800"  # as it appears in JSON text: an escape of half a UTF-16 pair
DEPTHS = sorted({*range(1, 5001, 97), *range(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 4), 959, 985})


class Target:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.ran: list[object] = []
        self.last_ms = 0

    def post(self, body: bytes, *, signed: bool = True) -> Any:
        """Each post is a new delivery, signed with its own timestamp: the receiver refuses
        the same signed bytes twice."""
        self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
        now = str(self.last_ms)
        key = KEY if signed else KEY + "-wrong"
        signature = hmac.new(key.encode(), now.encode() + b"." + body, hashlib.sha256)
        headers = {"x-signature": signature.hexdigest(), "x-timestamp": now}
        response = self.client.post(
            "/vapi", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code != 500
        return response


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    inbox = Path(tmp_path_factory.mktemp("inbox")) / "inbox.sqlite3"
    credential = {"type": "hmac", "secret_key": KEY, "algorithm": "sha256"}
    receiver = Receiver(
        config={"org": {"credentials": [credential]}, "inbox": {"path": str(inbox)}}
    )
    with TestClient(receiver.app) as client:
        state = Target(client)

        @receiver.tool
        def lookup_order(order_id: object = None) -> object:
            state.ran.append(order_id)
            return order_id  # echoed: the answer and the stored result must serialise too

        @receiver.tool
        def half_pair() -> str:
            return "before \ud800 after"

        @receiver.on("assistant-request")
        def assistant(message: Any) -> dict[str, Any]:
            # A key the model does not know is passed through as is, unchecked.
            return {"error": "no assistant today", "note": "half \udc00 a pair"}

        yield state


def deep(depth: int, leaf: str) -> str:
    """JSON text of `depth` nested objects around `leaf`."""
    return '{"a":' * depth + leaf + "}" * depth


def tool_calls(arguments: str) -> bytes:
    envelope = make_message("tool-calls", tool_calls=[("lookup_order", {})])
    envelope["message"]["toolCallList"][0]["function"]["arguments"] = arguments
    return json.dumps(envelope).encode()


def function_call(parameters: str) -> bytes:
    return json.dumps(make_message("function-call", parameters=parameters)).encode()


# -- finding 4: half a surrogate pair -----------------------------------------------------


def test_a_lone_surrogate_in_tool_arguments_is_an_error_result_and_the_tool_never_runs(
    target: Target,
) -> None:
    target.ran.clear()
    for _ in range(2):  # a retry is refused the same way, not run
        response = target.post(tool_calls('{"order_id": "' + LONE + '"}'))
        assert response.status_code == 200
        (result,) = response.json()["results"]
        assert result["name"] == "lookup_order"
        assert "unpaired UTF-16 surrogate" in result["error"]
    assert target.ran == []


def test_a_lone_surrogate_in_function_call_parameters_is_refused_before_the_tool_runs(
    target: Target,
) -> None:
    target.ran.clear()
    response = target.post(function_call('{"order_id": "x' + LONE + '"}'))
    assert response.status_code == 200
    assert "unpaired UTF-16 surrogate" in response.json()["result"]
    assert target.ran == []


def test_a_surrogate_pair_in_arguments_is_a_character(target: Target) -> None:
    target.ran.clear()
    response = target.post(tool_calls('{"order_id": "\\ud83d\\ude00"}'))
    assert response.json()["results"][0]["result"] == "\N{GRINNING FACE}"
    assert target.ran == ["\N{GRINNING FACE}"]


@pytest.mark.parametrize("signed", [True, False])
def test_a_lone_surrogate_in_the_body_is_a_400_naming_it(target: Target, signed: bool) -> None:
    envelope = make_message("status-update")
    body = json.dumps(envelope).replace('"status-update"', '"status-update","x":"' + LONE + '"')
    response = target.post(body.encode(), signed=signed)
    assert response.status_code == 400
    assert "unpaired UTF-16 surrogate" in response.json()["error"]


def test_a_tool_result_with_half_a_surrogate_pair_is_sent_with_a_replacement_character(
    target: Target,
) -> None:
    envelope = make_message("tool-calls", tool_calls=[("half_pair", {})])
    for _ in range(2):  # the second answer comes from the stored result
        response = target.post(json.dumps(envelope).encode())
        assert response.status_code == 200
        assert response.json()["results"][0]["result"] == "before \ufffd after"


def test_any_answer_with_half_a_surrogate_pair_is_sent_with_a_replacement_character(
    target: Target,
) -> None:
    response = target.post(json.dumps(make_message("assistant-request")).encode())
    assert response.status_code == 200
    assert response.json() == {"error": "no assistant today", "note": "half \ufffd a pair"}


# -- finding 5: nesting -------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", [False, True])
@pytest.mark.parametrize("signed", [True, False])
def test_nesting_at_any_depth_in_the_body(target: Target, surrogate: bool, signed: bool) -> None:
    for depth in DEPTHS:
        leaf = f'"{LONE}"' if surrogate else "1"
        envelope = make_message("status-update")
        envelope["message"]["deep_value"] = "__DEEP__"  # a key no model knows, on purpose
        body = json.dumps(envelope)
        deeper = body.replace('"__DEEP__"', deep(depth, leaf)).encode()
        response = target.post(deeper, signed=signed)
        if not signed and len(deeper) > DEFAULT_MAX_UNVERIFIED_PARSE_BYTES:
            assert response.status_code == 401, depth  # refused before it is decoded
        # The envelope and `message` are two levels of their own.
        elif depth + 2 > MAX_JSON_DEPTH:
            assert response.status_code == 400, depth
            assert f"nested deeper than {MAX_JSON_DEPTH} levels" in response.json()["error"]
        elif surrogate:
            assert response.status_code == 400, depth
            assert "unpaired UTF-16 surrogate" in response.json()["error"]
        else:
            assert response.status_code == (200 if signed else 401), depth


@pytest.mark.parametrize("surrogate", [False, True])
@pytest.mark.parametrize("build", [tool_calls, function_call])
def test_nesting_at_any_depth_in_tool_arguments(
    target: Target, surrogate: bool, build: Any
) -> None:
    for depth in DEPTHS:
        target.ran.clear()
        leaf = f'"{LONE}"' if surrogate else '"A-1"'
        arguments = '{"order_id":' + deep(depth, leaf) + "}"
        unsigned = target.post(build(arguments), signed=False)
        assert unsigned.status_code == 401, depth
        response = target.post(build(arguments))
        assert response.status_code == 200, depth
        answer = response.json()
        text = answer["results"][0] if build is tool_calls else {"result": answer["result"]}
        if depth + 1 > MAX_JSON_DEPTH:
            assert f"nested deeper than {MAX_JSON_DEPTH} levels" in str(text), depth
        elif surrogate:
            assert "unpaired UTF-16 surrogate" in str(text), depth
        else:
            assert json.loads(text["result"]) == json.loads(deep(depth, leaf)), depth
            continue
        assert target.ran == [], depth
