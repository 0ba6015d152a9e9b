"""A stored tool result answers only a repeat of the same call, at the same level.

The function name decides the level. When it comes from the `toolWithToolCallList` item
(the `toolCall` object carries none), a request with the org credential that reuses a
genuine call's ids under another tool's name must neither read the genuine tool's stored
result nor plant one for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.config import config_from_mapping
from receiver.inbox.keys import tool_result_key
from receiver.inbox.store import InboxStore
from receiver.models import normalise_tool_calls
from receiver.verification import winning_levels


def _receiver(path: Path) -> tuple[Receiver, list[str]]:
    mapping: dict[str, Any] = {
        "org": {"secret": "org-s"},
        "tools": {"lookup_order": {"secret": "tool-s"}},
        "inbox": {"path": str(path / "inbox.sqlite3")},
    }
    receiver = Receiver(config_from_mapping(mapping, source="test"))
    runs: list[str] = []

    @receiver.tool
    def lookup_order(order_id: str = "") -> str:
        runs.append("lookup_order")
        return f"SECRET ORDER DATA for {order_id}"

    @receiver.tool
    def get_time() -> str:
        runs.append("get_time")
        return "12:00"

    return receiver, runs


def _named_outside(name: str, *, docs_shape: bool = False) -> dict[str, Any]:
    """A tool-calls message whose function name is only in the `toolWithToolCallList` item."""
    call = {"id": "tc-1", "parameters": {"order_id": "A-1"}}
    item = {"name": name} if docs_shape else {"type": "function", "function": {"name": name}}
    return {
        "type": "tool-calls",
        "call": {"id": "call-1"},
        "toolWithToolCallList": [{**item, "toolCall": call}],
    }


def _post(client: TestClient, message: dict[str, Any], secret: str) -> Any:
    headers = {"content-type": "application/json", "x-vapi-secret": secret}
    return client.post("/vapi", content=json.dumps({"message": message}), headers=headers)


def test_the_org_credential_cannot_read_a_tool_level_result(tmp_path: Path) -> None:
    for docs_shape in (False, True):
        (folder := tmp_path / str(docs_shape)).mkdir()
        receiver, runs = _receiver(folder)
        with TestClient(receiver.app) as client:
            genuine = _post(client, _named_outside("lookup_order", docs_shape=docs_shape), "tool-s")
            assert "SECRET ORDER DATA" in genuine.text
            assert _post(client, _named_outside("lookup_order"), "org-s").status_code == 401
            other = _post(client, _named_outside("get_time", docs_shape=docs_shape), "org-s")
        assert other.json() == {
            "results": [{"toolCallId": "tc-1", "name": "get_time", "result": "12:00"}]
        }
        assert runs == ["lookup_order", "get_time"]


def test_the_org_credential_cannot_plant_a_tool_level_result(tmp_path: Path) -> None:
    receiver, runs = _receiver(tmp_path)
    with TestClient(receiver.app) as client:
        _post(client, _named_outside("get_time"), "org-s")
        genuine = _post(client, _named_outside("lookup_order"), "tool-s")
        repeat = _post(client, _named_outside("lookup_order"), "tool-s")
    assert "SECRET ORDER DATA for A-1" in genuine.text
    assert repeat.json() == genuine.json()
    assert runs == ["get_time", "lookup_order"]


def test_a_stored_result_for_another_tool_is_not_answered(tmp_path: Path) -> None:
    """Should the store hold another tool's result under a call's key (a damaged or
    hand-edited file), the call runs and its own result replaces it."""
    receiver, runs = _receiver(tmp_path)
    message = _named_outside("lookup_order")
    (call,) = normalise_tool_calls(message)
    key = tool_result_key(message, call, winning_levels(message, receiver.config))
    store = InboxStore.open(str(tmp_path / "inbox.sqlite3"))
    planted = {"toolCallId": "tc-1", "name": "get_time", "result": "planted"}
    store.save_tool_result(key, json.dumps(planted))
    with TestClient(receiver.app) as client:
        first = _post(client, message, "tool-s")
        repeat = _post(client, message, "tool-s")
    store.close()
    assert first.json()["results"][0]["result"] == "SECRET ORDER DATA for A-1"
    assert repeat.json() == first.json()
    assert runs == ["lookup_order"]


@pytest.mark.parametrize("bad_id", [1.5, True, {"id": "tc-1"}, ["tc-1"]])
@pytest.mark.parametrize(
    ("shape", "field"),
    [
        ("toolCallList", "message.toolCallList[0].id"),
        ("toolWithToolCallList", "message.toolWithToolCallList[0].toolCall.id"),
    ],
)
def test_a_tool_call_id_that_is_not_a_string_is_a_400_and_runs_nothing(
    tmp_path: Path, bad_id: object, shape: str, field: str
) -> None:
    receiver, runs = _receiver(tmp_path)
    call = {"id": bad_id, "function": {"name": "get_time"}}
    if shape == "toolCallList":
        message = {"type": "tool-calls", "toolCallList": [call]}
    else:
        message = {"type": "tool-calls", "toolWithToolCallList": [{"toolCall": call}]}
    with TestClient(receiver.app) as client:
        response = _post(client, message, "org-s")
    assert response.status_code == 400
    assert f"{field} must be a string" in response.json()["error"]
    assert runs == []


def test_an_integer_tool_call_id_is_answered_by_its_digits(tmp_path: Path) -> None:
    receiver, runs = _receiver(tmp_path)
    message = {"type": "tool-calls", "toolCallList": [{"id": 7, "function": {"name": "get_time"}}]}
    with TestClient(receiver.app) as client:
        response = _post(client, message, "org-s")
    assert response.json()["results"][0]["toolCallId"] == "7"
    assert runs == ["get_time"]
