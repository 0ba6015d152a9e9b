"""One table of the Vapi message types: every fact the receiver keeps about a type, in one row.

A row says how the type is parsed (its model), whether Vapi waits for the answer and how long
the handler may take (the budget, a `ReceiverConfig` attribute), what the answer must look like
(its model and media type), and what is sent when there is no good answer (the safe fallback).
Parsing, dispatch, the core, the registry and the CLI read the row instead of testing the type's
name, so a new type is added here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from receiver.models.messages import (
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
    SessionCreatedMessage,
    SessionDeletedMessage,
    SessionUpdatedMessage,
    SpeechUpdateMessage,
    StatusUpdateMessage,
    ToolCallsMessage,
    TranscriptMessage,
    TransferDestinationRequestMessage,
    TransferUpdateMessage,
    UnknownMessage,
    UserInterruptedMessage,
    VoiceInputMessage,
    VoiceRequestMessage,
)
from receiver.models.tool_calls import normalise_tool_calls
from receiver.responses import (
    AssistantResponse,
    EndpointingResponse,
    FunctionCallResponse,
    HandoffDestinationResponse,
    KnowledgeBaseResponse,
    PredialResponse,
    ToolCallsResponse,
    TransferDestinationResponse,
    VapiAnswer,
    safe_assistant_request,
    safe_endpointing,
    safe_function_call,
    safe_handoff_destination,
    safe_knowledge_base,
    safe_predial,
    safe_tool_calls,
    safe_transfer_destination,
)

JSON: Final = "application/json"
PCM: Final = "application/octet-stream"

Fallback = Callable[[Mapping[str, Any]], dict[str, Any] | bytes]
"""Builds the safe answer from the `message` object as received (it may not fit its model)."""


@dataclass(frozen=True)
class MessageTypeSpec:
    """Everything the receiver knows about one message type.

    Attributes:
        name: The wire name (`message.type`), e.g. `tool-calls`.
        model: The model `parse_message` builds; the plain `Message` for a type with no schema.
        answer: The model of its JSON answer; `None` for informational types and for audio.
        fallback: The safe answer, sent when the handler is missing, fails or overruns;
            `None` for informational types, which are acknowledged with `{}`.
        budget: The `ReceiverConfig` attribute holding the handler's budget in seconds;
            `None` for informational types, whose handlers run after the answer.
        media_type: The content type of the answer.
        tools: Answered from the registered tools unless one handler takes the whole type.
        fallback_setting: The `ReceiverConfig` attribute whose answer, when set, replaces
            the safe fallback.
    """

    name: str
    model: type[Message]
    answer: type[VapiAnswer] | None = None
    fallback: Fallback | None = None
    budget: str | None = None
    media_type: str = JSON
    tools: bool = False
    fallback_setting: str | None = None

    @property
    def request(self) -> bool:
        """Whether Vapi waits for the answer and uses it."""
        return self.fallback is not None


def _informational(name: str, model: type[Message] = Message) -> MessageTypeSpec:
    return MessageTypeSpec(name, model)


def _tool_calls_fallback(raw: Mapping[str, Any]) -> dict[str, Any]:
    # One error per `toolCallId`, read from the raw message so that it holds even when the
    # message did not fit its model (docs/protocol.md#tool-calls).
    calls = normalise_tool_calls(raw, decode_arguments=False)
    return safe_tool_calls([(call.id, call.name) for call in calls])


_SPECS: Final = (
    MessageTypeSpec(
        "assistant-request",
        AssistantRequestMessage,
        AssistantResponse,
        lambda raw: safe_assistant_request(),
        budget="assistant_request_timeout",
        fallback_setting="assistant_request_fallback",
    ),
    _informational("conversation-update", ConversationUpdateMessage),
    _informational("end-of-call-report", EndOfCallReportMessage),
    MessageTypeSpec(
        "handoff-destination-request",
        HandoffDestinationRequestMessage,
        HandoffDestinationResponse,
        lambda raw: safe_handoff_destination(),
        budget="request_timeout",
    ),
    _informational("hang", HangMessage),
    MessageTypeSpec(
        "knowledge-base-request",
        KnowledgeBaseRequestMessage,
        KnowledgeBaseResponse,
        lambda raw: safe_knowledge_base(),
        budget="request_timeout",
    ),
    _informational("model-output", ModelOutputMessage),
    _informational("phone-call-control", PhoneCallControlMessage),
    _informational("speech-update", SpeechUpdateMessage),
    _informational("status-update", StatusUpdateMessage),
    MessageTypeSpec(
        "tool-calls",
        ToolCallsMessage,
        ToolCallsResponse,
        _tool_calls_fallback,
        budget="request_timeout",
        tools=True,
    ),
    MessageTypeSpec(
        "transfer-destination-request",
        TransferDestinationRequestMessage,
        TransferDestinationResponse,
        lambda raw: safe_transfer_destination(),
        budget="request_timeout",
    ),
    _informational("transfer-update", TransferUpdateMessage),
    _informational("transcript", TranscriptMessage),
    _informational("user-interrupted", UserInterruptedMessage),
    _informational("language-change-detected", LanguageChangeDetectedMessage),
    _informational("voice-input", VoiceInputMessage),
    _informational("assistant.speechStarted", AssistantSpeechStartedMessage),
    MessageTypeSpec(
        "voice-request",
        VoiceRequestMessage,
        fallback=lambda raw: b"",  # silence: raw PCM has no way to say "error"
        budget="request_timeout",
        media_type=PCM,
    ),
    MessageTypeSpec(
        "call.endpointing.request",
        CallEndpointingRequestMessage,
        EndpointingResponse,
        lambda raw: safe_endpointing(),
        budget="request_timeout",
    ),
    _informational("chat.created", ChatCreatedMessage),
    _informational("chat.deleted", ChatDeletedMessage),
    _informational("session.created", SessionCreatedMessage),
    _informational("session.updated", SessionUpdatedMessage),
    _informational("session.deleted", SessionDeletedMessage),
    _informational("call.deleted", CallDeletedMessage),
    _informational("call.delete.failed", CallDeleteFailedMessage),
    _informational("call.artifact.upload", CallArtifactUploadMessage),
    MessageTypeSpec(
        "campaign.predial",
        CampaignPredialMessage,
        PredialResponse,
        lambda raw: safe_predial(),
        budget="request_timeout",
    ),
    MessageTypeSpec(
        "function-call",
        FunctionCallMessage,
        FunctionCallResponse,
        lambda raw: safe_function_call(),
        budget="request_timeout",
        tools=True,
    ),
    # In `serverMessages` or campaign settings but with no schema in the SDK union: known, so
    # not reported as unknown, but only the envelope is typed.
    *map(
        _informational,
        (
            "assistant.started",
            "campaign.archived",
            "campaign.cancelled",
            "campaign.ended",
            "campaign.job.continued",
            "campaign.started",
            "campaign.unarchived",
            "contact.completed",
            "contact.dispatched",
            "contact.failed",
            "contact.predial-failed",
            "contact.skipped",
            "language-changed",
        ),
    ),
)

#: Message type -> its row, in the order users see them listed.
SPECS: Final[Mapping[str, MessageTypeSpec]] = {spec.name: spec for spec in _SPECS}

#: `serverMessages` names the final transcripts only this way; they parse as `transcript`.
_FINAL_TRANSCRIPT: Final = 'transcript[transcriptType="final"]'

#: Message type -> model, for every type in `SPECS`.
MESSAGE_MODELS: Final[Mapping[str, type[Message]]] = {
    **{name: spec.model for name, spec in SPECS.items()},
    _FINAL_TRANSCRIPT: TranscriptMessage,
}

# Keys (wire and Python spellings) of the typed envelope, dropped when an unknown type's
# envelope does not fit.
_ENVELOPE_KEYS: Final = frozenset(
    key
    for name, info in Message.model_fields.items()
    if name != "type"
    for key in (name, info.alias or name)
)


def parse_message(raw: Mapping[str, Any]) -> Message:
    """Validate a webhook's `message` object into the model of its type.

    The model is chosen by a dict lookup on `raw["type"]` (faster than a pydantic union of 30
    models, and never ambiguous).

    Args:
        raw: the `message` object of the body, as decoded from JSON.

    Returns:
        An instance of `MESSAGE_MODELS[raw["type"]]`, or `UnknownMessage` for any other type;
        its `raw` is `raw` itself (not a copy).

    Raises:
        pydantic.ValidationError: the type is known but the fields do not fit its model, or
            `raw` has no string `type`.
    """
    # Payloads are read by their wire (camelCase) names only; Python names stay accepted when
    # a model is built in code. A payload key like `tool_call_list` must not fill a field:
    # verification reads the camelCase keys, so a snake_case twin would carry a tool call
    # that the credential check never saw.
    data = raw if isinstance(raw, dict) else dict(raw)
    kind = data.get("type")
    model = MESSAGE_MODELS.get(kind) if isinstance(kind, str) else UnknownMessage
    if model is None:
        message: Message = _parse_unknown(data)
    else:
        message = model.model_validate(data, by_alias=True, by_name=False)
    message._raw = data
    return message


def _parse_unknown(data: dict[str, Any]) -> UnknownMessage:
    try:
        return UnknownMessage.model_validate(data, by_alias=True, by_name=False)
    except ValidationError:
        rest = {k: v for k, v in data.items() if k not in _ENVELOPE_KEYS}
        return UnknownMessage.model_validate(rest, by_alias=True, by_name=False)
