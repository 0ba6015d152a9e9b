"""Answers for every request type, tools, deadlines, and informational handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Annotated, Any, Optional

import pytest
from starlette.testclient import TestClient

from receiver import CallHandler, ToolError, tool
from receiver.models import Call, EndOfCallReportMessage, Message, ToolCall
from receiver.responses import AssistantResponse, ToolResult
from receiver.testing import make_message
from tests.helpers import make_receiver, post
from tests.served import served

# -- tools -------------------------------------------------------------------------------


def test_tool_result_is_a_json_string_with_id_and_name() -> None:
    receiver = make_receiver()

    class Support(CallHandler):
        @tool
        async def lookup_order(self, order_id: str) -> dict[str, str]:
            return {"status": "shipped", "order": order_id}

    receiver.include(Support())
    envelope = make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "A-1042"})])
    call_id = envelope["message"]["toolCallList"][0]["id"]
    response = post(served(receiver.app), envelope)
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "toolCallId": call_id,
                "name": "lookup_order",
                "result": '{"status": "shipped", "order": "A-1042"}',
            }
        ]
    }


def test_tool_calls_run_concurrently_and_keep_their_order() -> None:
    receiver = make_receiver()
    started: list[str] = []

    @receiver.tool
    async def slow(label: str) -> str:
        started.append(label)
        await asyncio.sleep(0.3 if label == "first" else 0.05)
        return label

    envelope = make_message(
        "tool-calls", tool_calls=[("slow", {"label": "first"}), ("slow", {"label": "second"})]
    )
    began = time.perf_counter()
    results = post(served(receiver.app), envelope).json()["results"]
    elapsed = time.perf_counter() - began
    ids = [item["id"] for item in envelope["message"]["toolCallList"]]
    assert [r["toolCallId"] for r in results] == ids
    assert [r["result"] for r in results] == ["first", "second"]
    assert elapsed < 0.3 + 0.05 + 0.2, "the two calls ran one after the other"


def test_argument_errors_name_the_argument() -> None:
    receiver = make_receiver()

    @receiver.tool
    def lookup_order(order_id: str, quantity: int = 1) -> str:
        return "ok"

    envelope = make_message(
        "tool-calls",
        tool_calls=[("lookup_order", {"quantity": "many"})],
    )
    result = post(served(receiver.app), envelope).json()["results"][0]
    assert "result" not in result
    assert "argument 'order_id': Field required" in result["error"]
    assert "argument 'quantity'" in result["error"]
    assert "\n" not in result["error"]


def test_string_arguments_are_decoded_and_bad_json_is_an_error() -> None:
    receiver = make_receiver()

    @receiver.tool
    def echo(text: str) -> str:
        return text

    envelope = make_message("tool-calls", tool_calls=[("echo", {})])
    envelope["message"]["toolCallList"][0]["function"]["arguments"] = '{"text": "hi"}'
    assert post(served(receiver.app), envelope).json()["results"][0]["result"] == "hi"
    envelope["message"]["toolCallList"][0]["function"]["arguments"] = "{not json"
    assert "error" in post(served(receiver.app), envelope).json()["results"][0]


def test_unknown_tool_gets_an_error_result(caplog: pytest.LogCaptureFixture) -> None:
    receiver = make_receiver()
    envelope = make_message("tool-calls", tool_calls=[("nope", {})])
    result = post(served(receiver.app), envelope).json()["results"][0]
    assert result["name"] == "nope"
    assert result["error"] == "unknown tool 'nope'"


def test_tool_error_message_is_sent_but_other_exceptions_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = make_receiver()

    @receiver.tool
    def refuses() -> str:
        raise ToolError("Order A-1 was not found")

    @receiver.tool
    def crashes() -> str:
        raise RuntimeError("db password=hunter2 at 10.0.0.5")

    envelope = make_message("tool-calls", tool_calls=[("refuses", {}), ("crashes", {})])
    with caplog.at_level(logging.ERROR, "vapi_receiver"):
        results = post(served(receiver.app), envelope).json()["results"]
    assert results[0]["error"] == "Order A-1 was not found"
    assert results[1]["error"] == "tool 'crashes' failed"
    assert "hunter2" not in json.dumps(results)
    assert "RuntimeError" in caplog.text


def test_tool_over_budget_answers_an_error_in_time() -> None:
    receiver = make_receiver()

    @receiver.tool(timeout=0.2)
    async def sleepy() -> str:
        await asyncio.sleep(5)
        return "late"

    @receiver.tool(timeout=0.2)
    def sleepy_sync() -> str:
        time.sleep(1)
        return "late"

    envelope = make_message("tool-calls", tool_calls=[("sleepy", {}), ("sleepy_sync", {})])
    began = time.perf_counter()
    results = post(served(receiver.app), envelope).json()["results"]
    assert time.perf_counter() - began < 0.9
    assert results[0]["error"] == "tool 'sleepy' did not finish within 0.2 s"
    assert results[1]["error"] == "tool 'sleepy_sync' did not finish within 0.2 s"


def test_default_tool_budget_comes_from_config() -> None:
    receiver = make_receiver(tool_timeout=0.1)

    @receiver.tool
    async def sleepy() -> str:
        await asyncio.sleep(2)
        return "late"

    envelope = make_message("tool-calls", tool_calls=[("sleepy", {})])
    assert "0.1 s" in post(served(receiver.app), envelope).json()["results"][0]["error"]


def test_tool_result_object_and_injected_parameters() -> None:
    receiver = make_receiver()
    seen: dict[str, Any] = {}

    @receiver.tool
    def book(slot: str, call: Call, tool_call: ToolCall, message: Message) -> ToolResult:
        seen.update(call=call, tool_call=tool_call, message=message)
        return ToolResult(
            result={"booked": slot}, message={"type": "request-complete", "content": "Booked!"}
        )

    envelope = make_message("tool-calls", tool_calls=[("book", {"slot": "9:00\nam"})])
    result = post(served(receiver.app), envelope).json()["results"][0]
    assert result["result"] == '{"booked": "9:00\\nam"}'
    assert result["message"]["content"] == "Booked!"
    assert seen["call"].id == envelope["message"]["call"]["id"]
    assert seen["tool_call"].arguments == {"slot": "9:00\nam"}
    assert seen["message"].type == "tool-calls"


def test_tool_result_message_may_be_plain_text() -> None:
    receiver = make_receiver()

    @receiver.tool
    def cancel(order_id: str) -> ToolResult:
        if order_id == "A-1":
            return ToolResult(result="cancelled", message="Your order is cancelled.")
        return ToolResult(error="no such order", message="I could not find that order.")

    envelope = make_message(
        "tool-calls", tool_calls=[("cancel", {"order_id": "A-1"}), ("cancel", {"order_id": "B"})]
    )
    done, failed = post(TestClient(receiver.app), envelope).json()["results"]
    assert done["message"] == {"type": "request-complete", "content": "Your order is cancelled."}
    assert failed["message"] == {
        "type": "request-failed",
        "content": "I could not find that order.",
    }


def test_string_results_are_single_line() -> None:
    receiver = make_receiver()
    receiver.tool("lines")(lambda: "first\nsecond\r\nthird")
    envelope = make_message("tool-calls", tool_calls=[("lines", {})])
    assert post(served(receiver.app), envelope).json()["results"][0]["result"] == (
        "first second third"
    )


def test_legacy_function_call_is_answered_from_the_tools() -> None:
    receiver = make_receiver()

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"status": "shipped"}

    envelope = make_message(
        "function-call", function_name="lookup_order", parameters={"order_id": "A-1"}
    )
    assert post(served(receiver.app), envelope).json() == {"result": '{"status": "shipped"}'}


# -- other request types -----------------------------------------------------------------


def test_assistant_request_accepts_typed_and_plain_answers() -> None:
    receiver = make_receiver()
    receiver.on("assistant-request")(lambda message, call: AssistantResponse(assistant_id="asst-9"))
    client = served(receiver.app)
    assert post(client, make_message("assistant-request")).json() == {"assistantId": "asst-9"}

    plain = make_receiver()
    plain.on("assistant-request")(lambda message: {"assistantId": "asst-8"})
    assert post(TestClient(plain.app), make_message("assistant-request")).json() == {
        "assistantId": "asst-8"
    }


def test_assistant_request_over_budget_sends_the_configured_fallback() -> None:
    receiver = make_receiver(
        assistant_request_timeout=0.2,
        assistant_request_fallback={"assistantId": "asst-fallback"},
    )
    released = threading.Event()

    @receiver.on("assistant-request")
    def slow(message: Any) -> dict[str, str]:
        released.wait(2)
        return {"assistantId": "too-late"}

    began = time.perf_counter()
    answer = post(TestClient(receiver.app), make_message("assistant-request")).json()
    released.set()
    assert answer == {"assistantId": "asst-fallback"}
    assert time.perf_counter() - began < 1.5


def test_assistant_request_failure_without_fallback_answers_an_error() -> None:
    receiver = make_receiver()

    @receiver.on("assistant-request")
    async def broken(message: Any) -> dict[str, str]:
        raise RuntimeError("boom")

    answer = post(TestClient(receiver.app), make_message("assistant-request")).json()
    assert set(answer) == {"error"}


def test_invalid_answer_is_replaced_by_the_safe_default(caplog: pytest.LogCaptureFixture) -> None:
    receiver = make_receiver()
    receiver.on("campaign.predial")(lambda message: {"eligible": "yes"})
    with caplog.at_level(logging.ERROR, "vapi_receiver"):
        answer = post(TestClient(receiver.app), make_message("campaign.predial")).json()
    assert answer == {"eligible": False}
    assert "eligible" in caplog.text


@pytest.mark.parametrize(
    "message_type",
    [
        "assistant-request",
        "transfer-destination-request",
        "handoff-destination-request",
        "knowledge-base-request",
        "call.endpointing.request",
        "campaign.predial",
    ],
)
def test_request_types_without_handler_get_a_safe_default_and_an_error_log(
    message_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = make_receiver()
    with caplog.at_level(logging.ERROR, "vapi_receiver"):
        response = post(TestClient(receiver.app), make_message(message_type))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json(), dict) and response.json()
    assert f"no handler for {message_type}" in caplog.text


def test_voice_request_answers_raw_pcm() -> None:
    receiver = make_receiver()
    receiver.on("voice-request")(lambda message: b"\x00\x01" * message.sample_rate)
    response = post(TestClient(receiver.app), make_message("voice-request", sample_rate=8000))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01" * 8000


def test_voice_request_can_stream_chunks() -> None:
    receiver = make_receiver()

    async def chunks() -> Any:
        for _ in range(3):
            yield b"\x10\x00" * 160

    receiver.on("voice-request")(lambda message: chunks())
    response = post(TestClient(receiver.app), make_message("voice-request"))
    assert response.content == b"\x10\x00" * 480


# -- informational types -----------------------------------------------------------------


def test_informational_handlers_run_after_the_answer_each_isolated() -> None:
    receiver = make_receiver()
    seen: list[str] = []
    errors: list[tuple[str, str]] = []

    @receiver.on("end-of-call-report")
    def first(message: EndOfCallReportMessage, call: Call | None) -> None:
        raise RuntimeError("first fails")

    @receiver.on("end-of-call-report")
    async def second(message: EndOfCallReportMessage, call: Call | None) -> None:
        assert call is not None
        seen.append(call.id)

    @receiver.on_any
    def observe(message: Message) -> None:
        seen.append(message.type)

    @receiver.on_error
    def report(error: Exception, message: Message) -> None:
        errors.append((str(error), message.type))

    envelope = make_message("end-of-call-report")
    response = post(served(receiver.app), envelope)
    assert response.status_code == 200
    assert response.json() == {}
    assert sorted(seen) == sorted([envelope["message"]["call"]["id"], "end-of-call-report"])
    assert errors == [("first fails", "end-of-call-report")]


def test_unknown_types_are_acknowledged_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    receiver = make_receiver()
    client = served(receiver.app)
    envelope = make_message("status-update")
    envelope["message"]["type"] = "brand.new-event"
    with caplog.at_level(logging.WARNING, "vapi_receiver"):
        assert post(client, envelope).json() == {}
        assert post(client, envelope).json() == {}
    assert caplog.text.count("unknown message type 'brand.new-event'") == 1


def test_known_type_that_does_not_fit_is_acknowledged_without_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = make_receiver()
    ran: list[str] = []
    receiver.on("end-of-call-report")(lambda message: ran.append("ran"))
    envelope = make_message("end-of-call-report")
    envelope["message"]["artifact"] = "not an object"
    with caplog.at_level(logging.ERROR, "vapi_receiver"):
        response = post(served(receiver.app), envelope)
    assert response.status_code == 200
    assert ran == []
    assert "does not fit its model" in caplog.text


def test_a_tools_own_timeout_is_a_failure_not_an_overrun() -> None:
    receiver = make_receiver()

    @receiver.tool(timeout=5)
    async def upstream() -> str:
        raise TimeoutError("the CRM did not answer")

    envelope = make_message("tool-calls", tool_calls=[("upstream", {})])
    result = post(served(receiver.app), envelope).json()["results"][0]
    assert result["error"] == "tool 'upstream' failed"


# -- fallbacks keep one result per tool call ------------------------------------------------


def _two_call_envelope() -> dict[str, Any]:
    return make_message("tool-calls", tool_calls=[("find", {}), ("book", {"slot": "9"})])


def _ids_and_names(envelope: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["id"], c["function"]["name"]) for c in envelope["message"]["toolCallList"]]


def test_failing_tool_calls_responder_answers_an_error_per_call() -> None:
    receiver = make_receiver()

    @receiver.on("tool-calls")
    async def broken(message: Any) -> dict[str, Any]:
        raise RuntimeError("db down")

    envelope = _two_call_envelope()
    results = post(served(receiver.app), envelope).json()["results"]
    assert [(r["toolCallId"], r["name"]) for r in results] == _ids_and_names(envelope)
    assert all(r["error"] and "db down" not in r["error"] for r in results)


def test_tool_calls_that_do_not_fit_the_model_answer_an_error_per_call() -> None:
    receiver = make_receiver()
    receiver.tool("find")(lambda: "x")
    envelope = _two_call_envelope()
    envelope["message"]["call"] = "not an object"
    results = post(served(receiver.app), envelope).json()["results"]
    assert [(r["toolCallId"], r["name"]) for r in results] == _ids_and_names(envelope)
    assert all(r["error"] for r in results)


# -- voice-request answers that go wrong ---------------------------------------------------


def _voice_receiver(**options: Any) -> tuple[Any, list[Exception]]:
    receiver = make_receiver(**options)
    errors: list[Exception] = []
    receiver.on_error(lambda error, message: errors.append(error))
    return receiver, errors


def test_voice_request_with_text_chunks_answers_empty_audio_and_reports() -> None:
    receiver, errors = _voice_receiver()
    receiver.on("voice-request")(lambda message: ["abc", "def"])
    response = post(TestClient(receiver.app), make_message("voice-request"))
    assert response.status_code == 200
    assert response.content == b""
    assert len(errors) == 1


def test_voice_request_sync_chunks_are_joined_and_a_failure_is_reported() -> None:
    receiver, errors = _voice_receiver()

    def chunks() -> Any:
        yield b"\x01\x00"
        yield bytearray(b"\x02\x00")

    receiver.on("voice-request")(lambda message: chunks())
    response = post(TestClient(receiver.app), make_message("voice-request"))
    assert response.content == b"\x01\x00\x02\x00"

    failing, failures = _voice_receiver()

    def broken() -> Any:
        yield b"\x01\x00"
        raise RuntimeError("tts died")

    failing.on("voice-request")(lambda message: broken())
    assert post(TestClient(failing.app), make_message("voice-request")).content == b""
    assert [str(e) for e in failures] == ["tts died"]
    assert errors == []


def test_voice_request_sync_chunks_are_read_within_the_budget() -> None:
    receiver, errors = _voice_receiver(request_timeout=0.2)
    released = threading.Event()

    def stalled() -> Any:
        yield b"\x01\x00"
        released.wait(2)
        yield b"\x02\x00"

    receiver.on("voice-request")(lambda message: stalled())
    try:
        response = post(TestClient(receiver.app), make_message("voice-request"))
    finally:
        released.set()
    assert response.content == b""
    assert len(errors) == 1 and isinstance(errors[0], TimeoutError)


def test_voice_stream_that_fails_midway_ends_and_is_reported() -> None:
    receiver, errors = _voice_receiver()

    async def chunks() -> Any:
        yield b"\x10\x00"
        raise RuntimeError("tts died")

    receiver.on("voice-request")(lambda message: chunks())
    response = post(TestClient(receiver.app), make_message("voice-request"))
    assert response.status_code == 200
    assert response.content == b"\x10\x00"
    assert [str(e) for e in errors] == ["tts died"]


# -- injected parameters cannot be forged by the model -------------------------------------


def test_optional_and_annotated_injected_parameters_are_filled_from_the_request() -> None:
    receiver = make_receiver()
    seen: dict[str, Any] = {}

    @receiver.tool
    def book(
        slot: str,
        call: Call | None = None,
        tool_call: Annotated[ToolCall, "the call"] = None,  # type: ignore[assignment]
        message: Optional[Annotated[Message, "x"]] = None,  # noqa: UP045
    ) -> str:
        seen.update(call=call, tool_call=tool_call, message=message)
        return slot

    forged = {"slot": "9", "call": {"id": "evil"}, "tool_call": {"id": "evil"}, "message": {}}
    envelope = make_message("tool-calls", tool_calls=[("book", forged)])
    result = post(served(receiver.app), envelope).json()["results"][0]
    assert result["result"] == "9"
    assert seen["call"].id == envelope["message"]["call"]["id"]
    assert seen["tool_call"].id == envelope["message"]["toolCallList"][0]["id"]
    assert seen["message"].type == "tool-calls"


# -- parameter names that pydantic reserves ------------------------------------------------


def test_tool_parameters_named_like_model_attributes_or_private_work() -> None:
    receiver = make_receiver()

    @receiver.tool
    def odd(_x: int, model_config: str, schema: str, json: str, copy: int = 7) -> list[Any]:
        return [_x, model_config, schema, json, copy]

    envelope = make_message(
        "tool-calls",
        tool_calls=[("odd", {"_x": 1, "model_config": "m", "schema": "s", "json": "j"})],
    )
    result = post(served(receiver.app), envelope).json()["results"][0]
    assert result["result"] == '[1, "m", "s", "j", 7]'

    missing = make_message("tool-calls", tool_calls=[("odd", {"model_config": "m"})])
    error = post(TestClient(receiver.app), missing).json()["results"][0]["error"]
    assert "argument '_x'" in error and "argument 'schema'" in error
