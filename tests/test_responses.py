"""Answer builders, answer validation and safe defaults, checked against the official SDK.

The `vapi` SDK (vapi-server-sdk 3.0.0) is the schema oracle: every answer we produce must
validate against its response model for the type, and must not leave keys the SDK does not
know (a misspelt alias would otherwise slip through, since the SDK allows extra keys).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from receiver.errors import ReceiverError
from receiver.responses import (
    RESPONSE_MODELS,
    SAFE_ENDPOINTING_SECONDS,
    AssistantDestination,
    AssistantResponse,
    CustomMessage,
    Document,
    EndpointingResponse,
    FunctionCallResponse,
    HandoffAssistantDestination,
    HandoffDestinationResponse,
    HandoffSquadDestination,
    InvalidAnswer,
    KnowledgeBaseResponse,
    NumberDestination,
    PredialResponse,
    SipDestination,
    TextContent,
    ToolCallResult,
    ToolCallsResponse,
    ToolMessage,
    ToolResult,
    TransferDestinationResponse,
    VapiAnswer,
    answer_to_json,
    safe_answer,
    safe_tool_calls,
    stringify_result,
    unknown_keys,
)
from receiver.responses import validation as validation_module

SDK_MODELS = {
    "assistant-request": (
        "server_message_response_assistant_request",
        "ServerMessageResponseAssistantRequest",
    ),
    "tool-calls": ("server_message_response_tool_calls", "ServerMessageResponseToolCalls"),
    "transfer-destination-request": (
        "server_message_response_transfer_destination_request",
        "ServerMessageResponseTransferDestinationRequest",
    ),
    "handoff-destination-request": (
        "server_message_response_handoff_destination_request",
        "ServerMessageResponseHandoffDestinationRequest",
    ),
    "knowledge-base-request": (
        "server_message_response_knowledge_base_request",
        "ServerMessageResponseKnowledgeBaseRequest",
    ),
    "call.endpointing.request": (
        "server_message_response_call_endpointing_request",
        "ServerMessageResponseCallEndpointingRequest",
    ),
    "campaign.predial": (
        "server_message_response_campaign_predial",
        "ServerMessageResponseCampaignPredial",
    ),
}
"""`function-call` has no SDK model (it left the schema in 2024); its shape is checked by hand."""


@pytest.fixture(scope="session")
def sdk() -> SimpleNamespace:
    """The SDK classes used as oracle; importing `vapi` takes seconds, so only once."""
    types = "vapi.types."
    models = {
        kind: getattr(importlib.import_module(types + module), name)
        for kind, (module, name) in SDK_MODELS.items()
    }
    handoff_items = importlib.import_module(types + "create_handoff_tool_dto_destinations_item")
    return SimpleNamespace(
        models=models,
        ToolCallResult=importlib.import_module(types + "tool_call_result").ToolCallResult,
        CreateAssistantDto=importlib.import_module(
            types + "create_assistant_dto"
        ).CreateAssistantDto,
        HandoffAssistant=handoff_items.CreateHandoffToolDtoDestinationsItem_Assistant,
        HandoffSquad=handoff_items.CreateHandoffToolDtoDestinationsItem_Squad,
    )


def _sdk_extras(value: object, path: str = "") -> Iterator[str]:
    """Keys the SDK kept as extras anywhere in a validated SDK object."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}"
        for name in type(value).model_fields:
            yield from _sdk_extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _sdk_extras(item, f"{path}[{index}]")


def assert_sdk_accepts(sdk: SimpleNamespace, message_type: str, out: dict[str, Any]) -> None:
    """`out` is a bare, JSON-ready answer the SDK validates with every key known to it."""
    assert "messageResponse" not in out
    json.dumps(out, allow_nan=False)  # only JSON types, no NaN/inf
    parsed = sdk.models[message_type].model_validate(out)
    assert list(_sdk_extras(parsed)) == []


# -- every builder's output validates against the SDK ----------------------------------------

BUILDERS: list[tuple[str, Callable[[], VapiAnswer]]] = [
    ("assistant-request", lambda: AssistantResponse(assistant_id="asst_123")),
    (
        "assistant-request",
        lambda: AssistantResponse(
            assistant={"name": "Ada", "firstMessage": "Hello!"},
            assistant_overrides={"variableValues": {"customer": "Grace"}},
        ),
    ),
    (
        "assistant-request",
        lambda: AssistantResponse(squad_id="squad_1", squad_overrides={"firstMessage": "Hi"}),
    ),
    ("assistant-request", lambda: AssistantResponse(workflow_id="wf_1")),
    (
        "assistant-request",
        lambda: AssistantResponse(
            destination=NumberDestination(
                number="+14155551234",
                extension="123",
                caller_id="{{customer.number}}",
                message="Connecting you now.",
                transfer_plan={"mode": "blind-transfer"},
                number_e164_check_enabled=True,
                name="Front desk",
                description="Reception",
            )
        ),
    ),
    (
        "assistant-request",
        lambda: AssistantResponse(
            destination=SipDestination(
                sip_uri="sip:desk@pbx.example.com",
                sip_headers={"X-Ticket": "42"},
                message=CustomMessage(
                    content="One moment.",
                    contents=[TextContent(text="Einen Moment.", language="de")],
                ),
            )
        ),
    ),
    ("assistant-request", lambda: AssistantResponse(error="Sorry, we are closed.")),
    (
        "tool-calls",
        lambda: ToolCallsResponse(
            results=[
                ToolCallResult(
                    tool_call_id="call_1",
                    name="get_order",
                    result={"status": "shipped"},
                    message=ToolMessage.complete(
                        "It has shipped.", end_call_after_spoken_enabled=False
                    ),
                    metadata={"source": "erp"},
                ),
                ToolCallResult(
                    tool_call_id="call_2",
                    name="cancel_order",
                    error="Order already shipped",
                    message=ToolMessage.failed("It has already shipped.", role="system"),
                ),
            ]
        ),
    ),
    ("tool-calls", lambda: ToolCallsResponse(error="Tool server is down")),
    (
        "transfer-destination-request",
        lambda: TransferDestinationResponse(
            destination=NumberDestination(number="+14155551234"),
            message=ToolMessage(type="request-start", content="Transferring.", blocking=True),
        ),
    ),
    (
        "transfer-destination-request",
        lambda: TransferDestinationResponse(
            destination=SipDestination(sip_uri="sip:a@b.example"),
            message=ToolMessage(
                type="request-response-delayed", content="Still there?", timing_milliseconds=2000
            ),
        ),
    ),
    (
        "transfer-destination-request",
        lambda: TransferDestinationResponse(
            destination=AssistantDestination(
                assistant_name="Billing", transfer_mode="rolling-history", message=""
            ),
            message=ToolMessage.complete("Done."),
        ),
    ),
    ("transfer-destination-request", lambda: TransferDestinationResponse(error="No one is in.")),
    (
        "handoff-destination-request",
        lambda: HandoffDestinationResponse(
            destination=HandoffAssistantDestination(
                assistant_name="Billing",
                variable_extraction_plan={"schema": {"type": "object"}},
            ),
            result="Handing off to billing",
        ),
    ),
    (
        "handoff-destination-request",
        lambda: HandoffDestinationResponse(destination={}, error="No handoff today"),
    ),
    (
        "knowledge-base-request",
        lambda: KnowledgeBaseResponse(
            documents=[
                Document(content="We open at 9.", similarity=0.92, uuid="doc-1"),
                Document(content="We close at 5.", similarity=0.81),
            ]
        ),
    ),
    (
        "knowledge-base-request",
        lambda: KnowledgeBaseResponse(message=CustomMessage(content="We open at 9.")),
    ),
    ("knowledge-base-request", lambda: KnowledgeBaseResponse()),
    ("call.endpointing.request", lambda: EndpointingResponse(timeout_seconds=0.5)),
    ("call.endpointing.request", lambda: EndpointingResponse(timeout_seconds=0)),
    ("campaign.predial", lambda: PredialResponse(eligible=True)),
    ("campaign.predial", lambda: PredialResponse(eligible=False)),
]


@pytest.mark.parametrize(("message_type", "build"), BUILDERS)
def test_builder_output_validates_against_sdk(
    sdk: SimpleNamespace, message_type: str, build: Callable[[], VapiAnswer]
) -> None:
    answer = build()
    assert type(answer).message_type == message_type
    out = answer.to_vapi()
    assert_sdk_accepts(sdk, message_type, out)
    assert answer_to_json(message_type, answer) == out
    assert answer_to_json(message_type, out) == out  # the dict form round-trips


def test_to_vapi_uses_aliases_omits_none_keeps_user_nulls() -> None:
    out = AssistantResponse(
        assistant_id="a", assistant_overrides={"variableValues": {"x": None}}
    ).to_vapi()
    assert out == {"assistantId": "a", "assistantOverrides": {"variableValues": {"x": None}}}


def test_fields_accept_wire_and_python_names() -> None:
    by_alias = NumberDestination.model_validate({"number": "+1415", "callerId": "+1999"})
    by_name = NumberDestination(number="+1415", caller_id="+1999")
    assert by_alias == by_name
    assert by_name.to_vapi() == {"type": "number", "number": "+1415", "callerId": "+1999"}


def test_sdk_model_accepted_as_transient_assistant(sdk: SimpleNamespace) -> None:
    dto = sdk.CreateAssistantDto(name="Ada", first_message="Hello")
    out = AssistantResponse(assistant=dto).to_vapi()
    assert out == {"assistant": {"name": "Ada", "firstMessage": "Hello"}}
    assert_sdk_accepts(sdk, "assistant-request", out)


def test_function_call_answer_shape() -> None:
    assert FunctionCallResponse(result="ok").to_vapi() == {"result": "ok"}
    assert FunctionCallResponse(result={"t": 21}).to_vapi() == {"result": '{"t": 21}'}


def test_handoff_destinations_match_sdk_destination_models(sdk: SimpleNamespace) -> None:
    assistant = HandoffAssistantDestination(assistant_id="asst_1").to_vapi()
    squad = HandoffSquadDestination(squad_id="sq_1", entry_assistant_name="Triage").to_vapi()
    assert list(_sdk_extras(sdk.HandoffAssistant.model_validate(assistant))) == []
    assert list(_sdk_extras(sdk.HandoffSquad.model_validate(squad))) == []
    assert squad == {"type": "squad", "squadId": "sq_1", "entryAssistantName": "Triage"}


def test_handoff_destination_dict_is_checked_when_typed_and_passed_through_otherwise() -> None:
    checked = HandoffDestinationResponse(destination={"type": "assistant", "assistantId": "a"})
    assert isinstance(checked.destination, HandoffAssistantDestination)
    with pytest.raises(ValidationError, match="needs assistantId, assistantName or assistant"):
        HandoffDestinationResponse(destination={"type": "assistant"})
    with pytest.raises(ValidationError, match="needs squadId or squad"):
        HandoffDestinationResponse(destination={"type": "squad"})
    other = {"type": "future-kind", "x": 1}
    assert HandoffDestinationResponse(destination=other).to_vapi() == {"destination": other}


def test_tool_result_becomes_sdk_valid_tool_call_result(sdk: SimpleNamespace) -> None:
    message = {"type": "request-complete", "content": "Shipped."}
    result = ToolResult({"status": "shipped"}, message=message, metadata={"k": 1})
    assert isinstance(result.message, ToolMessage)
    out = result.to_tool_call_result("call_1", "get_order").to_vapi()
    assert out == {
        "toolCallId": "call_1",
        "name": "get_order",
        "result": '{"status": "shipped"}',
        "message": message,
        "metadata": {"k": 1},
    }
    assert list(_sdk_extras(sdk.ToolCallResult.model_validate(out))) == []


def test_tool_result_error_omits_result_and_empty_result_is_null() -> None:
    assert ToolResult(error="No such\norder").to_tool_call_result("c", "f").to_vapi() == {
        "toolCallId": "c",
        "name": "f",
        "error": "No such order",
    }
    assert ToolResult().to_tool_call_result("c", "f").result == "null"


def test_tool_result_refuses_unknown_fields_and_bad_messages() -> None:
    with pytest.raises(ValidationError, match="mesage"):
        ToolResult(mesage="typo")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ToolResult(message={"type": "custom-message", "content": "x"})
    with pytest.raises(ValidationError, match=r"request-start: use message=\"text\""):
        ToolResult(message=ToolMessage(type="request-start", content="x"))


# -- the oracle can fail ---------------------------------------------------------------------

ORACLE_REJECTS = [
    ("tool-calls", {"results": [{"toolCallId": "c1", "result": "ok"}]}),  # no name
    ("campaign.predial", {}),
    ("handoff-destination-request", {"error": "x"}),  # destination is required
    ("knowledge-base-request", {"documents": [{"content": "x"}]}),  # no similarity
    ("assistant-request", {"destination": {"type": "number"}}),  # no number
    ("call.endpointing.request", {"timeoutSeconds": "soon"}),
]


@pytest.mark.parametrize(("message_type", "broken"), ORACLE_REJECTS)
def test_sdk_oracle_rejects_broken_answers(
    sdk: SimpleNamespace, message_type: str, broken: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        sdk.models[message_type].model_validate(broken)
    with pytest.raises(InvalidAnswer):
        answer_to_json(message_type, broken)


# -- safe defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize("message_type", sorted(SDK_MODELS))
def test_safe_answers_validate_against_sdk(sdk: SimpleNamespace, message_type: str) -> None:
    out = safe_answer(message_type, tool_calls=[("call_1", "get_order"), ("call_2", "f")])
    assert_sdk_accepts(sdk, message_type, out)
    assert answer_to_json(message_type, out) == out


def test_safe_answer_values() -> None:
    assert safe_answer("assistant-request").keys() == {"error"}
    assert safe_answer("transfer-destination-request").keys() == {"error"}
    handoff = safe_answer("handoff-destination-request")
    assert handoff["destination"] == {} and handoff["error"]
    assert safe_answer("knowledge-base-request") == {"documents": []}
    assert safe_answer("call.endpointing.request") == {"timeoutSeconds": SAFE_ENDPOINTING_SECONDS}
    assert safe_answer("campaign.predial") == {"eligible": False}
    assert safe_answer("function-call", error="Error: down")["result"] == "Error: down"
    assert safe_answer("assistant-request", error="")["error"]  # empty text -> default
    with pytest.raises(KeyError):
        safe_answer("voice-request")
    with pytest.raises(KeyError):
        safe_answer("end-of-call-report")


def test_safe_tool_calls_has_one_error_per_call(sdk: SimpleNamespace) -> None:
    out = safe_tool_calls([("c1", "a"), ("c2", "b")], "timed out\nafter 15 s")
    assert out == {
        "results": [
            {"toolCallId": "c1", "name": "a", "error": "timed out after 15 s"},
            {"toolCallId": "c2", "name": "b", "error": "timed out after 15 s"},
        ]
    }
    assert_sdk_accepts(sdk, "tool-calls", out)
    empty = safe_tool_calls([], "down")
    assert empty == {"results": [], "error": "down"}
    assert_sdk_accepts(sdk, "tool-calls", empty)


def test_safe_answers_are_fresh_dicts() -> None:
    first = safe_answer("knowledge-base-request")
    first["documents"].append({"content": "x", "similarity": 1})
    assert safe_answer("knowledge-base-request") == {"documents": []}


# -- strict booleans and numbers -------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, "yes"])
def test_predial_eligible_must_be_a_json_boolean(value: object) -> None:
    with pytest.raises(ValidationError):
        PredialResponse(eligible=value)
    with pytest.raises(InvalidAnswer, match="eligible"):
        answer_to_json("campaign.predial", {"eligible": value})


@pytest.mark.parametrize("value", ["0.5", True, -0.1, float("inf"), float("nan")])
def test_endpointing_timeout_must_be_a_finite_non_negative_number(value: object) -> None:
    with pytest.raises(InvalidAnswer, match="timeoutSeconds"):
        answer_to_json("call.endpointing.request", {"timeoutSeconds": value})


def test_endpointing_accepts_int() -> None:
    assert EndpointingResponse(timeout_seconds=2).to_vapi() == {"timeoutSeconds": 2.0}


# -- destination constraints -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"number": "+12"}, True),
        ({"number": "12"}, False),
        ({"number": "1" * 40}, True),
        ({"number": "1" * 41}, False),
        ({"number": "+1415", "extension": "1"}, True),
        ({"number": "+1415", "extension": ""}, False),
        ({"number": "+1415", "extension": "1" * 10}, True),
        ({"number": "+1415", "extension": "1" * 11}, False),
        ({"number": "+1415", "caller_id": "1" * 40}, True),
        ({"number": "+1415", "caller_id": "1" * 41}, False),
    ],
)
def test_number_destination_lengths(fields: dict[str, str], ok: bool) -> None:
    if ok:
        NumberDestination(**fields)
    else:
        with pytest.raises(ValidationError):
            NumberDestination(**fields)


def test_sip_caller_id_length_and_required_fields() -> None:
    with pytest.raises(ValidationError):
        SipDestination(sip_uri="sip:a@b", caller_id="1" * 41)
    with pytest.raises(ValidationError):
        SipDestination()
    with pytest.raises(ValidationError):
        AssistantDestination()
    with pytest.raises(ValidationError):
        AssistantDestination(assistant_name="B", transfer_mode="keep-everything")


def test_constraints_hold_on_assignment() -> None:
    destination = NumberDestination(number="+14155551234")
    with pytest.raises(ValidationError):
        destination.caller_id = "1" * 41


def test_assistant_request_cannot_transfer_to_an_assistant() -> None:
    with pytest.raises(InvalidAnswer, match="number or sip destination"):
        answer_to_json(
            "assistant-request", {"destination": {"type": "assistant", "assistantName": "B"}}
        )


# -- answer-level rules ----------------------------------------------------------------------


def test_assistant_response_needs_an_entry_point_destination_or_error() -> None:
    message = (
        "assistant-request answer needs one of assistantId, assistant, squadId, squad, "
        "workflowId, workflow, destination or error"
    )
    with pytest.raises(ValidationError, match=message):
        AssistantResponse()
    with pytest.raises(InvalidAnswer) as caught:
        answer_to_json("assistant-request", {"assistantOverrides": {"variableValues": {}}})
    assert str(caught.value) == message


def test_assistant_response_refuses_two_entry_points() -> None:
    with pytest.raises(InvalidAnswer, match="assistantId and squadId"):
        answer_to_json("assistant-request", {"assistantId": "a", "squadId": "s"})


def test_transfer_answer_needs_destination_or_error() -> None:
    with pytest.raises(ValidationError, match="needs a destination or an error"):
        TransferDestinationResponse(message=ToolMessage.complete("x"))


def test_tool_calls_answer_rules() -> None:
    with pytest.raises(ValidationError, match="at least one result or an error"):
        ToolCallsResponse()
    with pytest.raises(ValidationError, match="repeats toolCallId c1"):
        ToolCallsResponse(
            results=[
                ToolCallResult(tool_call_id="c1", name="f", result="a"),
                ToolCallResult(tool_call_id="c1", name="f", result="b"),
            ]
        )


def test_tool_result_message_must_be_complete_or_failed() -> None:
    with pytest.raises(ValidationError, match="request-complete or request-failed"):
        ToolCallResult(
            tool_call_id="c",
            name="f",
            message=ToolMessage(type="request-start", content="Working on it"),
        )


def test_tool_message_fields_fit_its_type() -> None:
    with pytest.raises(ValidationError, match="role applies only to"):
        ToolMessage(type="request-start", content="x", role="system")
    with pytest.raises(ValidationError, match="blocking applies only to request-start"):
        ToolMessage(type="request-complete", blocking=True)
    with pytest.raises(ValidationError, match="timingMilliseconds applies only to"):
        ToolMessage(type="request-failed", timing_milliseconds=100)


def test_knowledge_base_accepts_docs_style_message(sdk: SimpleNamespace) -> None:
    out = answer_to_json(
        "knowledge-base-request", {"message": {"role": "assistant", "content": "Open at 9."}}
    )
    assert out == {
        "documents": [],
        "message": {"type": "custom-message", "content": "Open at 9.", "role": "assistant"},
    }
    sdk.models["knowledge-base-request"].model_validate(out)


def test_tool_call_result_stringifies_and_flattens() -> None:
    result = ToolCallResult(tool_call_id="c", name="f", result=[1, 2], error="bad\r\nthing")
    assert (result.result, result.error) == ("[1, 2]", "bad thing")


# -- answer_to_json --------------------------------------------------------------------------


def test_answer_to_json_validates_a_plain_dict() -> None:
    answer = {"results": [{"toolCallId": "c1", "name": "f", "result": {"ok": True}}]}
    assert answer_to_json("tool-calls", answer) == {
        "results": [{"toolCallId": "c1", "name": "f", "result": '{"ok": true}'}]
    }
    assert answer_to_json("campaign.predial", {"eligible": True}) == {"eligible": True}
    assert answer_to_json("call.endpointing.request", {"timeout_seconds": 1}) == {
        "timeoutSeconds": 1.0
    }


@pytest.mark.parametrize(
    ("message_type", "answer", "expected"),
    [
        (
            "tool-calls",
            {"results": [{"toolCallId": "c1", "result": "ok"}]},
            "invalid tool-calls answer: results[0].name: Field required",
        ),
        (
            "tool-calls",
            {"results": [{"toolCallId": "c1", "name": "f"}, {"name": "g"}]},
            "invalid tool-calls answer: results[1].toolCallId: Field required",
        ),
        (
            "assistant-request",
            {"destination": {"type": "number", "number": "+1415", "callerId": "x" * 41}},
            "invalid assistant-request answer: destination.callerId: String should have at most "
            "40 characters",
        ),
        (
            "transfer-destination-request",
            {"destination": {"type": "sip"}},
            "invalid transfer-destination-request answer: destination.sipUri: Field required",
        ),
        (
            "campaign.predial",
            {"eligible": "true"},
            "invalid campaign.predial answer: eligible: Input should be a valid boolean "
            "(got 'true')",
        ),
        (
            "knowledge-base-request",
            {"documents": [{"content": "x", "similarity": "high"}]},
            "invalid knowledge-base-request answer: documents[0].similarity: Input should be a "
            "valid number",
        ),
        (
            "handoff-destination-request",
            {"result": "x"},
            "invalid handoff-destination-request answer: destination: Field required",
        ),
        (
            "function-call",
            {},
            "invalid function-call answer: result: Field required",
        ),
    ],
)
def test_answer_to_json_names_the_field(
    message_type: str, answer: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        answer_to_json(message_type, answer)
    assert str(caught.value).startswith(expected)


def test_invalid_answer_is_a_value_error_and_a_receiver_error() -> None:
    assert issubclass(InvalidAnswer, ValueError)
    assert issubclass(InvalidAnswer, ReceiverError)


def test_answer_to_json_refuses_a_model_of_another_type() -> None:
    with pytest.raises(InvalidAnswer, match="must be a ToolCallsResponse or a mapping, not "):
        answer_to_json("tool-calls", AssistantResponse(assistant_id="a"))


@pytest.mark.parametrize("answer", [None, "ok", ["eligible"], 3, b"{}"])
def test_answer_to_json_refuses_non_mappings(answer: object) -> None:
    with pytest.raises(InvalidAnswer, match=r"campaign\.predial answer must be a PredialResponse"):
        answer_to_json("campaign.predial", answer)


def test_answer_to_json_explains_tool_result() -> None:
    with pytest.raises(InvalidAnswer, match="what one tool function returns"):
        answer_to_json("tool-calls", ToolResult("ok"))


def test_answer_to_json_refuses_non_string_keys() -> None:
    with pytest.raises(InvalidAnswer, match="keys must be strings"):
        answer_to_json("campaign.predial", {1: True})


def test_answer_to_json_voice_and_unknown_types() -> None:
    assert "voice-request" not in RESPONSE_MODELS
    with pytest.raises(InvalidAnswer, match="raw PCM"):
        answer_to_json("voice-request", {"data": "..."})
    with pytest.raises(InvalidAnswer, match="not a request type"):
        answer_to_json("end-of-call-report", {})


def test_response_models_cover_every_json_request_type() -> None:
    assert set(RESPONSE_MODELS) == {*SDK_MODELS, "function-call"}
    for message_type, model in RESPONSE_MODELS.items():
        assert model.message_type == message_type


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def receiver_log() -> Iterator[_ListHandler]:
    """Records of the `vapi_receiver` logger, however logging is configured elsewhere."""
    logger = logging.getLogger("vapi_receiver")
    handler = _ListHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    validation_module._already_reported.clear()
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        validation_module._already_reported.clear()


def test_unknown_keys_pass_through_and_are_reported_once(receiver_log: _ListHandler) -> None:
    answer = {
        "results": [{"toolCallId": "c1", "name": "f", "reslt": "typo"}],
        "futureFlag": True,
    }
    out = answer_to_json("tool-calls", answer)
    assert out == answer
    assert [r.levelno for r in receiver_log.records] == [logging.WARNING]
    text = receiver_log.records[0].getMessage()
    assert "tool-calls" in text and "futureFlag, results[0].reslt" in text
    answer_to_json("tool-calls", answer)
    assert [r.levelno for r in receiver_log.records] == [logging.WARNING, logging.DEBUG]


def test_models_report_extras_too(receiver_log: _ListHandler) -> None:
    answer = PredialResponse(eligible=True, reason="on the list")
    assert unknown_keys(answer) == ["reason"]
    assert answer_to_json("campaign.predial", answer) == {"eligible": True, "reason": "on the list"}
    assert len(receiver_log.records) == 1


def test_known_answers_log_nothing(receiver_log: _ListHandler) -> None:
    answer_to_json("assistant-request", {"assistantId": "a", "assistantOverrides": {"x": 1}})
    assert receiver_log.records == []


# -- stringify_result ------------------------------------------------------------------------


class _Order(BaseModel):
    id: int
    status: str


@dataclasses.dataclass
class _Parcel:
    weight_kg: float
    sent: datetime.date


STRINGIFY_CASES: list[tuple[object, str]] = [
    ("plain", "plain"),
    ("two\nlines", "two lines"),
    ("windows\r\nline", "windows line"),
    ("old mac\rline", "old mac line"),
    ("para\n\n\ngraphs\r\n\r\nhere", "para graphs here"),
    ("", ""),
    ({"status": "shipped"}, '{"status": "shipped"}'),
    ({"note": "a\nb"}, '{"note": "a\\nb"}'),
    ([1, "two", None], '[1, "two", null]'),
    (_Order(id=7, status="open"), '{"id": 7, "status": "open"}'),
    (_Parcel(1.5, datetime.date(2025, 1, 2)), '{"weight_kg": 1.5, "sent": "2025-01-02"}'),
    (datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), '"2025-01-02T03:04:05Z"'),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), '"12345678-1234-5678-1234-567812345678"'),
    (None, "null"),
    (42, "42"),
    (-1.25, "-1.25"),
    (True, "true"),
    ({"name": "Zoë", "city": "Kraków"}, '{"name": "Zoë", "city": "Kraków"}'),
]


@pytest.mark.parametrize(("value", "expected"), STRINGIFY_CASES)
def test_stringify_result(value: object, expected: str) -> None:
    text = stringify_result(value)
    assert text == expected
    assert "\n" not in text and "\r" not in text


def test_stringify_result_refuses_values_without_json_form() -> None:
    with pytest.raises(TypeError, match="cannot be JSON-encoded"):
        stringify_result(object())
    with pytest.raises(InvalidAnswer, match=r"results\[0\]\.result: .*cannot be JSON-encoded"):
        answer_to_json(
            "tool-calls", {"results": [{"toolCallId": "c", "name": "f", "result": object()}]}
        )
