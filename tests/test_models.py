"""Tests of `receiver.models`: every message type against the official SDK, and our parsing.

Each payload is built here, camelCase like Vapi sends it, validated by the SDK model of its type
(vapi-server-sdk, the schema oracle, imported once per session because its import is slow) and
parsed by `parse_message`.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from receiver.message_types import KNOWN_TYPES
from receiver.models import (
    FUNCTION_CALL_ID,
    MESSAGE_MODELS,
    REDACTED,
    AssistantRequestMessage,
    AssistantSpeechStartedMessage,
    CallArtifactUploadMessage,
    CallDeletedMessage,
    CallDeleteFailedMessage,
    CallEndpointingRequestMessage,
    CampaignPredialMessage,
    ChatCreatedMessage,
    ChatDeletedMessage,
    ConversationUpdateMessage,
    EndOfCallReportMessage,
    FunctionCallMessage,
    HandoffDestinationRequestMessage,
    HangMessage,
    KnowledgeBaseRequestMessage,
    LanguageChangeDetectedMessage,
    Message,
    ModelOutputMessage,
    PhoneCallControlMessage,
    PhoneNumber,
    SessionCreatedMessage,
    SessionDeletedMessage,
    SessionUpdatedMessage,
    SpeechUpdateMessage,
    StatusUpdateMessage,
    ToolCall,
    ToolCallsMessage,
    TranscriptMessage,
    TransferDestinationRequestMessage,
    TransferUpdateMessage,
    UnknownMessage,
    UserInterruptedMessage,
    VoiceInputMessage,
    VoiceRequestMessage,
    from_function_call,
    is_secret_key,
    normalise_tool_calls,
    parse_message,
    redact,
)

T0_MS = 1748289798737
T0 = datetime(2025, 5, 26, 20, 3, 18, 737000, tzinfo=UTC)
ISO = "2025-05-26T20:03:18.737Z"
FINAL_TRANSCRIPT = 'transcript[transcriptType="final"]'

SdkModel = type[BaseModel]


@pytest.fixture(scope="session")
def sdk() -> Callable[[str], SdkModel]:
    """`sdk("server_message_hang")` is the SDK's `ServerMessageHang` model."""

    def model(module: str) -> SdkModel:
        cls: SdkModel = getattr(
            importlib.import_module(f"vapi.types.{module}"),
            "".join(part.title() for part in module.split("_")),
        )
        return cls

    return model


@pytest.fixture(scope="session")
def sdk_union() -> tuple[SdkModel, ...]:
    """The 29 members of the SDK's `ServerMessage.message` union."""
    from vapi.types.server_message_message import ServerMessageMessage

    return typing.get_args(ServerMessageMessage)


# -- payload builders ----------------------------------------------------------------------


def customer() -> dict[str, Any]:
    return {"number": "+15550001111", "name": "Ada"}


def call(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "call-1",
        "orgId": "org-1",
        "createdAt": ISO,
        "updatedAt": ISO,
        "startedAt": ISO,
        "type": "inboundPhoneCall",
        "status": "in-progress",
        "phoneNumberId": "pn-1",
        "assistantId": "asst-1",
        "customer": customer(),
        "phoneCallProvider": "twilio",
        "phoneCallProviderId": "CA0123",
        "phoneCallTransport": "pstn",
        "monitor": {
            "listenUrl": "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/listen",
            "controlUrl": "https://phone-call-websocket.vapi.ai/call-1/control",
        },
        **overrides,
    }


def phone_number() -> dict[str, Any]:
    """The stored row Vapi embeds, secrets included (protocol.md#phone-number-in-payloads)."""
    return {
        "id": "pn-1",
        "orgId": "org-1",
        "number": "+15550002222",
        "name": "Main line",
        "assistantId": None,
        "squadId": None,
        "workflowId": None,
        "provider": "twilio",
        "status": "active",
        "createdAt": ISO,
        "updatedAt": ISO,
        "serverUrl": "https://example.com/phone-number",
        "serverUrlSecret": "pn-secret-value",
        "server": {"url": "https://example.com/phone-number", "credentialId": "cred-1"},
        "credentialId": None,
        "twilioAccountSid": "AC0123",
        "twilioAuthToken": "twilio-token-value",
        "sipUri": None,
        "fallbackDestination": None,
        "hooks": [],
        "stripeSubscriptionId": None,
    }


def assistant() -> dict[str, Any]:
    return {
        "id": "asst-1",
        "name": "Riley",
        "firstMessage": "Hi, how can I help?",
        "serverMessages": ["end-of-call-report", "tool-calls", "status-update"],
        "model": {"provider": "openai", "model": "gpt-4o", "maxTokens": 250},
        "server": {
            "url": "https://example.com/assistant",
            "timeoutSeconds": 20,
            "secret": "legacy-secret-value",
            "headers": {"Authorization": "Bearer header-token-value", "X-Team": "voice"},
        },
    }


def conversation() -> list[dict[str, Any]]:
    """`artifact.messages`: one item of each role, times in epoch ms."""
    return [
        {"role": "system", "message": "You are Riley.", "time": T0_MS, "secondsFromStart": 0},
        {
            "role": "bot",
            "message": "Hi, how can I help?",
            "time": T0_MS + 1000,
            "endTime": T0_MS + 2500,
            "secondsFromStart": 1.0,
            "duration": 1500,
            "source": "",
        },
        {
            "role": "user",
            "message": "What's the weather in Paris?",
            "time": T0_MS + 3000,
            "endTime": T0_MS + 4200,
            "secondsFromStart": 3.0,
            "duration": 1200,
        },
        {
            "role": "tool_calls",
            "message": "",
            "time": T0_MS + 4500,
            "secondsFromStart": 4.5,
            "toolCalls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool_call_result",
            "toolCallId": "call_abc",
            "name": "get_weather",
            "result": "Sunny, 21 C",
            "time": T0_MS + 4800,
            "secondsFromStart": 4.8,
        },
    ]


def openai_conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are Riley."},
        {"role": "assistant", "content": "Hi, how can I help?"},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "Sunny, 21 C"},
    ]


def artifact() -> dict[str, Any]:
    return {
        "messages": conversation(),
        "messagesOpenAIFormatted": openai_conversation(),
        "transcript": "AI: Hi, how can I help?\nUser: What's the weather in Paris?\n",
        "recordingUrl": "https://storage.vapi.ai/call-1-mono.wav",
        "stereoRecordingUrl": "https://storage.vapi.ai/call-1-stereo.wav",
        "variableValues": {"customerName": "Ada"},
        "structuredOutputs": {"out-1": {"name": "city", "result": "Paris"}},
    }


def envelope(kind: str, *, drop: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A `message` object of type `kind` with the common envelope, minus `drop`."""
    message: dict[str, Any] = {
        "type": kind,
        "timestamp": T0_MS,
        "call": call(),
        "phoneNumber": phone_number(),
        "customer": customer(),
        "assistant": assistant(),
        "assistantVersion": "v3",
        "artifact": artifact(),
        **fields,
    }
    for key in drop:
        del message[key]
    return message


def tool_calls_fields() -> dict[str, Any]:
    call_item = {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    return {
        "toolCallList": [call_item],
        "toolWithToolCallList": [
            {
                "type": "function",
                "id": "tool-1",
                "async": False,
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                "server": {"url": "https://example.com/tools", "timeoutSeconds": 10},
                "toolCall": copy.deepcopy(call_item),
            }
        ],
    }


def chat() -> dict[str, Any]:
    return {
        "id": "chat-1",
        "orgId": "org-1",
        "createdAt": ISO,
        "updatedAt": ISO,
        "assistantId": "asst-1",
        "input": "Hello",
        "sessionId": "session-1",
    }


def session() -> dict[str, Any]:
    return {
        "id": "session-1",
        "orgId": "org-1",
        "createdAt": ISO,
        "updatedAt": ISO,
        "status": "active",
        "name": "Support",
        "assistantId": "asst-1",
    }


NO_CALL = ("call", "phoneNumber", "customer", "artifact")


@dataclass(frozen=True)
class Case:
    """One message type: its payload, SDK model, our model and what parsing must yield."""

    kind: str
    sdk_module: str | None
    model: type[Message]
    fields: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    #: Keys the SDK requires besides `type`; dropping any must fail both validations.
    required: tuple[str, ...] = ()
    #: attribute path -> expected value after `parse_message`.
    expect: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return envelope(self.kind, drop=self.drop, **copy.deepcopy(self.fields))


CASES = [
    Case(
        "assistant-request",
        "server_message_assistant_request",
        AssistantRequestMessage,
        drop=("assistant", "artifact", "assistantVersion"),
        expect={"assistant": None, "call.phone_number_id": "pn-1"},
    ),
    Case(
        "conversation-update",
        "server_message_conversation_update",
        ConversationUpdateMessage,
        {"messages": conversation(), "messagesOpenAIFormatted": openai_conversation()},
        required=("messagesOpenAIFormatted",),
        expect={
            "messages_open_ai_formatted": openai_conversation(),
            "messages[2].message": "What's the weather in Paris?",
        },
    ),
    Case(
        "end-of-call-report",
        "server_message_end_of_call_report",
        EndOfCallReportMessage,
        {
            "endedReason": "customer-ended-call",
            "analysis": {
                "summary": "The caller asked about the weather.",
                "structuredData": {"city": "Paris"},
                "successEvaluation": "true",
            },
            "cost": 0.1234,
            "startedAt": ISO,
            "endedAt": "2025-05-26T20:05:18.737Z",
            "destination": {"type": "number", "number": "+15550003333"},
        },
        required=("endedReason", "artifact", "analysis"),
        expect={
            "ended_reason": "customer-ended-call",
            "analysis.summary": "The caller asked about the weather.",
            "analysis.structured_data": {"city": "Paris"},
            "cost": 0.1234,
            "started_at": T0,
            "ended_at": T0 + timedelta(minutes=2),
            "destination.number": "+15550003333",
            "artifact.recording_url": "https://storage.vapi.ai/call-1-mono.wav",
            "artifact.messages[3].tool_calls[0]['id']": "call_abc",
            "artifact.messages[4].result": "Sunny, 21 C",
            "artifact.messages[1].end_time": T0 + timedelta(milliseconds=2500),
        },
    ),
    Case(
        "handoff-destination-request",
        "server_message_handoff_destination_request",
        HandoffDestinationRequestMessage,
        {"parameters": {"destination": "dynamic", "department": "billing"}},
        required=("parameters",),
        expect={"parameters": {"destination": "dynamic", "department": "billing"}},
    ),
    Case("hang", "server_message_hang", HangMessage),
    Case(
        "knowledge-base-request",
        "server_message_knowledge_base_request",
        KnowledgeBaseRequestMessage,
        {"messages": conversation(), "messagesOpenAIFormatted": openai_conversation()},
        required=("messagesOpenAIFormatted",),
        expect={"messages_open_ai_formatted[2]['content']": "What's the weather in Paris?"},
    ),
    Case(
        "model-output",
        "server_message_model_output",
        ModelOutputMessage,
        {"output": {"content": "Sunny"}, "turnId": "turn-7"},
        required=("output",),
        expect={"output": {"content": "Sunny"}, "turn_id": "turn-7"},
    ),
    Case(
        "phone-call-control",
        "server_message_phone_call_control",
        PhoneCallControlMessage,
        {"request": "forward", "destination": {"type": "number", "number": "+15550004444"}},
        required=("request",),
        expect={"request": "forward", "destination.type": "number"},
    ),
    Case(
        "speech-update",
        "server_message_speech_update",
        SpeechUpdateMessage,
        {"status": "started", "role": "assistant", "turn": 2},
        required=("status", "role"),
        expect={"status": "started", "role": "assistant", "turn": 2},
    ),
    Case(
        "status-update",
        "server_message_status_update",
        StatusUpdateMessage,
        {"status": "ended", "endedReason": "assistant-ended-call"},
        required=("status",),
        expect={"status": "ended", "ended_reason": "assistant-ended-call"},
    ),
    Case(
        "tool-calls",
        "server_message_tool_calls",
        ToolCallsMessage,
        tool_calls_fields(),
        expect={
            "tool_calls[0].id": "call_abc",
            "tool_calls[0].name": "get_weather",
            "tool_calls[0].arguments": {"city": "Paris"},
            "tool_calls[0].tool['id']": "tool-1",
            "tool_call_list[0]['id']": "call_abc",
        },
    ),
    Case(
        "transfer-destination-request",
        "server_message_transfer_destination_request",
        TransferDestinationRequestMessage,
    ),
    Case(
        "transfer-update",
        "server_message_transfer_update",
        TransferUpdateMessage,
        {
            "destination": {"type": "assistant", "assistantName": "Billing"},
            "toAssistant": {"name": "Billing"},
            "fromAssistant": {"name": "Riley"},
        },
        expect={
            "destination.assistant_name": "Billing",
            "to_assistant.name": "Billing",
            "from_assistant.name": "Riley",
        },
    ),
    Case(
        "transcript",
        "server_message_transcript",
        TranscriptMessage,
        {"role": "user", "transcriptType": "partial", "transcript": "What's the"},
        required=("role", "transcriptType", "transcript"),
        expect={"role": "user", "transcript_type": "partial", "transcript": "What's the"},
    ),
    Case(
        FINAL_TRANSCRIPT,
        "server_message_transcript",
        TranscriptMessage,
        {"role": "user", "transcriptType": "final", "transcript": "Hi", "confidence": 0.93},
        required=("role", "transcriptType", "transcript"),
        expect={"transcript_type": "final", "confidence": 0.93},
    ),
    Case(
        "user-interrupted",
        "server_message_user_interrupted",
        UserInterruptedMessage,
        {"turnId": "turn-7"},
        expect={"turn_id": "turn-7"},
    ),
    Case(
        "language-change-detected",
        "server_message_language_change_detected",
        LanguageChangeDetectedMessage,
        {"language": "es"},
        required=("language",),
        expect={"language": "es"},
    ),
    Case(
        "voice-input",
        "server_message_voice_input",
        VoiceInputMessage,
        {"input": "Sunny, 21 degrees."},
        required=("input",),
        expect={"input": "Sunny, 21 degrees."},
    ),
    Case(
        "assistant.speechStarted",
        "server_message_assistant_speech",
        AssistantSpeechStartedMessage,
        {
            "text": "Hi there",
            "turn": 1,
            "source": "model",
            "timing": {
                "type": "word-alignment",
                "words": ["Hi", " ", "there"],
                "wordsStartTimesMs": [0, 120, 130],
                "wordsEndTimesMs": [120, 130, 400],
            },
        },
        required=("text",),
        expect={"text": "Hi there", "turn": 1, "source": "model"},
    ),
    Case(
        "voice-request",
        "server_message_voice_request",
        VoiceRequestMessage,
        {"text": "Hello", "sampleRate": 24000},
        required=("text", "sampleRate"),
        expect={"text": "Hello", "sample_rate": 24000},
    ),
    Case(
        "call.endpointing.request",
        "server_message_call_endpointing_request",
        CallEndpointingRequestMessage,
        {"messages": conversation(), "messagesOpenAIFormatted": openai_conversation()},
        required=("messagesOpenAIFormatted",),
        expect={"messages[0].role": "system"},
    ),
    Case(
        "chat.created",
        "server_message_chat_created",
        ChatCreatedMessage,
        {"chat": chat()},
        drop=NO_CALL,
        required=("chat",),
        expect={"chat.id": "chat-1", "chat.session_id": "session-1", "call": None},
    ),
    Case(
        "chat.deleted",
        "server_message_chat_deleted",
        ChatDeletedMessage,
        {"chat": chat()},
        drop=NO_CALL,
        required=("chat",),
        expect={"chat.id": "chat-1", "chat.created_at": T0},
    ),
    Case(
        "session.created",
        "server_message_session_created",
        SessionCreatedMessage,
        {"session": session()},
        drop=NO_CALL,
        required=("session",),
        expect={"session.id": "session-1", "session.status": "active"},
    ),
    Case(
        "session.updated",
        "server_message_session_updated",
        SessionUpdatedMessage,
        {"session": session()},
        drop=NO_CALL,
        required=("session",),
        expect={"session.name": "Support"},
    ),
    Case(
        "session.deleted",
        "server_message_session_deleted",
        SessionDeletedMessage,
        {"session": session()},
        drop=NO_CALL,
        required=("session",),
        expect={"session.updated_at": T0},
    ),
    Case("call.deleted", "server_message_call_deleted", CallDeletedMessage),
    Case("call.delete.failed", "server_message_call_delete_failed", CallDeleteFailedMessage),
    Case(
        "call.artifact.upload",
        "server_message_call_artifact_upload",
        CallArtifactUploadMessage,
        {
            "artifacts": [
                {"type": "recording-mono", "success": True},
                {"type": "log", "success": False},
            ]
        },
        required=("artifacts",),
        expect={"artifacts[0].type": "recording-mono", "artifacts[1].success": False},
    ),
    Case(
        "campaign.predial",
        "server_message_campaign_predial",
        CampaignPredialMessage,
        {
            "campaignId": "camp-1",
            "contact": {
                "id": "contact-1",
                "campaignId": "camp-1",
                "orgId": "org-1",
                "number": "+15550005555",
                "createdAt": ISO,
            },
        },
        required=("campaignId", "contact"),
        expect={"campaign_id": "camp-1", "contact.number": "+15550005555"},
    ),
    Case(
        "function-call",
        None,
        FunctionCallMessage,
        {"functionCall": {"name": "get_weather", "parameters": {"city": "Paris"}}},
        required=("functionCall",),
        expect={"function_call": {"name": "get_weather", "parameters": {"city": "Paris"}}},
    ),
]
SDK_CASES = [case for case in CASES if case.sdk_module is not None]
REQUIRED = [(case, key) for case in CASES for key in case.required]


def _ids(case: Case) -> str:
    return case.kind


def resolve(obj: Any, path: str) -> Any:
    """`resolve(msg, "artifact.messages[3].tool_calls[0]['id']")`, with `['key']` for dicts."""
    for part in path.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]"):
            index = part[1:-1]
            obj = obj[index.strip("'")] if index.startswith("'") else obj[int(index)]
        else:
            obj = attrgetter(part)(obj)
    return obj


# -- every type against the SDK ------------------------------------------------------------


@pytest.mark.parametrize("case", SDK_CASES, ids=_ids)
def test_payload_is_valid_for_the_sdk(case: Case, sdk: Callable[[str], SdkModel]) -> None:
    assert case.sdk_module is not None
    parsed = sdk(case.sdk_module).model_validate(case.payload())
    assert parsed.type == case.kind  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_a_call_without_id_is_rejected_by_both(case: Case, sdk: Callable[[str], SdkModel]) -> None:
    payload = case.payload()
    payload["call"] = {"orgId": "org-1", "createdAt": ISO, "updatedAt": ISO}
    if case.sdk_module is not None:
        with pytest.raises(ValidationError):
            sdk(case.sdk_module).model_validate(payload)
    with pytest.raises(ValidationError, match=r"call\.id"):
        parse_message(payload)


@pytest.mark.parametrize(("case", "key"), REQUIRED, ids=lambda v: v if isinstance(v, str) else "")
def test_a_required_field_missing_is_rejected_by_both(
    case: Case, key: str, sdk: Callable[[str], SdkModel]
) -> None:
    payload = case.payload()
    del payload[key]
    if case.sdk_module is not None:
        with pytest.raises(ValidationError):
            sdk(case.sdk_module).model_validate(payload)
    with pytest.raises(ValidationError, match=key):
        parse_message(payload)


def _literal_types(model: SdkModel) -> list[str]:
    annotation = model.model_fields["type"].annotation
    literals = [a for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal]
    return [value for literal in literals for value in typing.get_args(literal)]


def test_every_sdk_union_member_has_its_own_model(sdk_union: tuple[SdkModel, ...]) -> None:
    assert len(sdk_union) == 29
    kinds = [kind for member in sdk_union for kind in _literal_types(member)]
    assert len(kinds) == 30  # transcript has two spellings
    for kind in kinds:
        assert MESSAGE_MODELS[kind] is not Message, kind
        assert issubclass(MESSAGE_MODELS[kind], Message)
    assert {case.kind for case in SDK_CASES} == set(kinds)


# Where we knowingly require less than the SDK: tool-calls has one list or the other in the
# docs and in third-party payloads (docs/protocol.md#tool-call-shapes), and `type` is always known.
REQUIRED_DEVIATIONS = {"tool-calls": {"toolCallList", "toolWithToolCallList"}}


def test_required_fields_match_the_sdk(sdk_union: tuple[SdkModel, ...]) -> None:
    for member in sdk_union:
        kind = _literal_types(member)[0]
        ours = MESSAGE_MODELS[kind].model_fields
        theirs = member.model_fields
        sdk_required = {f.alias or n for n, f in theirs.items() if f.is_required()} | {"type"}
        our_required = {f.alias or n for n, f in ours.items() if f.is_required()}
        if kind == "tool-calls":
            our_required.add("type")
        assert our_required == sdk_required - REQUIRED_DEVIATIONS.get(kind, set()), kind


# -- parse_message --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_parse_message_builds_the_model_of_the_type(case: Case) -> None:
    payload = case.payload()
    message = parse_message(payload)
    assert type(message) is case.model
    assert message.type == case.kind
    assert message.raw is payload
    assert message.timestamp == T0
    for path, expected in case.expect.items():
        assert resolve(message, path) == expected, path


@pytest.mark.parametrize("case", [c for c in CASES if "call" not in c.drop], ids=_ids)
def test_the_envelope_is_typed(case: Case) -> None:
    message = parse_message(case.payload())
    assert message.call is not None
    assert message.call.id == "call-1"
    assert message.call.org_id == "org-1"
    assert message.call.created_at == T0
    assert message.call.customer is not None
    assert message.call.customer.number == "+15550001111"
    assert message.call.monitor is not None
    assert message.call.monitor.control_url == "https://phone-call-websocket.vapi.ai/call-1/control"
    assert message.phone_number is not None
    assert message.phone_number.id == "pn-1"
    assert message.phone_number.server is not None
    assert message.phone_number.server.credential_id == "cred-1"
    assert message.customer is not None
    assert message.customer.name == "Ada"


def test_catalogue_types_all_have_a_model() -> None:
    assert set(MESSAGE_MODELS) == KNOWN_TYPES | {FINAL_TRANSCRIPT}
    for kind in ("assistant.started", "language-changed", "campaign.started", "contact.failed"):
        assert MESSAGE_MODELS[kind] is Message


def test_a_schemaless_known_type_parses_to_message() -> None:
    payload = {"type": "assistant.started", "newAssistant": {"name": "Billing"}, "call": call()}
    message = parse_message(payload)
    assert type(message) is Message
    assert message.call is not None
    assert message.model_extra == {"newAssistant": {"name": "Billing"}}


def test_unknown_type_parses_to_unknown_message_with_raw_kept() -> None:
    payload = {"type": "call.teleported", "call": call(), "destination": {"planet": "Mars"}}
    message = parse_message(payload)
    assert type(message) is UnknownMessage
    assert message.type == "call.teleported"
    assert message.raw is payload
    assert message.call is not None
    assert message.call.id == "call-1"
    assert message.destination == {"planet": "Mars"}  # type: ignore[attr-defined]


def test_unknown_type_with_an_unfitting_envelope_still_parses() -> None:
    payload = {"type": "call.teleported", "call": "not-an-object", "timestamp": "soon", "x": 1}
    message = parse_message(payload)
    assert type(message) is UnknownMessage
    assert message.call is None
    assert message.timestamp is None
    assert message.model_extra == {"x": 1}
    assert message.raw["call"] == "not-an-object"


@pytest.mark.parametrize(
    "payload",
    [{}, {"type": None}, {"type": 7}],
    ids=["missing", "null", "number"],
)
def test_a_message_without_a_string_type_raises(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_message(payload)


@pytest.mark.parametrize(
    ("kind", "fields", "location"),
    [
        ("voice-request", {"text": "Hi", "sampleRate": "fast"}, "sampleRate"),
        ("speech-update", {"status": "started", "role": 5}, "role"),
        ("end-of-call-report", {"endedReason": "x", "analysis": {}, "artifact": "x"}, "artifact"),
        ("hang", {"timestamp": "yesterday-ish"}, "timestamp"),
        ("hang", {"call": call(createdAt="not a date")}, "createdAt"),
        ("tool-calls", {"toolCallList": "not a list"}, "toolCallList"),
    ],
)
def test_a_known_type_with_a_wrong_field_type_raises(
    kind: str, fields: dict[str, Any], location: str
) -> None:
    with pytest.raises(ValidationError, match=location):
        parse_message(envelope(kind, **fields))


def test_parse_message_accepts_any_mapping() -> None:
    from types import MappingProxyType

    message = parse_message(MappingProxyType({"type": "hang", "timestamp": T0_MS}))
    assert isinstance(message, HangMessage)
    assert message.raw == {"type": "hang", "timestamp": T0_MS}


def test_raw_of_a_message_built_directly_is_derived_from_its_fields() -> None:
    message = VoiceRequestMessage(type="voice-request", text="Hi", sample_rate=8000)
    assert message.raw == {"type": "voice-request", "text": "Hi", "sampleRate": 8000}


# -- leniency: extra keys, open enums --------------------------------------------------------


def test_extra_keys_are_kept_at_every_level() -> None:
    payload = envelope("end-of-call-report", endedReason="x", analysis={"mood": "happy"})
    payload["brandNewField"] = {"a": 1}
    payload["call"]["callNewField"] = [1, 2]
    payload["artifact"]["messages"][2]["speakerEmotion"] = "curious"
    payload["phoneNumber"]["useClusterSip"] = True
    message = parse_message(payload)
    assert isinstance(message, EndOfCallReportMessage)
    assert message.model_extra == {"brandNewField": {"a": 1}}
    assert message.brandNewField == {"a": 1}  # type: ignore[attr-defined]
    assert message.call is not None
    assert message.call.model_extra == {"callNewField": [1, 2]}
    assert message.artifact.messages is not None
    assert message.artifact.messages[2].model_extra == {"speakerEmotion": "curious"}
    assert message.analysis.model_extra == {"mood": "happy"}
    assert message.phone_number is not None
    assert message.phone_number.model_extra == {"stripeSubscriptionId": None, "useClusterSip": True}


def test_open_enum_values_are_accepted(sdk: Callable[[str], SdkModel]) -> None:
    payload = envelope(
        "status-update",
        status="teleporting",
        endedReason="pipeline-error-quantum-llm-failed",
        call=call(type="holoCall", status="teleporting", phoneCallProvider="carrier-pigeon"),
    )
    payload["phoneNumber"]["status"] = "hibernating"
    sdk("server_message_status_update").model_validate(payload)  # the SDK's enums are open too
    message = parse_message(payload)
    assert isinstance(message, StatusUpdateMessage)
    assert message.status == "teleporting"
    assert message.ended_reason == "pipeline-error-quantum-llm-failed"
    assert message.call is not None
    assert message.call.type == "holoCall"
    assert message.call.phone_call_provider == "carrier-pigeon"
    speech = parse_message(envelope("speech-update", status="paused", role="narrator"))
    assert isinstance(speech, SpeechUpdateMessage)
    assert (speech.status, speech.role) == ("paused", "narrator")


def test_models_accept_snake_case_names() -> None:
    number = PhoneNumber(server_url_secret="s", org_id="org-1")
    assert number.server_url_secret == "s"
    assert number.org_id == "org-1"
    assert PhoneNumber.model_validate({"org_id": "a"}).org_id == "a"


def test_messages_are_not_frozen() -> None:
    message = parse_message(envelope("hang"))
    message.assistant_version = "v4"
    assert message.assistant_version == "v4"


# -- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0_MS, T0),
        (float(T0_MS) + 0.5, T0 + timedelta(microseconds=500)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (ISO, T0),
        ("2025-05-26T22:03:18.737+02:00", T0),
        ("2025-05-26T20:03:18.737", T0),
    ],
    ids=["ms-int", "ms-float", "ms-zero", "iso-z", "iso-offset", "iso-naive"],
)
def test_timestamps_are_utc_datetimes(value: Any, expected: datetime) -> None:
    message = parse_message({"type": "hang", "timestamp": value})
    assert message.timestamp == expected
    assert message.timestamp is not None
    assert message.timestamp.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    ["yesterday", 1e30, float("nan"), True, [T0_MS]],
    ids=["words", "overflow", "nan", "bool", "list"],
)
def test_invalid_timestamps_raise(value: Any) -> None:
    with pytest.raises(ValidationError, match="timestamp"):
        parse_message({"type": "hang", "timestamp": value})


def test_the_sdk_rejects_iso_timestamps_that_we_accept(sdk: Callable[[str], SdkModel]) -> None:
    # protocol.md#timestamp-format: 2024-era payloads carry an ISO `timestamp`; the SDK says number.
    payload = envelope("hang", timestamp=ISO)
    with pytest.raises(ValidationError):
        sdk("server_message_hang").model_validate(payload)
    assert parse_message(payload).timestamp == T0


def test_artifact_message_times_are_epoch_milliseconds() -> None:
    message = parse_message(envelope("hang"))
    assert message.artifact is not None
    assert message.artifact.messages is not None
    first, bot = message.artifact.messages[:2]
    assert first.time == T0
    assert first.end_time is None
    assert bot.end_time == T0 + timedelta(milliseconds=2500)
    assert bot.seconds_from_start == 1.0


# -- secrets in repr -------------------------------------------------------------------------

SECRETS = (
    "pn-secret-value",
    "twilio-token-value",
    "legacy-secret-value",
    "header-token-value",
    "sk-live-nested",
)


def test_repr_masks_secrets_at_every_depth_and_values_stay_readable() -> None:
    payload = envelope("tool-calls", **tool_calls_fields())
    payload["assistant"]["model"]["credentials"] = [
        {"provider": "openai", "apiKey": "sk-live-nested"}
    ]
    message = parse_message(payload)
    for text in (repr(message), str(message)):
        for secret in SECRETS:
            assert secret not in text
        assert REDACTED in text
        assert "cred-1" in text  # credentialId is an id, not a secret
        assert "'maxTokens': 250" in text
    assert message.phone_number is not None
    assert message.phone_number.server_url_secret == "pn-secret-value"
    assert message.phone_number.twilio_auth_token == "twilio-token-value"
    assert message.assistant is not None
    assert message.assistant.server is not None
    assert message.assistant.server.secret == "legacy-secret-value"  # type: ignore[attr-defined]
    assert message.assistant.server.headers == {
        "Authorization": "Bearer header-token-value",
        "X-Team": "voice",
    }
    assert message.raw["phoneNumber"]["serverUrlSecret"] == "pn-secret-value"


def test_repr_masks_secrets_in_extras_and_shows_absent_ones() -> None:
    number = PhoneNumber.model_validate(
        {"id": "pn-1", "twilioApiSecret": None, "customSigningKey": "k-value", "tokenUrl": "u"}
    )
    text = repr(number)
    assert "twilio_api_secret=None" in text
    assert "customSigningKey='***'" in text
    assert "tokenUrl='u'" in text
    assert "k-value" not in text


def test_repr_masks_secrets_in_loose_tool_lists() -> None:
    fields = tool_calls_fields()
    fields["toolWithToolCallList"][0]["server"]["headers"] = {"x-vapi-secret": "tool-secret"}
    message = parse_message(envelope("tool-calls", **fields))
    assert "tool-secret" not in repr(message)
    assert "tool-secret" not in repr(message.tool_calls)


@pytest.mark.parametrize(
    "name",
    [
        "serverUrlSecret",
        "server_url_secret",
        "twilioAuthToken",
        "twilioApiKey",
        "twilioApiSecret",
        "apiKey",
        "api_key",
        "token",
        "password",
        "clientSecret",
        "privateKey",
        "secretKey",
        "Authorization",
        "x-vapi-secret",
        "X-Vapi-Signature-Secret",
        "authToken",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    ["credentialId", "credentialIds", "tokenUrl", "maxTokens", "promptTokens", "secretId", "name"],
)
def test_names_that_are_not_secrets(name: str) -> None:
    assert not is_secret_key(name)


def test_redact_copies_only_what_it_masks() -> None:
    value = {"a": [{"password": "p", "b": ({"token": "t"},)}], "n": 1, "apiKey": ""}
    assert redact(value) == {
        "a": [{"password": REDACTED, "b": ({"token": REDACTED},)}],
        "n": 1,
        "apiKey": "",
    }
    assert value["a"][0]["password"] == "p"  # type: ignore[index]


# -- tool calls ------------------------------------------------------------------------------


def _function_item(
    arguments: Any, call_id: str = "c1", name: str = "get_weather"
) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_tool_call_with_json_string_arguments_and_matching_tool() -> None:
    fields = tool_calls_fields()
    [tool_call] = normalise_tool_calls(fields)
    assert tool_call == ToolCall("call_abc", "get_weather", {"city": "Paris"}, None)
    assert tool_call.tool is fields["toolWithToolCallList"][0]
    assert tool_call.tool["id"] == "tool-1"
    assert tool_call.tool["async"] is False
    assert tool_call.raw is fields["toolCallList"][0]


def test_tool_call_with_object_arguments() -> None:
    [tool_call] = normalise_tool_calls({"toolCallList": [_function_item({"city": "Paris"})]})
    assert (tool_call.arguments, tool_call.arguments_error, tool_call.tool) == (
        {"city": "Paris"},
        None,
        None,
    )


@pytest.mark.parametrize("key", ["parameters", "arguments"])
def test_tool_call_in_the_docs_shape(key: str) -> None:
    [tool_call] = normalise_tool_calls(
        {"toolCallList": [{"id": "c1", "name": "get_weather", key: {"city": "Paris"}}]}
    )
    assert tool_call == ToolCall("c1", "get_weather", {"city": "Paris"})


def test_tool_calls_from_tool_with_tool_call_list_only() -> None:
    fields = tool_calls_fields()
    del fields["toolCallList"]
    [tool_call] = normalise_tool_calls(fields)
    assert tool_call == ToolCall("call_abc", "get_weather", {"city": "Paris"})
    assert tool_call.tool is fields["toolWithToolCallList"][0]
    assert tool_call.raw is fields["toolWithToolCallList"][0]["toolCall"]


def test_tool_with_tool_call_list_name_falls_back_to_the_tool() -> None:
    entries = [
        {"type": "function", "function": {"name": "from_function"}, "toolCall": {"id": "a"}},
        {"name": "from_entry", "toolCall": {"id": "b", "parameters": {"x": 1}}},  # docs shape
        {
            "type": "function",
            "toolCall": {"id": "c", "function": {"name": "own", "arguments": "{}"}},
        },
    ]
    calls = normalise_tool_calls({"toolCallList": [], "toolWithToolCallList": entries})
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("a", "from_function", {}),
        ("b", "from_entry", {"x": 1}),
        ("c", "own", {}),
    ]


def test_legacy_tool_calls_list() -> None:
    [tool_call] = normalise_tool_calls({"toolCalls": [_function_item('{"city": "Rome"}')]})
    assert tool_call == ToolCall("c1", "get_weather", {"city": "Rome"})


def test_tool_call_list_wins_over_the_other_lists() -> None:
    message = {
        "toolCallList": [_function_item("{}", "from-list")],
        "toolCalls": [_function_item("{}", "from-legacy")],
        "toolWithToolCallList": [{"toolCall": _function_item("{}", "from-tools")}],
    }
    assert [c.id for c in normalise_tool_calls(message)] == ["from-list"]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ("{not json", "not valid JSON"),
        ('{"city": "Paris"', "not valid JSON"),
        ("[1, 2]", "got an array"),
        ('"Paris"', "got a string"),
        ("42", "got a number"),
        ("true", "got a boolean"),
        ("null", "got null"),
        ([1, 2], "got an array"),
        (42, "got a number"),
        ("[" * 100_000, "not valid JSON"),
    ],
    ids=[
        "garbage",
        "truncated",
        "json-array",
        "json-string",
        "json-number",
        "json-bool",
        "json-null",
        "list",
        "int",
        "too-deep",
    ],
)
def test_unusable_arguments_give_an_error_not_an_exception(arguments: Any, error: str) -> None:
    [tool_call] = normalise_tool_calls({"toolCallList": [_function_item(arguments)]})
    assert tool_call.arguments == {}
    assert tool_call.arguments_error is not None
    assert error in tool_call.arguments_error
    assert (tool_call.id, tool_call.name) == ("c1", "get_weather")


@pytest.mark.parametrize(
    "arguments", [None, "", "  ", {}], ids=["null", "empty", "blank", "object"]
)
def test_absent_arguments_are_an_empty_object(arguments: Any) -> None:
    [tool_call] = normalise_tool_calls({"toolCallList": [_function_item(arguments)]})
    assert (tool_call.arguments, tool_call.arguments_error) == ({}, None)


def test_junk_items_are_skipped_or_flagged() -> None:
    items = [None, "x", 3, [], {}, {"type": "function"}, {"id": "nameless"}, {"id": 7, "name": "f"}]
    calls = normalise_tool_calls({"toolCallList": items})
    assert [(c.id, c.name) for c in calls] == [("nameless", ""), ("7", "f")]
    assert calls[0].arguments_error == "tool call has no function name"
    assert calls[1].arguments_error is None


@pytest.mark.parametrize(
    "message",
    [None, "tool-calls", [], {}, {"toolCallList": "x", "toolWithToolCallList": {"a": 1}}],
    ids=["none", "str", "list", "empty", "wrong-types"],
)
def test_junk_messages_have_no_tool_calls(message: Any) -> None:
    assert normalise_tool_calls(message) == []


def test_tool_call_is_frozen_and_hashable() -> None:
    tool_call = ToolCall("c1", "f", {"a": [1]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        tool_call.name = "g"  # type: ignore[misc]
    assert hash(tool_call) == hash(ToolCall("c1", "f", {"b": 2}))
    assert tool_call != ToolCall("c1", "f", {"b": 2})


def test_tool_calls_message_exposes_normalised_calls_once() -> None:
    payload = envelope("tool-calls", **tool_calls_fields())
    message = parse_message(payload)
    assert isinstance(message, ToolCallsMessage)
    assert message.tool_calls == normalise_tool_calls(payload)
    assert message.tool_calls is message.tool_calls
    assert message.tool_calls[0].tool is not None
    assert message.tool_calls[0].tool["server"]["url"] == "https://example.com/tools"


def test_tool_calls_message_with_only_one_list_or_legacy_calls() -> None:
    only_tools = envelope(
        "tool-calls", toolWithToolCallList=tool_calls_fields()["toolWithToolCallList"]
    )
    message = parse_message(only_tools)
    assert isinstance(message, ToolCallsMessage)
    assert message.tool_call_list == []
    assert [c.name for c in message.tool_calls] == ["get_weather"]
    legacy = parse_message(envelope("tool-calls", toolCalls=[_function_item('{"a": 1}')]))
    assert isinstance(legacy, ToolCallsMessage)
    assert [c.arguments for c in legacy.tool_calls] == [{"a": 1}]


def test_tool_calls_message_built_directly() -> None:
    message = ToolCallsMessage(tool_call_list=[_function_item('{"a": 1}')])
    assert message.type == "tool-calls"
    assert message.tool_calls == [ToolCall("c1", "get_weather", {"a": 1})]


@pytest.mark.parametrize(
    ("function_call", "expected"),
    [
        ({"name": "f", "parameters": {"a": 1}}, ToolCall(FUNCTION_CALL_ID, "f", {"a": 1})),
        ({"name": "f", "parameters": '{"a": 1}'}, ToolCall(FUNCTION_CALL_ID, "f", {"a": 1})),
        ({"name": "f", "arguments": '{"a": 1}'}, ToolCall(FUNCTION_CALL_ID, "f", {"a": 1})),
        ({"name": "f"}, ToolCall(FUNCTION_CALL_ID, "f", {})),
        (
            {"name": "f", "parameters": "nope"},
            ToolCall(
                FUNCTION_CALL_ID,
                "f",
                {},
                "arguments are not valid JSON: expected ident at line 1 column 2",
            ),
        ),
        ({"parameters": {}}, ToolCall(FUNCTION_CALL_ID, "", {}, "function call has no name")),
        (
            "junk",
            ToolCall(FUNCTION_CALL_ID, "", {}, "functionCall must be an object, got a string"),
        ),
    ],
)
def test_from_function_call(function_call: Any, expected: ToolCall) -> None:
    assert from_function_call(function_call) == expected


def test_function_call_message_tool_call() -> None:
    payload = envelope("function-call", functionCall={"name": "f", "parameters": '{"a": 1}'})
    message = parse_message(payload)
    assert isinstance(message, FunctionCallMessage)
    assert message.tool_call == ToolCall("", "f", {"a": 1})
    assert message.tool_call.raw == payload["functionCall"]


# -- size --------------------------------------------------------------------------------------


def _large_report(target_bytes: int = 1_000_000) -> bytes:
    payload = envelope("end-of-call-report", endedReason="customer-ended-call", analysis={})
    base_messages = conversation()
    base_openai = openai_conversation()
    messages, openai = (
        payload["artifact"]["messages"],
        payload["artifact"]["messagesOpenAIFormatted"],
    )
    while len(json.dumps(payload)) < target_bytes:
        messages.extend(copy.deepcopy(base_messages) * 20)
        openai.extend(copy.deepcopy(base_openai) * 20)
    return json.dumps({"message": payload}).encode()


def test_a_megabyte_report_parses_completely() -> None:
    # Its cost against json.loads is measured in the benchmarks, not asserted here.
    raw = json.loads(_large_report())["message"]
    message = parse_message(raw)
    assert isinstance(message, EndOfCallReportMessage)
    assert len(message.artifact.messages or []) == len(raw["artifact"]["messages"])
    assert message.raw is raw


def test_report_turns_are_validated_on_first_read_only() -> None:
    # A malformed turn must not cost the handler the rest of the report (endedReason,
    # transcript, recordings); it fails only where the turns are read.
    payload = envelope("end-of-call-report", endedReason="customer-ended-call", analysis={})
    payload["artifact"]["messages"] = [{"role": "bot", "message": "Hi", "time": "not a time"}]
    message = parse_message(payload)
    assert isinstance(message, EndOfCallReportMessage)
    assert message.ended_reason == "customer-ended-call"
    with pytest.raises(ValidationError):
        _ = message.artifact.messages
    assert message.raw["artifact"]["messages"][0]["message"] == "Hi"
