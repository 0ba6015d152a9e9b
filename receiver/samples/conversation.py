"""A generated support conversation in the three forms Vapi carries it.

Artifacts and conversation messages repeat the same exchange as Vapi's own items
(`artifact.messages`), in OpenAI's chat format (`messagesOpenAIFormatted`) and as a
transcript (`AI: ...` / `User: ...`). Building all three from one script keeps them in step,
with ordered epoch-millisecond times, tool calls followed by their results, and a length
that scales with the call, so a two-hour end-of-call report is as big as a real one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from receiver.samples.tool_calls import make_tool_call

__all__ = [
    "FAREWELL",
    "GREETING",
    "SECONDS_PER_TURN",
    "SYSTEM_PROMPT",
    "Conversation",
    "conversation",
]

Json = dict[str, Any]

#: Seconds one exchange (assistant line plus user reply) takes in a generated conversation.
SECONDS_PER_TURN: Final = 8.0

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

    def artifact(self) -> Json:
        """The conversation part of an `artifact`, as copies the caller may change freely."""
        return {
            "messages": copy.deepcopy(self.messages),
            "messagesOpenAIFormatted": copy.deepcopy(self.openai),
            "transcript": self.transcript,
        }

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
    through the middle exchanges with new order numbers, so their size grows with the
    number of turns the way a real report's does.

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
        # Mid-call, the last reply has just been heard: the model has not acted on it yet.
        if lookup is not None and lookups and (ended or turn < turns - 1):
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
