"""Typed models of the messages Vapi posts to a server URL.

One class per `message.type` of the SDK's `ServerMessage` union (protocol.md#message-types), plus
the legacy `function-call` and `UnknownMessage`. A field the SDK marks required for a type is
required here too, so handler authors get non-Optional types; everything else is optional.

Types in the catalogue (`receiver.models.catalogue`) that have no schema anywhere
(`assistant.started`, `language-changed`, campaign lifecycle events) map to the plain
`Message`: they are known, so they are not reported as unknown, but only the envelope is typed.
`UnknownMessage` is for types outside the catalogue, and never fails validation.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Final

from pydantic import Field, PrivateAttr

from receiver.models.base import Timestamp, VapiModel
from receiver.models.objects import (
    Analysis,
    Artifact,
    ArtifactMessage,
    ArtifactUpload,
    Assistant,
    Call,
    CampaignContact,
    Chat,
    Customer,
    Destination,
    JsonObject,
    PhoneNumber,
    Session,
)
from receiver.models.tool_calls import ToolCall, from_function_call, normalise_tool_calls

# `to_camel` would spell it `messagesOpenAiFormatted`.
_OPENAI_ALIAS: Final = "messagesOpenAIFormatted"


class Message(VapiModel):
    """The envelope fields every message type may carry.

    Attributes:
        type: the message type, e.g. `end-of-call-report`.
        timestamp: when Vapi sent it (epoch ms or ISO-8601 on the wire), UTC.
        call: the call; absent on chat- and session-only events.
        phone_number: the number the call came in on or went out from.
        customer: the other party.
        assistant: the resolved assistant; usually absent on `assistant-request`.
        assistant_version: a version label like `v3`, or None.
        artifact: the live conversation and recordings so far.
        chat: the chat, for text interactions.
    """

    type: str
    timestamp: Timestamp | None = None
    call: Call | None = None
    phone_number: PhoneNumber | None = None
    customer: Customer | None = None
    assistant: Assistant | None = None
    assistant_version: str | None = None
    artifact: Artifact | None = None
    chat: Chat | None = None

    _raw: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def raw(self) -> dict[str, Any]:
        """The `message` object as it arrived, for fields no model describes.

        Set by `parse_message`. For a message built some other way it is derived once from the
        fields (camelCase keys, JSON values; timestamps then are ISO strings).
        """
        if self._raw is None:
            self._raw = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return self._raw


class _Conversation(Message):
    # Shared by the types that carry the conversation so far.
    messages: list[ArtifactMessage] | None = None
    messages_open_ai_formatted: list[JsonObject] = Field(alias=_OPENAI_ALIAS)


class AssistantRequestMessage(Message):
    """`assistant-request`: an inbound call needs an assistant; answer within 7.5 s."""


class ConversationUpdateMessage(_Conversation):
    """`conversation-update`: the conversation changed; carries it in full."""


class EndOfCallReportMessage(Message):
    """`end-of-call-report`: the call is over and post-processing is done."""

    #: Open enum of several hundred values, e.g. `customer-ended-call`.
    ended_reason: str
    artifact: Artifact
    analysis: Analysis
    cost: float | None = None
    costs: list[JsonObject] | None = None
    destination: Destination | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    compliance: JsonObject | None = None


class HandoffDestinationRequestMessage(Message):
    """`handoff-destination-request`: a handoff tool needs its destination."""

    #: The handoff tool call's arguments, e.g. `{"destination": "dynamic", ...}`.
    parameters: JsonObject


class HangMessage(Message):
    """`hang`: the assistant has not answered for a while (a delay the caller notices)."""


class KnowledgeBaseRequestMessage(_Conversation):
    """`knowledge-base-request`: a custom knowledge base should return documents."""


class ModelOutputMessage(Message):
    """`model-output`: a token or tool call from the model.

    `output` is an object in the SDK; real payloads also show plain token strings, so both
    (and arrays) are accepted.
    """

    output: JsonObject | str | list[Any]
    turn_id: str | None = None


class PhoneCallControlMessage(Message):
    """`phone-call-control`: the server is asked to forward or hang up the call itself."""

    #: `forward` or `hang-up`.
    request: str
    destination: Destination | None = None


class SpeechUpdateMessage(Message):
    """`speech-update`: someone started or stopped speaking."""

    #: `started` or `stopped`.
    status: str
    #: `assistant` or `user`.
    role: str
    #: 0-based turn number.
    turn: int | None = None


class StatusUpdateMessage(Message):
    """`status-update`: the call changed status (`ringing`, `in-progress`, `ended`, ...)."""

    status: str
    #: Only when `status` is `ended`.
    ended_reason: str | None = None
    messages: list[ArtifactMessage] | None = None
    messages_open_ai_formatted: list[JsonObject] | None = Field(default=None, alias=_OPENAI_ALIAS)
    destination: Destination | None = None
    transcript: str | None = None
    summary: str | None = None
    inbound_phone_call_debugging_artifacts: JsonObject | None = None


class ToolCallsMessage(Message):
    """`tool-calls`: the model called one or more tools; answer with one result per call.

    The lists are kept as they arrived; use `tool_calls` for the normalised calls, whatever
    shape they came in (see `receiver.models.tool_calls`).
    """

    #: Optional in the SDK; the receiver always knows it.
    type: str = "tool-calls"
    tool_call_list: list[JsonObject] = Field(default_factory=list)
    tool_with_tool_call_list: list[JsonObject] = Field(default_factory=list)

    @cached_property
    def tool_calls(self) -> list[ToolCall]:
        """The calls to answer, normalised; computed once, on first access."""
        extra = self.model_extra or {}
        return normalise_tool_calls(
            {
                "toolCallList": self.tool_call_list,
                "toolWithToolCallList": self.tool_with_tool_call_list,
                "toolCalls": extra.get("toolCalls"),
            }
        )


class TransferDestinationRequestMessage(Message):
    """`transfer-destination-request`: a transfer tool has no destination; supply one."""


class TransferUpdateMessage(Message):
    """`transfer-update`: the call was transferred (to a number, SIP URI or assistant)."""

    destination: Destination | None = None
    to_assistant: Assistant | None = None
    from_assistant: Assistant | None = None
    to_step_record: JsonObject | None = None
    from_step_record: JsonObject | None = None


class TranscriptMessage(Message):
    """`transcript` (also spelled `transcript[transcriptType="final"]`): speech recognised."""

    #: `assistant` or `user`.
    role: str
    #: `partial` or `final`.
    transcript_type: str
    transcript: str
    assistant_id: str | None = None
    assistant_name: str | None = None
    is_filtered: bool | None = None
    detected_threats: list[str] | None = None
    original_transcript: str | None = None
    confidence: float | None = None
    #: `provider` or `derived`.
    confidence_source: str | None = None


class UserInterruptedMessage(Message):
    """`user-interrupted`: the user spoke over the assistant."""

    #: Matches `model-output.turnId` of the interrupted output.
    turn_id: str | None = None


class LanguageChangeDetectedMessage(Message):
    """`language-change-detected`: the transcriber switched language."""

    language: str


class VoiceInputMessage(Message):
    """`voice-input`: text about to be sent to the voice provider."""

    input: str


class AssistantSpeechStartedMessage(Message):
    """`assistant.speechStarted`: the assistant began speaking a turn (opt-in)."""

    #: The full text of the turn, not a delta.
    text: str
    turn: int | None = None
    #: `model`, `force-say` or `custom-voice`.
    source: str | None = None
    #: Word timing, `{type: "word-alignment" | "word-progress", ...}`.
    timing: JsonObject | None = None


class VoiceRequestMessage(Message):
    """`voice-request`: custom TTS; answer with raw 16-bit mono PCM at `sample_rate`."""

    text: str
    sample_rate: int


class CallEndpointingRequestMessage(_Conversation):
    """`call.endpointing.request`: how long to wait before the user's turn is over."""


class ChatCreatedMessage(Message):
    """`chat.created`: a chat was created."""

    chat: Chat


class ChatDeletedMessage(Message):
    """`chat.deleted`: a chat was deleted."""

    chat: Chat


class _SessionEvent(Message):
    session: Session


class SessionCreatedMessage(_SessionEvent):
    """`session.created`: a session was created."""


class SessionUpdatedMessage(_SessionEvent):
    """`session.updated`: a session changed."""


class SessionDeletedMessage(_SessionEvent):
    """`session.deleted`: a session was deleted."""


class CallDeletedMessage(Message):
    """`call.deleted`: a call's data was deleted."""


class CallDeleteFailedMessage(Message):
    """`call.delete.failed`: deleting a call's data failed."""


class CallArtifactUploadMessage(Message):
    """`call.artifact.upload`: artifacts were uploaded to the customer's own storage."""

    artifacts: list[ArtifactUpload]


class CampaignPredialMessage(Message):
    """`campaign.predial`: may the campaign call this contact now? Answer `eligible`."""

    campaign_id: str
    contact: CampaignContact


class FunctionCallMessage(Message):
    """Legacy `function-call` (deprecated `model.functions`): no schema in the SDK.

    `function_call` is `{"name": str, "parameters": object or JSON string}`.
    """

    function_call: JsonObject

    @property
    def tool_call(self) -> ToolCall:
        """The call as a `ToolCall` (id `""`), so tools serve both message kinds alike."""
        return from_function_call(self.function_call)


class UnknownMessage(Message):
    """A type outside the catalogue: a new Vapi event, or a typo in a test.

    Parsing it never fails: envelope fields that do not fit are left unset (they stay in
    `raw`), and every other key is kept as an extra.
    """
