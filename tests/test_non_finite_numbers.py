"""Numbers JSON cannot carry (infinity, NaN) never reach a tool nor an answer.

`1e400` is valid JSON text but beyond a float's range: decoded as is it becomes `inf`, which
`json.dumps` writes back as `Infinity`, and Vapi cannot parse that answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.config import config_from_mapping

HEADERS = {"content-type": "application/json", "x-vapi-secret": "org-s"}


def _refuse_constants(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


def _strict(text: str) -> Any:
    """`text` decoded by a parser that refuses `Infinity` and `NaN`, as Vapi's does."""
    return json.loads(text, parse_constant=_refuse_constants)


def _receiver(**config: Any) -> tuple[Receiver, list[object]]:
    mapping = {"org": {"secret": "org-s"}, "inbox": {"enabled": False}, **config}
    receiver = Receiver(config_from_mapping(mapping, source="test"))
    seen: list[object] = []

    @receiver.tool
    def quote(amount: float = 0.0) -> dict[str, Any]:
        seen.append(amount)
        return {"amount": amount}

    @receiver.tool
    def infinite() -> float:
        return float("inf")

    return receiver, seen


def _tool_calls(arguments: str) -> str:
    call = f'{{"id":"t1","function":{{"name":"quote","arguments":{arguments}}}}}'
    return f'{{"message":{{"type":"tool-calls","toolCallList":[{call}]}}}}'


@pytest.mark.parametrize("number", ["1e400", "-1e400", "99e307", "1" + "0" * 320 + ".5"])
def test_a_number_beyond_float_range_in_the_body_is_a_400_naming_where(number: str) -> None:
    receiver, seen = _receiver()
    with TestClient(receiver.app) as client:
        response = client.post(
            "/vapi", content=_tool_calls(f'{{"amount":{number}}}'), headers=HEADERS
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "overflows to infinity" in error
    assert "message.toolCallList[0].function.arguments.amount" in error
    assert seen == []


def test_a_number_beyond_float_range_in_string_arguments_is_an_error_result() -> None:
    receiver, seen = _receiver()
    with TestClient(receiver.app) as client:
        response = client.post(
            "/vapi", content=_tool_calls(json.dumps('{"amount": 1e400}')), headers=HEADERS
        )
    assert response.status_code == 200
    (result,) = _strict(response.text)["results"]
    assert result["toolCallId"] == "t1"
    assert "overflows to infinity (amount)" in result["error"]
    assert seen == []


def test_large_but_finite_numbers_and_lookalikes_in_text_are_accepted() -> None:
    receiver, seen = _receiver()
    body = json.loads(_tool_calls('{"amount":1.5e308}'))
    body["message"]["call"] = {"id": "5e123456-7e89-1e23-9e45-e12345678901", "note": "x:1e999"}
    with TestClient(receiver.app) as client:
        response = client.post("/vapi", content=json.dumps(body), headers=HEADERS)
    assert response.status_code == 200
    assert _strict(response.text)["results"][0]["result"] == '{"amount": 1.5e+308}'
    assert seen == [1.5e308]


def test_a_tool_returning_infinity_answers_an_error_result_in_valid_json(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver, _ = _receiver()
    body = {
        "message": {
            "type": "tool-calls",
            "toolCallList": [{"id": "t2", "function": {"name": "infinite"}}],
        }
    }
    with TestClient(receiver.app) as client, caplog.at_level(logging.ERROR):
        response = client.post("/vapi", json=body, headers=HEADERS)
    assert response.status_code == 200
    (result,) = _strict(response.text)["results"]
    assert result == {"toolCallId": "t2", "name": "infinite", "error": "tool 'infinite' failed"}
    assert "cannot hold an infinite or NaN number" in caplog.text


def test_a_fallback_answer_holding_infinity_is_sent_with_null_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fallback = {"assistant": {"name": "fallback", "voice": {"speed": float("inf")}}}
    receiver, _ = _receiver(receiver={"assistant_request_fallback": fallback})
    body = {"message": {"type": "assistant-request", "call": {"id": "c1"}}}
    with TestClient(receiver.app) as client, caplog.at_level(logging.ERROR):
        response = client.post("/vapi", json=body, headers=HEADERS)
    assert response.status_code == 200
    assert _strict(response.text) == {"assistant": {"name": "fallback", "voice": {"speed": None}}}
    assert "infinite or NaN number" in caplog.text
