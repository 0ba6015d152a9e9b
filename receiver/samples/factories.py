"""Factories for realistic Vapi server messages, so tests need no phone call.

`make_message("tool-calls")` returns the whole envelope `{"message": {...}}` that Vapi would
POST for that type: a call with consistent ids, the phone number row, the assistant, the
customer and the type's own fields, all camelCase, valid against the official SDK models.

What the defaults look like: an inbound Twilio call (`ringing` for assistant-request, which
has no assistant yet; `ended` for end-of-call-report and the call.* events, which carry only
the call; otherwise `in-progress`), the stored phone number row, the stored assistant with
its tools, and the customer. The types that carry the conversation (conversation-update,
knowledge-base-request, call.endpointing.request, tool-calls, transfer- and
handoff-destination-request, a forwarding status-update, end-of-call-report) also carry a
live `artifact`. chat.*, session.* and campaign.predial have no call. Ids are fresh uuid4
values on every call; times are now.

How keyword overrides resolve, in this order:

1. **Convenience keywords** are consumed first and shape the payload everywhere the fact
   appears, so the message stays consistent. Shared by every type: `call_id`, `org_id`,
   `assistant_id` (call.assistantId and assistant.id), `phone_number_id`
   (call.phoneNumberId and phoneNumber.id), `customer_number` (call.customer.number and
   customer.number), `web_call=True` (call.type webCall, no phoneNumberId, no phoneNumber,
   no customer unless `customer_number` is given). They never add what the type lacks:
   assistant-request has no assistant and no call.assistantId, so `assistant_id` changes
   nothing there (set `call__assistant_id=` to have one).
   Per type, see `CONVENIENCE_KEYWORDS`: e.g. `tool_calls`, `tool_name`, `arguments`,
   `arguments_as_json` for tool-calls; `function_name`, `parameters` for function-call;
   `minutes`, `turns`, `ended_reason` for end-of-call-report; `status`, `ended_reason` for
   status-update; `turns` for the types that carry the conversation.
2. **Path keywords** (every other keyword) are then set literally, in the order written:
   snake_case segments become camelCase (`phone_number_id` -> `phoneNumberId`), segments
   that are already camelCase stay unchanged, `__` walks into nested objects creating dicts
   on the way, digits index lists, and the value `REMOVE` deletes the key. A path therefore
   always wins over a convenience keyword, and a later path over an earlier one.
   The first segment must name a key the message has or its model knows, so a misplaced
   keyword (`secret="wrong"`) is a `TypeError` that lists the known keys instead of a
   silent new payload field. Deeper segments are free (`call__assistant_overrides=...`).

Values are never converted, so a dict value is the escape hatch for snake_case JSON keys:
`call__assistant_overrides={"variableValues": {"first_name": "Ann"}}`. The message type is
positional-only, so `type=` is a path like any other and sets `message.type` literally.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from pydantic import BaseModel

from receiver.message_types import TYPES_IN_ORDER
from receiver.models import MESSAGE_MODELS, Call, Message
from receiver.samples.conversation import SECONDS_PER_TURN, Conversation, conversation
from receiver.samples.overrides import REMOVE, apply_overrides, check_known
from receiver.samples.parts import (
    CallContext,
    assistant_object,
    call_object,
    campaign_contact,
    chat_object,
    costs,
    customer_object,
    new_id,
    phone_number_row,
    session_object,
)
from receiver.samples.tool_calls import arguments_of, to_tool_calls, tool_definition

__all__ = ["CONVENIENCE_KEYWORDS", "MESSAGE_TYPES", "make_message", "sample_call"]

Json = dict[str, Any]
Knobs = dict[str, Any]
Builder = Callable[[CallContext, Knobs], Json]

_SHARED_KEYWORDS: Final = (
    "call_id",
    "org_id",
    "assistant_id",
    "phone_number_id",
    "customer_number",
    "web_call",
)
_CONVERSATION_TYPES: Final = (
    "conversation-update",
    "knowledge-base-request",
    "call.endpointing.request",
)

#: Convenience keywords per type, beyond the shared ones; any other keyword is a path.
CONVENIENCE_KEYWORDS: Final[Mapping[str, frozenset[str]]] = {
    "tool-calls": frozenset({"tool_calls", "tool_name", "arguments", "arguments_as_json"}),
    "function-call": frozenset({"function_name", "parameters"}),
    "end-of-call-report": frozenset({"minutes", "turns", "ended_reason"}),
    "status-update": frozenset({"status", "ended_reason"}),
    **{t: frozenset({"turns"}) for t in _CONVERSATION_TYPES},
}

_TRANSFER_NUMBER: Final = "+14155550199"
_DEFAULT_TOOL: Final = ("lookup_order", {"order_id": "A-1042"})
_SUMMARY: Final = (
    "The caller asked about a late order. Riley looked it up, confirmed it is in transit with "
    "UPS for delivery on Tuesday, arranged a hold at an access point and set up a return."
)


def make_message(type: str, /, **overrides: Any) -> Json:
    """A realistic envelope `{"message": {...}}` of the given Vapi message type.

    Every call returns fresh ids (uuid4), so two messages never collide by accident; pass
    `call_id=` and friends to pin them. See the module docstring for how keywords resolve.

    Args:
        type: One of `MESSAGE_TYPES`, e.g. `"tool-calls"` or `"end-of-call-report"`.
        **overrides: Convenience keywords (`call_id`, `tool_calls`, `minutes`, ...) and
            paths (`call__assistant_id="asst-1"`, `assistant=REMOVE`).

    Returns:
        The envelope, a plain JSON-compatible dict owned by the caller.

    Raises:
        ValueError: `type` is not a known type (the message lists close matches).
        TypeError: A convenience keyword has a value of the wrong kind.

    Example:
        >>> msg = make_message("tool-calls", tool_name="lookup_order", arguments={"id": 7})
        >>> msg["message"]["toolCallList"][0]["function"]["arguments"]
        {'id': 7}
    """
    builder = _BUILDERS.get(type)
    if builder is None:
        raise _unknown_type(type)
    convenience = CONVENIENCE_KEYWORDS.get(type, frozenset())
    ctx = _context(_take(overrides, _SHARED_KEYWORDS))
    message = builder(ctx, _take(overrides, convenience))
    model = MESSAGE_MODELS.get(type, Message)
    check_known(overrides, _json_keys(model) | message.keys(), (*_SHARED_KEYWORDS, *convenience))
    apply_overrides(message, overrides)
    return {"message": message}


def sample_call(**overrides: Any) -> Json:
    """A Call object (docs/protocol.md#call) of an inbound phone call in progress.

    For building a message by hand, or for answering code that looks calls up.

    Args:
        **overrides: The shared convenience keywords of `make_message` (`call_id`,
            `web_call`, ...); other keywords are paths into the call (`status="ended"`).

    Returns:
        The call, a plain dict with fresh ids.

    Example:
        >>> sample_call(status="ended", customer__number="+441632960961")["customer"]
        {'number': '+441632960961'}
    """
    ctx = _context(_take(overrides, _SHARED_KEYWORDS))
    call = _call(ctx, "in-progress")
    check_known(overrides, _json_keys(Call) | call.keys(), _SHARED_KEYWORDS)
    apply_overrides(call, overrides)
    return call


def _json_keys(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def _take(overrides: dict[str, Any], names: Collection[str]) -> Knobs:
    taken = {name: overrides.pop(name) for name in names if name in overrides}
    for name, value in taken.items():
        if value is REMOVE:
            raise TypeError(f"{name}= is a convenience keyword; REMOVE works on paths only")
    return taken


def _context(shared: Knobs) -> CallContext:
    web_call = bool(shared.pop("web_call", False))
    if web_call and "customer_number" not in shared:
        shared["customer_number"] = None
    for name, value in shared.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name}= takes a string, not {type(value).__name__}")
    return CallContext(web_call=web_call, **shared)


def _unknown_type(name: str) -> ValueError:
    by_lower = {t.lower(): t for t in MESSAGE_TYPES}
    close = [by_lower[m] for m in difflib.get_close_matches(name.lower(), by_lower, n=3)]
    hint = f"did you mean {' or '.join(map(repr, close))}?" if close else "no close match"
    return ValueError(
        f"unknown Vapi message type {name!r}: {hint} (`vapi-receiver send --list` lists all "
        f"{len(MESSAGE_TYPES)})"
    )


# -- the envelope shared by the call types ---------------------------------------------------


def _call(ctx: CallContext, status: str, *, assistant: bool = True, **timing: Any) -> Json:
    created = timing.pop("created_ms", ctx.now_ms - 45_000)
    if status in ("in-progress", "forwarding", "ended") and "started_ms" not in timing:
        timing["started_ms"] = created + 1_200
    return call_object(ctx, status=status, created_ms=created, with_assistant=assistant, **timing)


def _envelope(
    ctx: CallContext,
    type_: str,
    *,
    call: Json | None = None,
    assistant: bool = True,
    tools: Mapping[str, Mapping[str, Any]] | None = None,
) -> Json:
    """`type`, `timestamp`, `call`, `phoneNumber`, `customer`, `assistant` for a call message."""
    message: Json = {"type": type_, "timestamp": ctx.now_ms}
    message["call"] = call if call is not None else _call(ctx, "in-progress", assistant=assistant)
    if not ctx.web_call:
        message["phoneNumber"] = phone_number_row(
            ctx, assistant_id=ctx.assistant_id if assistant else None
        )
    if ctx.customer_number is not None:
        message["customer"] = customer_object(ctx)
    if assistant:
        message["assistant"] = assistant_object(ctx, tools=tools or dict([_DEFAULT_TOOL]))
    return message


def _live(ctx: CallContext, turns: int, *, lookups: bool = True) -> Conversation:
    """The conversation so far, for a message sent during the call."""
    duration = int(_positive_int(turns, "turns") * SECONDS_PER_TURN * 1000)
    started = ctx.now_ms - duration - 500
    return conversation(
        started_ms=started, duration_ms=duration, turns=turns, ended=False, lookups=lookups
    )


def _with_conversation(type_: str) -> Builder:
    """A builder for a message carrying the conversation so far (`turns=`, default 3)."""

    def build(ctx: CallContext, knobs: Knobs) -> Json:
        convo = _live(ctx, knobs.get("turns", 3))
        message = _envelope(ctx, type_)
        message["artifact"] = convo.artifact()
        message["messages"] = convo.messages
        message["messagesOpenAIFormatted"] = convo.openai
        return message

    return build


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"{name}= takes a positive int, not {value!r}")
    return value


# -- one builder per type ---------------------------------------------------------------------


def _assistant_request(ctx: CallContext, knobs: Knobs) -> Json:
    ringing = _call(ctx, "ringing", assistant=False, created_ms=ctx.now_ms - 350)
    return _envelope(ctx, "assistant-request", call=ringing, assistant=False)


def _end_of_call_report(ctx: CallContext, knobs: Knobs) -> Json:
    minutes, turns = knobs.get("minutes"), knobs.get("turns")
    if turns is not None:
        _positive_int(turns, "turns")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0
    ):
        raise TypeError(f"minutes= takes a positive number, not {minutes!r}")
    if minutes is None:
        turns = turns or 6
        duration = int(turns * SECONDS_PER_TURN * 1000) + 2_000
    else:
        duration = int(minutes * 60_000)
        turns = turns or max(2, round(duration / 1000 / SECONDS_PER_TURN))
    ended_reason = knobs.get("ended_reason", "customer-ended-call")
    ended = ctx.now_ms - 2_500
    started = ended - duration
    call = _call(
        ctx,
        "ended",
        created_ms=started - 1_200,
        started_ms=started,
        ended_ms=ended,
        ended_reason=ended_reason,
    )
    message = _envelope(ctx, "end-of-call-report", call=call)
    convo = conversation(started_ms=started, duration_ms=duration, turns=turns)
    item_costs = costs(duration_ms=duration, turns=turns)
    recording = f"https://storage.vapi.ai/{ctx.call_id}-{ended}-{new_id()}"
    artifact = convo.artifact() | {
        "recordingUrl": f"{recording}-mono.wav",
        "stereoRecordingUrl": f"{recording}-stereo.wav",
        "recording": {
            "stereoUrl": f"{recording}-stereo.wav",
            "mono": {
                "combinedUrl": f"{recording}-mono.wav",
                "assistantUrl": f"{recording}-assistant.wav",
                "customerUrl": f"{recording}-customer.wav",
            },
        },
    }
    return message | {
        "endedReason": ended_reason,
        "startedAt": call["startedAt"],
        "endedAt": call["endedAt"],
        "cost": round(sum(c["cost"] for c in item_costs), 6),
        "costs": item_costs,
        "analysis": {"summary": _SUMMARY, "successEvaluation": "true"},
        "artifact": artifact,
    }


def _status_update(ctx: CallContext, knobs: Knobs) -> Json:
    status = knobs.get("status", "in-progress")
    if not isinstance(status, str):
        raise TypeError(f"status= takes a string, not {status!r}")
    reason = knobs.get("ended_reason", "customer-ended-call" if status == "ended" else None)
    if status == "ended":
        call = _call(ctx, status, ended_ms=ctx.now_ms - 300, ended_reason=reason)
    else:
        call = _call(ctx, status)
    message = _envelope(ctx, "status-update", call=call)
    message["status"] = status
    if reason is not None:
        message["endedReason"] = reason
    if status == "forwarding":
        convo = _live(ctx, 3)
        message |= {
            "destination": {"type": "number", "number": _TRANSFER_NUMBER},
            "messages": convo.messages,
            "messagesOpenAIFormatted": convo.openai,
            "transcript": convo.transcript,
            "summary": "The caller asked to speak to a person about a billing question.",
            "artifact": convo.artifact(),
        }
    return message


def _tool_calls(ctx: CallContext, knobs: Knobs) -> Json:
    if "tool_calls" in knobs and ("tool_name" in knobs or "arguments" in knobs):
        raise TypeError("pass either tool_calls= or tool_name=/arguments=, not both")
    if "tool_calls" in knobs:
        items = knobs["tool_calls"]
    elif "tool_name" in knobs:
        items = [(knobs["tool_name"], knobs.get("arguments", {}))]
    else:
        items = [(_DEFAULT_TOOL[0], knobs.get("arguments", _DEFAULT_TOOL[1]))]
    calls = to_tool_calls(items, arguments_as_json=bool(knobs.get("arguments_as_json")))
    tools: dict[str, Mapping[str, Any]] = {}
    for call in calls:
        tools.setdefault(call["function"]["name"], arguments_of(call))
    message = _envelope(ctx, "tool-calls", tools=tools)
    convo = _live(ctx, 2, lookups=False)
    if calls:
        convo.call_tools(calls, ctx.now_ms - 150)
    message["toolCallList"] = copy.deepcopy(calls)
    message["toolWithToolCallList"] = [
        tool_definition(c["function"]["name"], tools[c["function"]["name"]])
        | {"toolCall": copy.deepcopy(c)}
        for c in calls
    ]
    message["artifact"] = convo.artifact()
    return message


def _function_call(ctx: CallContext, knobs: Knobs) -> Json:
    name = knobs.get("function_name", _DEFAULT_TOOL[0])
    parameters = copy.deepcopy(knobs.get("parameters", _DEFAULT_TOOL[1]))
    example = parameters if isinstance(parameters, Mapping) else {}
    message = _envelope(ctx, "function-call", tools={name: example})
    message["functionCall"] = {"name": name, "parameters": parameters}
    return message


def _transfer_destination_request(ctx: CallContext, knobs: Knobs) -> Json:
    convo = _live(ctx, 2)
    return _envelope(ctx, "transfer-destination-request") | {"artifact": convo.artifact()}


def _handoff_destination_request(ctx: CallContext, knobs: Knobs) -> Json:
    convo = _live(ctx, 2)
    return _envelope(ctx, "handoff-destination-request") | {
        "parameters": {"destination": "dynamic", "reason": "billing question"},
        "artifact": convo.artifact(),
    }


def _fields(type_: str, **fields: Any) -> Builder:
    """A builder for a call message whose own fields are constants (plus fresh ids)."""

    def build(ctx: CallContext, knobs: Knobs) -> Json:
        own = {k: new_id() if v is new_id else copy.deepcopy(v) for k, v in fields.items()}
        return _envelope(ctx, type_) | own

    return build


def _call_event(type_: str, status: str, **fields: Any) -> Builder:
    """A builder for an event about a finished call: only the call, no phone or assistant."""

    def build(ctx: CallContext, knobs: Knobs) -> Json:
        ended = ctx.now_ms - 60_000
        call = _call(
            ctx,
            status,
            created_ms=ended - 120_000,
            started_ms=ended - 118_000,
            ended_ms=ended,
            ended_reason="customer-ended-call",
        )
        return {"type": type_, "timestamp": ctx.now_ms, "call": call, **copy.deepcopy(fields)}

    return build


def _chat_event(type_: str) -> Builder:
    def build(ctx: CallContext, knobs: Knobs) -> Json:
        return {"type": type_, "timestamp": ctx.now_ms, "chat": chat_object(ctx)}

    return build


def _session_event(type_: str, status: str) -> Builder:
    def build(ctx: CallContext, knobs: Knobs) -> Json:
        session = session_object(ctx, status=status)
        return {"type": type_, "timestamp": ctx.now_ms, "session": session}

    return build


def _campaign_predial(ctx: CallContext, knobs: Knobs) -> Json:
    campaign_id = new_id()
    contact = campaign_contact(ctx, campaign_id=campaign_id)
    return {
        "type": "campaign.predial",
        "timestamp": ctx.now_ms,
        "campaignId": campaign_id,
        "contact": contact,
        "customer": {"number": contact["number"], "name": contact["name"]},
    }


def _voice_request(ctx: CallContext, knobs: Knobs) -> Json:
    message = _envelope(ctx, "voice-request")
    message["assistant"]["voice"] = {
        "provider": "custom-voice",
        "server": {"url": "https://receiver.example.com/vapi/tts", "timeoutSeconds": 20},
    }
    return message | {
        "text": "Thanks for waiting. Let me look that up for you.",
        "sampleRate": 24000,
    }


_BUILDERS: Final[dict[str, Builder]] = {
    "assistant-request": _assistant_request,
    "conversation-update": _with_conversation("conversation-update"),
    "end-of-call-report": _end_of_call_report,
    "handoff-destination-request": _handoff_destination_request,
    "hang": _fields("hang"),
    "knowledge-base-request": _with_conversation("knowledge-base-request"),
    "model-output": _fields("model-output", output={"content": "Let me check "}, turnId=new_id),
    "phone-call-control": _fields(
        "phone-call-control",
        request="forward",
        destination={
            "type": "number",
            "number": _TRANSFER_NUMBER,
            "message": "Transferring you to our billing team now.",
        },
    ),
    "speech-update": _fields("speech-update", status="started", role="assistant", turn=2),
    "status-update": _status_update,
    "tool-calls": _tool_calls,
    "transfer-destination-request": _transfer_destination_request,
    "transfer-update": _fields(
        "transfer-update",
        destination={
            "type": "number",
            "number": _TRANSFER_NUMBER,
            "message": "Transferring you to our billing team now.",
        },
    ),
    "transcript": _fields(
        "transcript",
        role="user",
        transcriptType="final",
        transcript="Can I change the delivery address, though?",
    ),
    "user-interrupted": _fields("user-interrupted", turnId=new_id),
    "language-change-detected": _fields("language-change-detected", language="es"),
    "voice-input": _fields("voice-input", input="Thanks for waiting. Let me look that up."),
    "assistant.speechStarted": _fields(
        "assistant.speechStarted",
        text="Thanks for waiting. Order A-1042 shipped with UPS and is in transit.",
        turn=3,
        source="model",
    ),
    "voice-request": _voice_request,
    "call.endpointing.request": _with_conversation("call.endpointing.request"),
    "chat.created": _chat_event("chat.created"),
    "chat.deleted": _chat_event("chat.deleted"),
    "session.created": _session_event("session.created", "active"),
    "session.updated": _session_event("session.updated", "active"),
    "session.deleted": _session_event("session.deleted", "completed"),
    "call.deleted": _call_event("call.deleted", "ended"),
    "call.delete.failed": _call_event("call.delete.failed", "deletion-failed"),
    "call.artifact.upload": _call_event(
        "call.artifact.upload",
        "ended",
        artifacts=[
            {"type": "end-of-call-report", "success": True},
            {"type": "recording-mono", "success": True},
            {"type": "recording-stereo", "success": True},
        ],
    ),
    "campaign.predial": _campaign_predial,
    "function-call": _function_call,
}


def _campaign_event(type_: str) -> Builder:
    """A campaign or contact event: no schema in the SDK, so the predial's fields."""

    def build(ctx: CallContext, knobs: Knobs) -> Json:
        return _campaign_predial(ctx, knobs) | {"type": type_}

    return build


# The known types with no schema of their own: the envelope of their kind.
_BUILDERS.update(
    {
        type_: _campaign_event(type_)
        if type_.startswith(("campaign.", "contact."))
        else _fields(type_)
        for type_ in TYPES_IN_ORDER
        if type_ not in _BUILDERS
    }
)

#: Every type the receiver knows (`receiver.message_types`), request types first: the 29 of
#: the SDK's ServerMessage union, the legacy `function-call`, and the events that have no
#: schema (built as the envelope of their kind).
MESSAGE_TYPES: Final = TYPES_IN_ORDER
