"""One request must not hold the receiver: calls per request and hung sync threads are capped."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.config import DEFAULT_MAX_TOOL_CALLS
from receiver.testing import make_message
from tests.conftest import SECRET, make_receiver, post

HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


def tool_calls(count: int, name: str = "lookup_order") -> dict[str, object]:
    calls = [(name, {"order_id": str(i)}) for i in range(count)]
    return make_message("tool-calls", tool_calls=calls)


def with_lookup(receiver: Receiver) -> Receiver:
    @receiver.tool
    def lookup_order(order_id: str) -> str:
        return f"order {order_id}"

    return receiver


# -- calls per request --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["toolCallList", "toolWithToolCallList"])
def test_more_tool_calls_than_the_cap_is_a_400_naming_the_cap(key: str) -> None:
    envelope = tool_calls(DEFAULT_MAX_TOOL_CALLS + 1)
    if key == "toolWithToolCallList":
        message = envelope["message"]
        assert isinstance(message, dict)
        message["toolWithToolCallList"] = [{"toolCall": c} for c in message.pop("toolCallList")]
    response = post(TestClient(with_lookup(make_receiver()).app), envelope)
    assert response.status_code == 400
    assert response.json() == {
        "error": f"tool-calls carries {DEFAULT_MAX_TOOL_CALLS + 1} tool calls; this receiver "
        f"accepts at most {DEFAULT_MAX_TOOL_CALLS} per request ([receiver] max_tool_calls)"
    }


def test_a_request_at_the_cap_is_answered_in_full() -> None:
    response = post(TestClient(with_lookup(make_receiver()).app), tool_calls(128))
    assert response.status_code == 200
    assert len(response.json()["results"]) == DEFAULT_MAX_TOOL_CALLS == 128


def test_the_cap_is_configurable() -> None:
    client = TestClient(with_lookup(make_receiver(max_tool_calls=2)).app)
    assert post(client, tool_calls(2)).status_code == 200
    assert post(client, tool_calls(3)).status_code == 400


def test_a_small_request_is_answered_while_a_maximal_one_is_processed() -> None:
    receiver = make_receiver()

    @receiver.tool
    def lookup_order(order_id: str) -> str:
        time.sleep(0.1)  # 128 calls through the thread pool: about 0.4 s in all
        return order_id

    async def scenario() -> tuple[float, bool, int]:
        big = asyncio.create_task(receiver.handle(HEADERS, json.dumps(tool_calls(128)).encode()))
        await asyncio.sleep(0.02)  # the maximal request is under way
        started = time.perf_counter()
        small = await receiver.handle(HEADERS, json.dumps(make_message("status-update")).encode())
        waited = time.perf_counter() - started
        still_running = not big.done()
        assert (await big).status == 200
        return waited, still_running, small.status

    waited, still_running, status = asyncio.run(scenario())
    assert status == 200
    assert still_running, "the small request waited for the maximal one to finish"
    assert waited < 0.2


# -- abandoned threads --------------------------------------------------------------------


def test_hung_sync_tools_leave_at_most_the_configured_number_of_threads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = make_receiver(max_abandoned_threads=3)
    release = threading.Event()
    ran: list[str] = []

    @receiver.tool(timeout=0.05)
    def hangs(order_id: str) -> str:
        ran.append(order_id)
        release.wait(5)
        return "late"

    before = threading.active_count()
    client = TestClient(receiver.app)
    errors = []
    for _ in range(12):
        response = post(client, tool_calls(1, "hangs"))
        assert response.status_code == 200
        errors.append(response.json()["results"][0]["error"])
    try:
        assert threading.active_count() <= before + 3 + 1  # + the TestClient's portal thread
        assert len(ran) == 3
        assert errors[:3] == ["tool 'hangs' did not finish within 0.05 s"] * 3
        assert errors[3:] == ["tool 'hangs' failed"] * 9
        assert "max_abandoned_threads = 3" in caplog.text
        assert receiver.core.dispatcher.tool_threads.abandoned == 3
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while receiver.core.dispatcher.tool_threads.abandoned and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.core.dispatcher.tool_threads.abandoned == 0  # counted until they finished
    release.clear()
    post(client, tool_calls(1, "hangs"))
    assert len(ran) == 4, "a thread is started again once the hung ones have finished"
    release.set()


def test_past_the_cap_a_request_type_gets_its_fallback_without_a_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = make_receiver(max_abandoned_threads=1, assistant_request_timeout=0.05)
    release = threading.Event()
    calls: list[int] = []

    @receiver.on("assistant-request")
    def route(message: object) -> dict[str, str]:
        calls.append(1)
        release.wait(5)
        return {"assistantId": "late"}

    client = TestClient(receiver.app)
    try:
        with caplog.at_level(logging.ERROR):
            first = post(client, make_message("assistant-request"))
            second = post(client, make_message("assistant-request"))
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert "error" in second.json()
        assert calls == [1]
        assert "ThreadsExhausted" in caplog.text
    finally:
        release.set()


# -- tools apart from the other request types ---------------------------------------------


def routing_receiver() -> Receiver:
    """An org and a phone number level; a sync assistant-request handler that answers at once."""
    receiver = Receiver(
        config={
            "org": {"secret": SECRET},
            "phone_numbers": {"pn-1": {"secret": "pn-secret"}},
            "receiver": {"assistant_request_timeout": 1.0},
            "inbox": {"enabled": False},
        }
    )

    @receiver.on("assistant-request")
    def route(message: object) -> dict[str, str]:
        return {"assistantId": "asst-real"}

    return receiver


ASSISTANT_REQUEST = {
    "message": {"type": "assistant-request", "call": {"id": "c2", "phoneNumberId": "pn-1"}}
}


def test_hung_tools_of_one_request_do_not_put_assistant_request_on_its_fallback() -> None:
    receiver = routing_receiver()
    release = threading.Event()

    @receiver.tool(timeout=0.3)
    def slow() -> str:  # an org-level tool hanging on a slow backend
        release.wait(5)
        return "done"

    client = TestClient(receiver.app)
    try:
        with client:
            assert post(client, tool_calls(40, "slow")).status_code == 200
            genuine = post(client, ASSISTANT_REQUEST, secret="pn-secret")
        assert genuine.json() == {"assistantId": "asst-real"}
    finally:
        release.set()


def test_a_sync_assistant_request_is_answered_while_tools_hold_every_tool_thread() -> None:
    receiver = routing_receiver()
    release = threading.Event()

    @receiver.tool(timeout=3)
    def slow() -> str:
        release.wait(5)
        return "done"

    async def scenario() -> tuple[float, bytes]:
        tools = json.dumps(tool_calls(8, "slow")).encode()
        busy = [asyncio.create_task(receiver.handle(HEADERS, tools)) for _ in range(6)]
        await asyncio.sleep(0.2)  # 48 calls under way: more than the 40 tool threads
        started = time.perf_counter()
        headers = {**HEADERS, "x-vapi-secret": "pn-secret"}
        answer = await receiver.handle(headers, json.dumps(ASSISTANT_REQUEST).encode())
        waited = time.perf_counter() - started
        release.set()
        await asyncio.gather(*busy)
        return waited, answer.body  # type: ignore[return-value]

    try:
        waited, body = asyncio.run(scenario())
    finally:
        release.set()
    assert json.loads(body) == {"assistantId": "asst-real"}
    assert waited < 0.5


def test_one_request_runs_a_bounded_number_of_tool_calls_at_once() -> None:
    receiver = make_receiver()
    lock = threading.Lock()
    running = [0]
    most = [0]

    @receiver.tool
    def counted() -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return "ok"

    response = post(TestClient(receiver.app), tool_calls(24, "counted"))
    assert [r["result"] for r in response.json()["results"]] == ["ok"] * 24
    assert most[0] == 8
