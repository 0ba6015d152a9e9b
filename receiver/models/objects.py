"""The objects Vapi embeds in messages: call, phone number, assistant, artifact and friends.

Every model here is loose: all fields optional (except the `id` of objects that have one in
every schema: Call, Chat, Session, CampaignContact), unknown keys kept, enums typed as `str`.
Vapi's payloads differ from its own schema (`phoneNumber` is the full stored row, not the
create-DTO; docs/protocol.md#phone-number-in-payloads), so these models describe what
handlers commonly read and keep the rest in `model_extra` rather than reject a real call.
Deeply variable parts (model, voice, overrides, hooks, costs) stay plain dicts.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Final, TypeAlias

from pydantic import Field, TypeAdapter

from receiver.models.base import InboundModel, Timestamp

#: A JSON object kept as it arrived.
JsonObject: TypeAlias = dict[str, Any]


class Server(InboundModel):
    """Where Vapi sends a level's messages (`assistant.server`, `phoneNumber.server`, ...).

    A legacy `secret` key, still honoured by Vapi (protocol.md#legacy-server-secret), is kept as an
    extra and masked in the repr like any other secret-named key.
    """

    url: str | None = None
    timeout_seconds: float | None = None
    credential_id: str | None = None
    headers: JsonObject | None = None
    backoff_plan: JsonObject | None = None
    static_ip_addresses_enabled: bool | None = None
    encrypted_paths: list[str] | None = None


class Customer(InboundModel):
    """The other party of a call (`message.customer`, `call.customer`)."""

    number: str | None = None
    sip_uri: str | None = None
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    extension: str | None = None
    number_e164_check_enabled: bool | None = None
    assistant_overrides: JsonObject | None = None
    squad_overrides: JsonObject | None = None


class Destination(InboundModel):
    """A transfer target: `type` is `number`, `sip` or `assistant` (open: any string).

    One loose model for all kinds, because the same shape appears in end-of-call reports,
    status updates, transfer updates and phone-call control, each with its own union.
    """

    type: str | None = None
    number: str | None = None
    sip_uri: str | None = None
    extension: str | None = None
    caller_id: str | None = None
    #: A string, or `{type: "custom-message", content?, contents?}`.
    message: str | JsonObject | None = None
    assistant_name: str | None = None
    transfer_mode: str | None = None
    transfer_plan: JsonObject | None = None
    sip_headers: JsonObject | None = None
    number_e164_check_enabled: bool | None = None
    name: str | None = None
    description: str | None = None


class PhoneNumber(InboundModel):
    """A Vapi phone number, as embedded in messages: the stored row, many columns null.

    Carries secrets in real payloads (`serverUrlSecret`, `twilioAuthToken`, `twilioApiSecret`):
    they are masked in the repr, never used for authentication (docs/protocol.md#winning-level).
    """

    id: str | None = None
    org_id: str | None = None
    number: str | None = None
    name: str | None = None
    assistant_id: str | None = None
    squad_id: str | None = None
    workflow_id: str | None = None
    #: `twilio`, `vonage`, `vapi`, `telnyx`, `byo-phone-number`, ...
    provider: str | None = None
    #: `active`, `activating`, `blocked`, ...
    status: str | None = None
    server_url: str | None = None
    server_url_secret: str | None = None
    server: Server | None = None
    credential_id: str | None = None
    credential_ids: list[str] | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_key: str | None = None
    twilio_api_secret: str | None = None
    sip_uri: str | None = None
    fallback_destination: Destination | None = None
    hooks: list[JsonObject] | None = None
    sms_enabled: bool | None = None
    number_e164_check_enabled: bool | None = None
    number_desired_area_code: str | None = None
    authentication: JsonObject | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class Assistant(InboundModel):
    """An assistant configuration (`message.assistant`, `call.assistant`), read loosely.

    Vapi sends the resolved configuration; its model, voice and transcriber sections differ
    per provider and are kept as dicts.
    """

    id: str | None = None
    org_id: str | None = None
    name: str | None = None
    server: Server | None = None
    server_url: str | None = None
    server_url_secret: str | None = None
    model: JsonObject | None = None
    voice: JsonObject | None = None
    transcriber: JsonObject | None = None
    first_message: str | None = None
    first_message_mode: str | None = None
    server_messages: list[str] | None = None
    client_messages: list[str] | None = None
    end_call_message: str | None = None
    voicemail_message: str | None = None
    metadata: JsonObject | None = None
    variable_values: JsonObject | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class ArtifactMessage(InboundModel):
    """One entry of a conversation log (`artifact.messages`, `messages` on live events).

    The fields present depend on `role` (`system`, `user`, `bot`, `tool_calls`,
    `tool_call_result`, ...): one loose model covers them all, so a new role never fails.
    """

    role: str | None = None
    message: str | None = None
    #: Epoch milliseconds on the wire.
    time: Timestamp | None = None
    #: Epoch milliseconds on the wire.
    end_time: Timestamp | None = None
    seconds_from_start: float | None = None
    duration: float | None = None
    source: str | None = None
    tool_calls: list[JsonObject] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    #: A string per the schema; typed `Any` so an object result never fails a whole report.
    result: Any = None
    metadata: JsonObject | None = None


class Analysis(InboundModel):
    """Post-call analysis; `structuredData` and `successEvaluation` shapes depend on the plan."""

    summary: str | None = None
    structured_data: Any = None
    structured_data_multi: list[Any] | None = None
    success_evaluation: str | bool | float | None = None


_CONVERSATION: Final = TypeAdapter(list[ArtifactMessage])


class Artifact(InboundModel):
    """What a call produced: conversation, transcript, recordings, variables, outputs.

    The conversation is validated on first read of `messages`, not with the rest: a 2-hour
    report holds thousands of turns, most handlers read only `transcript` or a recording
    URL, and validating the turns is nearly all the cost of parsing a report.
    """

    raw_messages: list[Any] | None = Field(default=None, alias="messages")
    messages_open_ai_formatted: list[Any] | None = Field(
        default=None, alias="messagesOpenAIFormatted"
    )
    transcript: str | None = None
    recording_url: str | None = None
    stereo_recording_url: str | None = None
    video_recording_url: str | None = None
    recording: JsonObject | None = None
    pcap_url: str | None = None
    log_url: str | None = None
    nodes: list[JsonObject] | None = None
    variable_values: JsonObject | None = None
    performance_metrics: JsonObject | None = None
    structured_outputs: JsonObject | None = None
    scorecards: JsonObject | None = None
    transfers: list[Any] | None = None

    @cached_property
    def messages(self) -> list[ArtifactMessage] | None:
        """The conversation, one `ArtifactMessage` per turn (validated once, on first read).

        Raises:
            pydantic.ValidationError: when a turn does not fit, in the handler that reads it.
        """
        if self.raw_messages is None:
            return None
        return _CONVERSATION.validate_python(self.raw_messages, by_alias=True, by_name=False)


class Monitor(InboundModel):
    """Live-call URLs: `control_url` accepts commands (say, transfer, end) during the call."""

    listen_url: str | None = None
    control_url: str | None = None
    monitors: list[JsonObject] | None = None


class Call(InboundModel):
    """A call (`message.call`). `id` is the only field every payload is guaranteed to have."""

    id: str
    org_id: str | None = None
    #: `inboundPhoneCall`, `outboundPhoneCall`, `webCall`, `vapi.websocketCall`, ...
    type: str | None = None
    #: `scheduled`, `queued`, `ringing`, `in-progress`, `forwarding`, `ended`, ...
    status: str | None = None
    ended_reason: str | None = None
    ended_message: str | None = None
    phone_number_id: str | None = None
    phone_number: PhoneNumber | None = None
    assistant_id: str | None = None
    assistant: Assistant | None = None
    assistant_overrides: JsonObject | None = None
    assistant_version: str | None = None
    squad_id: str | None = None
    squad: JsonObject | None = None
    squad_overrides: JsonObject | None = None
    workflow_id: str | None = None
    workflow: JsonObject | None = None
    workflow_overrides: JsonObject | None = None
    customer_id: str | None = None
    customer: Customer | None = None
    #: `twilio`, `vonage`, `vapi`, `telnyx`, ...
    phone_call_provider: str | None = None
    #: The provider's id for the call, e.g. a Twilio CallSid.
    phone_call_provider_id: str | None = None
    #: `sip` or `pstn`.
    phone_call_transport: str | None = None
    #: An object in the current schema; older payloads may differ, so a string is accepted.
    transport: JsonObject | str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    cost: float | None = None
    costs: list[JsonObject] | None = None
    cost_breakdown: JsonObject | None = None
    monitor: Monitor | None = None
    artifact: Artifact | None = None
    analysis: Analysis | None = None
    destination: Destination | None = None
    messages: list[ArtifactMessage] | None = None
    name: str | None = None
    campaign_id: str | None = None
    schedule_plan: JsonObject | None = None


class Chat(InboundModel):
    """A text chat (`message.chat`), for `chat.*` events and chat-channel tool calls."""

    id: str
    org_id: str | None = None
    name: str | None = None
    assistant_id: str | None = None
    assistant: Assistant | None = None
    assistant_overrides: JsonObject | None = None
    squad_id: str | None = None
    squad: JsonObject | None = None
    session_id: str | None = None
    previous_chat_id: str | None = None
    #: A string or a list of message objects.
    input: str | list[JsonObject] | None = None
    stream: bool | None = None
    messages: list[JsonObject] | None = None
    output: list[JsonObject] | None = None
    cost: float | None = None
    costs: list[JsonObject] | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class Session(InboundModel):
    """A persistent session grouping chats and calls (`session.*` events)."""

    id: str
    org_id: str | None = None
    name: str | None = None
    #: `active` or `completed`.
    status: str | None = None
    expiration_seconds: float | None = None
    assistant_id: str | None = None
    assistant: Assistant | None = None
    assistant_overrides: JsonObject | None = None
    squad_id: str | None = None
    squad: JsonObject | None = None
    messages: list[JsonObject] | None = None
    customer_id: str | None = None
    customer: Customer | None = None
    phone_number_id: str | None = None
    phone_number: PhoneNumber | None = None
    artifact: Artifact | None = None
    cost: float | None = None
    costs: list[JsonObject] | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class CampaignContact(InboundModel):
    """The contact a campaign is about to call (`campaign.predial`)."""

    id: str
    campaign_id: str | None = None
    org_id: str | None = None
    customer_id: str | None = None
    number: str | None = None
    name: str | None = None
    assistant_overrides: JsonObject | None = None
    squad_overrides: JsonObject | None = None
    created_at: Timestamp | None = None


class ArtifactUpload(InboundModel):
    """One item of `call.artifact.upload`: which artifact went to customer storage, and if OK."""

    #: `end-of-call-report`, `recording-mono`, `recording-stereo`, `log`, `pcap`, ...
    type: str
    success: bool
