"""Realistic sub-objects of Vapi messages: the call, the phone number row, the assistant,
the customer, costs, and the chat, session and campaign contact of the non-call events.

The shapes follow docs/protocol.md (#shared-objects, #phone-number) and real captured payloads
(camelCase keys, ISO-8601 object timestamps, many null columns). Everything here is plain dicts;
`factories` assembles them into whole messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from receiver.message_types import DEFAULT_SERVER_MESSAGES
from receiver.samples.conversation import GREETING, SYSTEM_PROMPT
from receiver.samples.tool_calls import tool_definition

__all__ = [
    "CallContext",
    "assistant_object",
    "call_object",
    "campaign_contact",
    "chat_object",
    "costs",
    "customer_object",
    "iso_time",
    "new_id",
    "phone_number_row",
    "session_object",
]

Json = dict[str, Any]

BUSINESS_NUMBER: Final = "+14155550142"
CUSTOMER_NUMBER: Final = "+12125550173"
WEBHOOK_URL: Final = "https://receiver.example.com/vapi/webhook"
MONITOR_HOST: Final = "phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai"

ASSISTANT_NAME: Final = "Riley - Support"


def new_id() -> str:
    """A fresh UUID4 string, the form Vapi uses for call, org, assistant and phone ids."""
    return str(uuid.uuid4())


def iso_time(epoch_ms: int) -> str:
    """Epoch milliseconds as the ISO-8601 `...T12:34:56.789Z` string Vapi puts in objects."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class CallContext:
    """The identities and clock that every object of one fake message shares.

    A message repeats the same facts in several places (the call's `assistantId` and the
    assistant's `id`, the call's customer and the top-level customer); building them all
    from one context keeps them consistent.
    """

    call_id: str = field(default_factory=new_id)
    org_id: str = field(default_factory=new_id)
    assistant_id: str = field(default_factory=new_id)
    phone_number_id: str = field(default_factory=new_id)
    customer_number: str | None = CUSTOMER_NUMBER
    web_call: bool = False
    #: When the message is sent, epoch ms.
    now_ms: int = field(default_factory=lambda: int(datetime.now(tz=UTC).timestamp() * 1000))


def customer_object(ctx: CallContext) -> Json:
    """The caller as Vapi describes them: `{"number": "+1..."}` (E.164)."""
    return {} if ctx.customer_number is None else {"number": ctx.customer_number}


def call_object(
    ctx: CallContext,
    *,
    status: str,
    created_ms: int,
    with_assistant: bool = True,
    started_ms: int | None = None,
    ended_ms: int | None = None,
    ended_reason: str | None = None,
) -> Json:
    """The `call` object of a message (docs/protocol.md#call), as it stands at `status`.

    Args:
        ctx: Shared identities.
        status: `call.status`, e.g. `ringing`, `in-progress`, `ended`.
        created_ms: When the call was created, epoch ms.
        with_assistant: False for `assistant-request`, where no assistant is chosen yet.
        started_ms: When the conversation started, if it has.
        ended_ms: When the call ended, if it has.
        ended_reason: Why the call ended, if it has.

    Returns:
        The call as a dict.
    """
    updated_ms = ended_ms or started_ms or created_ms
    call: Json = {
        "id": ctx.call_id,
        "orgId": ctx.org_id,
        "createdAt": iso_time(created_ms),
        "updatedAt": iso_time(updated_ms),
        "type": "webCall" if ctx.web_call else "inboundPhoneCall",
        "status": status,
    }
    if ended_reason is not None:
        call["endedReason"] = ended_reason
    if started_ms is not None:
        call["startedAt"] = iso_time(started_ms)
    if ended_ms is not None:
        call["endedAt"] = iso_time(ended_ms)
    if not ctx.web_call:
        call_sid = _sid("CA")
        call["phoneCallProvider"] = "twilio"
        call["phoneCallProviderId"] = call_sid
        call["phoneCallTransport"] = "pstn"
        call["phoneNumberId"] = ctx.phone_number_id
        call["transport"] = {"provider": "twilio", "callSid": call_sid}
    if with_assistant:
        call["assistantId"] = ctx.assistant_id
    if ctx.customer_number is not None:
        call["customer"] = customer_object(ctx)
    if status != "ringing":
        call["monitor"] = {
            "listenUrl": f"wss://{MONITOR_HOST}/{ctx.call_id}/listen",
            "controlUrl": f"https://{MONITOR_HOST}/{ctx.call_id}/control",
        }
    return call


def phone_number_row(ctx: CallContext, *, assistant_id: str | None) -> Json:
    """`message.phoneNumber`: the stored row with every column, many null.

    See docs/protocol.md#phone-number-in-payloads.

    Args:
        ctx: Shared identities.
        assistant_id: The number's assistant; None when Vapi must send `assistant-request`.

    Returns:
        The phone number row as a dict.
    """
    created = iso_time(ctx.now_ms - 86_400_000 * 40)
    return {
        "id": ctx.phone_number_id,
        "orgId": ctx.org_id,
        "number": BUSINESS_NUMBER,
        "name": "Support line",
        "assistantId": assistant_id,
        "squadId": None,
        "workflowId": None,
        "provider": "twilio",
        "status": "active",
        "createdAt": created,
        "updatedAt": created,
        "serverUrl": None,
        "serverUrlSecret": None,
        "server": {"url": WEBHOOK_URL, "timeoutSeconds": 20},
        "credentialId": None,
        "credentialIds": None,
        "twilioAccountSid": _sid("AC"),
        "twilioAuthToken": None,
        "twilioApiKey": None,
        "twilioApiSecret": None,
        "twilioOutgoingCallerId": None,
        "sipUri": None,
        "fallbackForwardingPhoneNumber": None,
        "fallbackDestination": None,
        "hooks": None,
        "smsEnabled": True,
        "numberE164CheckEnabled": None,
        "authentication": None,
        "useClusterSip": None,
        "providerResourceId": None,
        "stripeSubscriptionId": None,
        "stripeSubscriptionStatus": None,
        "stripeSubscriptionCurrentPeriodStart": None,
    }


def assistant_object(ctx: CallContext, *, tools: Mapping[str, Mapping[str, Any]]) -> Json:
    """`message.assistant`: the stored assistant, defining `tools` (name -> example arguments)."""
    created = iso_time(ctx.now_ms - 86_400_000 * 30)
    return {
        "id": ctx.assistant_id,
        "orgId": ctx.org_id,
        "name": ASSISTANT_NAME,
        "voice": {"provider": "11labs", "voiceId": "sarah", "model": "eleven_turbo_v2_5"},
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}],
            "tools": [tool_definition(name, args) for name, args in tools.items()],
            "temperature": 0.4,
            "maxTokens": 250,
        },
        "transcriber": {"provider": "deepgram", "model": "nova-2", "language": "en"},
        "firstMessage": GREETING,
        "serverMessages": list(DEFAULT_SERVER_MESSAGES),
        "server": {"url": WEBHOOK_URL, "timeoutSeconds": 20},
        "createdAt": created,
        "updatedAt": created,
    }


def costs(*, duration_ms: int, turns: int) -> list[Json]:
    """`costs[]` of an end-of-call report, scaled to the call's length.

    The rates are plausible, not Vapi's price list: tests need numbers that add up.
    """
    minutes = round(duration_ms / 60_000, 4)
    prompt_tokens = 1200 * turns
    completion_tokens = 45 * turns
    characters = 110 * turns
    model = {"provider": "openai", "model": "gpt-4o"}
    return [
        {
            "type": "transport",
            "provider": "twilio",
            "minutes": minutes,
            "cost": _usd(minutes * 0.0085),
        },
        {
            "type": "transcriber",
            "transcriber": {"provider": "deepgram", "model": "nova-2"},
            "minutes": minutes,
            "cost": _usd(minutes * 0.01),
        },
        {
            "type": "model",
            "model": model,
            "promptTokens": prompt_tokens,
            "completionTokens": completion_tokens,
            "cost": _usd(prompt_tokens * 2.5e-6 + completion_tokens * 1e-5),
        },
        {
            "type": "voice",
            "voice": {"provider": "11labs", "voiceId": "sarah", "model": "eleven_turbo_v2_5"},
            "characters": characters,
            "cost": _usd(characters * 3e-5),
        },
        {"type": "vapi", "subType": "normal", "minutes": minutes, "cost": _usd(minutes * 0.05)},
        {
            "type": "analysis",
            "analysisType": "summary",
            "model": model,
            "promptTokens": 300 + 60 * turns,
            "completionTokens": 80,
            "cost": _usd((300 + 60 * turns) * 2.5e-6 + 80 * 1e-5),
        },
    ]


def _usd(amount: float) -> float:
    return round(amount, 6)


def chat_object(ctx: CallContext) -> Json:
    """A `chat` (text conversation, protocol.md#chat-and-session) with a question and answer."""
    created = iso_time(ctx.now_ms - 2000)
    question = "Where is my order A-1042?"
    answer = "Order A-1042 shipped with UPS and should arrive on Tuesday."
    return {
        "id": new_id(),
        "orgId": ctx.org_id,
        "assistantId": ctx.assistant_id,
        "input": question,
        "messages": [{"role": "user", "content": question}],
        "output": [{"role": "assistant", "content": answer}],
        "createdAt": created,
        "updatedAt": iso_time(ctx.now_ms),
        "cost": 0.00042,
    }


def session_object(ctx: CallContext, *, status: str = "active") -> Json:
    """A `session` (a conversation kept across chats, docs/protocol.md#chat-and-session)."""
    return {
        "id": new_id(),
        "orgId": ctx.org_id,
        "createdAt": iso_time(ctx.now_ms - 60_000),
        "updatedAt": iso_time(ctx.now_ms),
        "name": "Order support",
        "status": status,
        "expirationSeconds": 86400,
        "assistantId": ctx.assistant_id,
        "customer": customer_object(ctx),
        "messages": [{"role": "user", "content": "Where is my order A-1042?"}],
    }


def campaign_contact(ctx: CallContext, *, campaign_id: str) -> Json:
    """The `contact` of `campaign.predial`: who an outbound campaign is about to dial."""
    return {
        "id": new_id(),
        "campaignId": campaign_id,
        "orgId": ctx.org_id,
        "number": ctx.customer_number or CUSTOMER_NUMBER,
        "name": "Jordan Lee",
        "createdAt": iso_time(ctx.now_ms - 86_400_000),
    }
