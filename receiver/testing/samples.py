"""Realistic sub-objects of Vapi messages: the call, the phone number row, the assistant,
the customer, a conversation with its artifact, and the tool calls made during it.

The shapes follow PROTOCOL.md sections 9 and 10 and real captured payloads (camelCase keys,
epoch-millisecond message times, ISO-8601 object timestamps). Everything here is plain
dicts; `factories` assembles them into whole messages.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "CallContext",
    "Conversation",
    "ToolSpec",
    "assistant_object",
    "call_object",
    "campaign_contact",
    "chat_object",
    "conversation",
    "costs",
    "customer_object",
    "iso_time",
    "make_tool_call",
    "new_id",
    "phone_number_row",
    "session_object",
    "tool_definition",
]

Json = dict[str, Any]

BUSINESS_NUMBER: Final = "+14155550142"
CUSTOMER_NUMBER: Final = "+12125550173"
WEBHOOK_URL: Final = "https://receiver.example.com/vapi/webhook"
TOOL_SERVER_URL: Final = "https://receiver.example.com/vapi/tools"
STORAGE_URL: Final = "https://storage.vapi.ai"
MONITOR_HOST: Final = "phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai"

#: Seconds one exchange (assistant line plus user reply) takes in a generated conversation.
SECONDS_PER_TURN: Final = 8.0

ASSISTANT_NAME: Final = "Riley - Support"
GREETING: Final = (
    "Thanks for calling Northwind Outfitters, this is Riley. How can I help you today?"
)
FAREWELL: Final = "Thanks for calling Northwind Outfitters. Have a great day!"
SYSTEM_PROMPT: Final = (
    "You are Riley, the phone support assistant of Northwind Outfitters, an online shop for "
    "outdoor clothing and gear. Callers reach you about orders, deliveries, returns and "
    "exchanges.\n\n"
    "Style: warm, brief and concrete. This is a voice conversation: keep every answer to one "
    "or two short sentences, never read out lists longer than three items, spell order "
    "numbers character by character when you confirm them, and never use markdown.\n\n"
    "Orders: when a caller mentions an order, ask for the order number (it looks like A-1042) "
    "and call the lookup_order tool before you say anything about its status. Never guess a "
    "delivery date. If the parcel is in transit, offer to have it held at a carrier access "
    "point; addresses cannot be changed once an order has shipped.\n\n"
    "Returns: returns are free within thirty days of delivery for unworn items with tags. "
    "Look the order up first, then tell the caller whether it is eligible; a prepaid label "
    "is emailed to the address on the account.\n\n"
    "Escalation: if the caller asks for a person, is upset after two attempts, or the "
    "question is about billing disputes, say that you will transfer them and call the "
    "transferCall tool. Never collect card numbers over the phone.\n\n"
    "End the call politely with the endCall tool once the caller has nothing else to ask."
)

#: Tool descriptions for the tools the sample conversation uses; other names get a generic one.
TOOL_DESCRIPTIONS: Final = {
    "lookup_order": "Look up an order by its number and return its status and delivery date.",
    "create_return_label": "Email a prepaid return label for an order to the account address.",
}

DEFAULT_SERVER_MESSAGES: Final = (
    "conversation-update",
    "end-of-call-report",
    "function-call",
    "hang",
    "speech-update",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "user-interrupted",
)


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
    """The `call` object of a message (PROTOCOL.md 9.1), as it stands at `status`.

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
    """`message.phoneNumber`: the stored row with every column, many null (PROTOCOL.md 10.2).

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


@dataclass(frozen=True)
class ToolSpec:
    """One tool call to put in a message: the function name and its arguments."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def tool_definition(spec: ToolSpec) -> Json:
    """The function tool definition an assistant carries for `spec` (`model.tools[i]`).

    The JSON-schema parameters are derived from the example arguments, so the definition
    and the call agree.
    """
    description = TOOL_DESCRIPTIONS.get(spec.name, spec.name.replace("_", " ").capitalize() + ".")
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": _json_type(v)} for k, v in spec.arguments.items()},
                "required": list(spec.arguments),
            },
        },
        "async": False,
        "server": {"url": TOOL_SERVER_URL, "timeoutSeconds": 20},
        "messages": [],
    }


def make_tool_call(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    id: str | None = None,
    *,
    arguments_as_json: bool = False,
) -> Json:
    """One entry of `toolCallList`: `{id, type: "function", function: {name, arguments}}`.

    Real payloads carry `arguments` as a JSON object, while the SDK schema says string;
    `arguments_as_json=True` produces the schema's form so both can be tested.

    Args:
        name: The function name the model called.
        arguments: The arguments the model supplied (default: none).
        id: The tool call id; default a fresh OpenAI-style `call_...` id.
        arguments_as_json: Encode the arguments as a JSON string instead of an object.

    Returns:
        The tool call as a dict.

    Example:
        >>> make_tool_call("lookup_order", {"order_id": "A-1042"}, id="call_1")["function"]
        {'name': 'lookup_order', 'arguments': {'order_id': 'A-1042'}}
    """
    args = dict(arguments or {})
    return {
        "id": id if id is not None else "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args) if arguments_as_json else args},
    }


def assistant_object(ctx: CallContext, *, tools: Sequence[ToolSpec] = ()) -> Json:
    """`message.assistant`: the resolved assistant, with the definitions of `tools`."""
    created = iso_time(ctx.now_ms - 86_400_000 * 30)
    specs = list(tools) or [ToolSpec("lookup_order", {"order_id": "A-1042"})]
    return {
        "id": ctx.assistant_id,
        "orgId": ctx.org_id,
        "name": ASSISTANT_NAME,
        "voice": {"provider": "11labs", "voiceId": "sarah", "model": "eleven_turbo_v2_5"},
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}],
            "tools": [tool_definition(spec) for spec in specs],
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


@dataclass
class Conversation:
    """A conversation in the three forms an artifact carries it, built line by line."""

    #: When the conversation started, epoch ms; `secondsFromStart` counts from here.
    started_ms: int
    #: `artifact.messages`: system/bot/user/tool_calls/tool_call_result items.
    messages: list[Json] = field(default_factory=list)
    #: `messagesOpenAIFormatted`: `{role, content, tool_calls?, tool_call_id?}`.
    openai: list[Json] = field(default_factory=list)
    #: Lines of `artifact.transcript` (`AI: ...` / `User: ...`).
    lines: list[str] = field(default_factory=list)

    @property
    def transcript(self) -> str:
        """`artifact.transcript`: the spoken lines joined by newlines."""
        return "\n".join(self.lines)

    def _seconds(self, time_ms: int) -> float:
        return round((time_ms - self.started_ms) / 1000, 3)

    def system(self) -> None:
        """Add the system prompt, as every artifact starts."""
        self.messages.append(
            {
                "role": "system",
                "message": SYSTEM_PROMPT,
                "time": self.started_ms,
                "secondsFromStart": 0,
            }
        )
        self.openai.append({"role": "system", "content": SYSTEM_PROMPT})

    def say(self, role: str, text: str, start_ms: int, end_ms: int) -> None:
        """Add one spoken line; `role` is `bot` or `user`."""
        item: Json = {
            "role": role,
            "message": text,
            "time": start_ms,
            "endTime": end_ms,
            "secondsFromStart": self._seconds(start_ms),
            "duration": round((end_ms - start_ms) / 1000, 3),
        }
        if role == "bot":
            item["source"] = ""
        self.messages.append(item)
        self.openai.append({"role": "assistant" if role == "bot" else "user", "content": text})
        self.lines.append(("AI: " if role == "bot" else "User: ") + text)

    def call_tools(self, calls: Sequence[Json], time_ms: int) -> None:
        """Add the model's tool calls; `calls` are `make_tool_call` dicts (any argument form).

        Artifacts carry arguments as JSON strings, as the model produced them.
        """
        openai_calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {
                    "name": c["function"]["name"],
                    "arguments": _as_json_text(c["function"]["arguments"]),
                },
            }
            for c in calls
        ]
        self.messages.append(
            {
                "role": "tool_calls",
                "toolCalls": openai_calls,
                "message": "",
                "time": time_ms,
                "secondsFromStart": self._seconds(time_ms),
            }
        )
        self.openai.append({"role": "assistant", "content": "", "tool_calls": openai_calls})

    def tool_result(self, call: Json, result: str, time_ms: int) -> None:
        """Add the result our server returned for `call`."""
        self.messages.append(
            {
                "role": "tool_call_result",
                "toolCallId": call["id"],
                "name": call["function"]["name"],
                "result": result,
                "time": time_ms,
                "secondsFromStart": self._seconds(time_ms),
            }
        )
        self.openai.append({"role": "tool", "tool_call_id": call["id"], "content": result})


def _as_json_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


#: Middle exchanges, cycled for long calls: (assistant line, user reply, order to look up).
#: `{order}` and `{earlier}` are order numbers that change on each pass through the cycle.
_EXCHANGES: Final = (
    (
        "I'm sorry it's late. I can look that up for you. What's the order number?",
        "Sure, it's {order}. I ordered it a week ago Tuesday.",
        "{order}",
    ),
    (
        "Thanks for waiting. Order {order} shipped with UPS and is in transit; the "
        "estimated delivery is Tuesday.",
        "Okay. Can I change the delivery address, though? I'll be at work all day.",
        None,
    ),
    (
        "Once a parcel has shipped I can't change the address, but UPS can hold it at an "
        "access point near you. Would that work?",
        "Yes, that would be great. The one on Market Street is closest to my office.",
        None,
    ),
    (
        "Done. It will be held at the Market Street access point, and you'll get a text when "
        "it's ready to collect.",
        "Perfect. While I have you, I'd like to return a jacket from an earlier order.",
        None,
    ),
    (
        "Of course. Returns are free within thirty days of delivery. Do you have that order "
        "number handy?",
        "Let me check. Yes, here it is: {earlier}.",
        "{earlier}",
    ),
    (
        "Got it. That jacket was delivered eighteen days ago, so it's eligible. I'll email a "
        "prepaid return label to the address on your account.",
        "Great, which email address will it go to? I have a couple of them.",
        None,
    ),
)
_OPENING_REPLY: Final = (
    "Hi, I'm calling about an order I placed last week. It still hasn't arrived."
)
_CLOSING: Final = (
    "Is there anything else I can help you with today?",
    "No, that's everything. Thanks for your help.",
)


def conversation(
    *, started_ms: int, duration_ms: int, turns: int, ended: bool = True, lookups: bool = True
) -> Conversation:
    """A support conversation of `turns` exchanges spread evenly over `duration_ms`.

    Each exchange is an assistant line and the caller's reply. Replies that give an order
    number are followed by a `lookup_order` tool call and its result. Long calls cycle
    through the middle exchanges with new order numbers, so a two-hour report is as
    repetitive as a real one, not a copy of one line.

    Args:
        started_ms: When the conversation started, epoch ms.
        duration_ms: How long it has lasted so far.
        turns: Number of exchanges, at least 1; the first is the greeting.
        ended: The call is over: the last exchange is the closing one, then a goodbye.
        lookups: Add the tool calls and results after replies that give an order number.

    Returns:
        The conversation, ready for an artifact.
    """
    convo = Conversation(started_ms)
    convo.system()
    turns = max(turns, 1)
    slot = duration_ms / turns
    for turn in range(turns):
        begin = started_ms + int(turn * slot)
        cycle, position = divmod(turn - 1, len(_EXCHANGES))
        numbers = {"order": f"A-{1042 + cycle}", "earlier": f"A-{2817 + cycle}"}
        lookup: str | None = None
        if turn == 0:
            bot, user = GREETING, _OPENING_REPLY
        elif ended and turn == turns - 1:
            bot, user = _CLOSING
        else:
            bot, user, lookup = _EXCHANGES[position]
        convo.say("bot", bot.format(**numbers), _at(begin, slot, 0.05), _at(begin, slot, 0.45))
        convo.say("user", user.format(**numbers), _at(begin, slot, 0.52), _at(begin, slot, 0.80))
        if lookup is not None and lookups:
            order = lookup.format(**numbers)
            call = make_tool_call("lookup_order", {"order_id": order})
            convo.call_tools([call], _at(begin, slot, 0.84))
            result = {"orderId": order, "status": "in_transit", "carrier": "UPS", "eta": "Tue"}
            convo.tool_result(call, json.dumps(result), _at(begin, slot, 0.88))
    if ended:
        end = started_ms + duration_ms
        convo.say("bot", FAREWELL, end - int(slot * 0.08), end)
    return convo


def _at(begin: int, slot: float, fraction: float) -> int:
    return begin + int(slot * fraction)


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
    """A `chat` (text conversation, PROTOCOL.md 9.3) with one question and its answer."""
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
    """A `session` (a conversation kept across chats, PROTOCOL.md 9.3)."""
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
