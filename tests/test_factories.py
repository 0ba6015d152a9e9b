"""The message factories produce what Vapi sends, checked against the official SDK models."""

from __future__ import annotations

import json
import re
import typing
from datetime import datetime
from typing import Any

import pytest

from receiver.message_types import KNOWN_TYPES
from receiver.models import MESSAGE_MODELS, Message, parse_message
from receiver.testing import (
    CONVENIENCE_KEYWORDS,
    MESSAGE_TYPES,
    REMOVE,
    make_message,
    make_tool_call,
    sample_call,
)

Json = dict[str, Any]

#: Keys real payloads carry that the SDK models do not declare (they allow extra keys, so
#: these validate, but a key outside this list is most likely a typo in the factories).
_PHONE_ROW_COLUMNS = [
    "id",
    "orgId",
    "createdAt",
    "updatedAt",
    "status",
    "serverUrl",
    "serverUrlSecret",
    "credentialId",
    "credentialIds",
    "twilioOutgoingCallerId",
    "sipUri",
    "fallbackForwardingPhoneNumber",
    "numberE164CheckEnabled",
    "authentication",
    "useClusterSip",
    "providerResourceId",
    "stripeSubscriptionId",
    "stripeSubscriptionStatus",
    "stripeSubscriptionCurrentPeriodStart",
]
KNOWN_EXTRA_KEYS = frozenset(
    # `phoneNumber` is the stored row; the SDK types it as the create DTO
    # (docs/protocol.md#phone-number-in-payloads).
    [f"phoneNumber.{column}" for column in _PHONE_ROW_COLUMNS]
    # The assistant is the stored one; the SDK types it as CreateAssistantDto.
    + [f"assistant.{key}" for key in ("id", "orgId", "createdAt", "updatedAt")]
    # OpenAI's own keys; the SDK's OpenAiMessage declares only role and content.
    + [
        f"{prefix}messagesOpenAIFormatted[].{key}"
        for prefix in ("", "artifact.")
        for key in ("tool_calls", "tool_call_id")
    ]
)


class Sdk:
    """The official SDK's message models, imported once per session (the import is slow)."""

    def __init__(self) -> None:
        from pydantic import BaseModel, ValidationError
        from vapi.types.call import Call
        from vapi.types.server_message_message import ServerMessageMessage

        self.base_model = BaseModel
        self.validation_error = ValidationError
        self.call = Call
        self.by_type: dict[str, type[BaseModel]] = {}
        for model in typing.get_args(ServerMessageMessage):
            annotation = model.model_fields["type"].annotation
            for member in typing.get_args(annotation):
                if typing.get_origin(member) is typing.Literal:
                    for literal in typing.get_args(member):
                        self.by_type.setdefault(literal, model)

    def validate(self, message: Json) -> Any:
        return self.by_type[message["type"]].model_validate(message)

    def errors(self, message: Json) -> list[tuple[tuple[Any, ...], str]]:
        try:
            self.validate(message)
        except self.validation_error as exc:
            return [(tuple(e["loc"]), e["type"]) for e in exc.errors()]
        return []

    def unknown_keys(self, node: Any, path: str = "") -> set[str]:
        """Paths of keys the models kept as extras, list indices written `[]`."""
        found: set[str] = set()
        if isinstance(node, self.base_model):
            found |= {f"{path}.{key}".lstrip(".") for key in node.model_extra or {}}
            for name, info in type(node).model_fields.items():
                found |= self.unknown_keys(getattr(node, name), f"{path}.{info.alias or name}")
        elif isinstance(node, list | tuple):
            for item in node:
                found |= self.unknown_keys(item, path + "[]")
        return found


@pytest.fixture(scope="session")
def sdk() -> Sdk:
    return Sdk()


def with_string_arguments(message: Json) -> Json:
    """`message` with tool-call arguments JSON-encoded, the form the SDK schema declares."""
    copy: Json = json.loads(json.dumps(message))
    calls = copy.get("toolCallList", []) + [t["toolCall"] for t in copy["toolWithToolCallList"]]
    for call in calls:
        call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
    return copy


# The types the SDK has a schema for: all but the legacy function-call and those without one.
SDK_TYPES = [t for t in MESSAGE_TYPES if t != "function-call" and MESSAGE_MODELS[t] is not Message]


# -- the schema oracle ------------------------------------------------------------------------


def test_the_factories_build_every_type_the_receiver_knows() -> None:
    assert len(MESSAGE_TYPES) == len(set(MESSAGE_TYPES)) == len(KNOWN_TYPES)
    assert set(MESSAGE_TYPES) == KNOWN_TYPES
    for message_type in MESSAGE_TYPES:
        message = make_message(message_type)["message"]
        assert message["type"] == message_type
        assert isinstance(parse_message(message), MESSAGE_MODELS[message_type])


def test_message_types_with_a_schema_are_the_sdk_union(sdk: Sdk) -> None:
    assert len(SDK_TYPES) == 29
    # The SDK's transcript model also accepts the serverMessages spelling as its type.
    sdk_types = set(sdk.by_type) - {'transcript[transcriptType="final"]'}
    assert sdk_types == set(SDK_TYPES)


@pytest.mark.parametrize("message_type", SDK_TYPES)
def test_every_type_validates_against_the_sdk(sdk: Sdk, message_type: str) -> None:
    message = make_message(message_type)["message"]
    assert message["type"] == message_type
    if message_type == "tool-calls":
        message = with_string_arguments(message)  # see the test on arguments below
    model = sdk.validate(message)
    assert sdk.unknown_keys(model) <= KNOWN_EXTRA_KEYS


@pytest.mark.parametrize("status", ["queued", "ringing", "in-progress", "forwarding", "ended"])
def test_every_status_update_validates(sdk: Sdk, status: str) -> None:
    message = make_message("status-update", status=status)["message"]
    assert sdk.unknown_keys(sdk.validate(message)) <= KNOWN_EXTRA_KEYS


def test_web_calls_validate(sdk: Sdk) -> None:
    as_json = make_message("tool-calls", web_call=True, arguments_as_json=True)["message"]
    assert sdk.errors(as_json) == []
    for message_type in ("end-of-call-report", "assistant-request"):
        message = make_message(message_type, web_call=True)["message"]
        assert sdk.errors(message) == []


def test_tool_call_arguments_are_objects_as_vapi_sends_them_not_strings_as_the_sdk_says(
    sdk: Sdk,
) -> None:
    message = make_message("tool-calls")["message"]
    assert message["toolCallList"][0]["function"]["arguments"] == {"order_id": "A-1042"}
    assert (("toolCallList", 0, "function", "arguments"), "string_type") in sdk.errors(message)
    as_json = make_message("tool-calls", arguments_as_json=True)["message"]
    assert as_json["toolCallList"][0]["function"]["arguments"] == '{"order_id": "A-1042"}'
    assert sdk.errors(as_json) == []


@pytest.mark.parametrize(
    ("message_type", "overrides", "location"),
    [
        ("end-of-call-report", {"endedReason": REMOVE}, ("endedReason",)),
        ("end-of-call-report", {"artifact": REMOVE}, ("artifact",)),
        ("voice-request", {"sample_rate": "fast"}, ("sampleRate",)),
        ("tool-calls", {"arguments_as_json": True, "tool_call_list": REMOVE}, ("toolCallList",)),
        ("status-update", {"call__created_at": "yesterday"}, ("call", "createdAt")),
        ("campaign.predial", {"contact__number": REMOVE}, ("contact", "number")),
        ("session.created", {"session__id": REMOVE}, ("session", "id")),
    ],
)
def test_the_oracle_rejects_broken_payloads(
    sdk: Sdk, message_type: str, overrides: Json, location: tuple[str, ...]
) -> None:
    message = make_message(message_type, **overrides)["message"]
    assert location in [loc for loc, _ in sdk.errors(message)]


def test_the_unknown_key_check_catches_a_misspelt_key(sdk: Sdk) -> None:
    message = make_message("hang", call__phone_call_provider_idd="CA1")["message"]
    assert sdk.unknown_keys(sdk.validate(message)) - KNOWN_EXTRA_KEYS == {
        "call.phoneCallProviderIdd"
    }


def test_legacy_function_call_has_the_documented_shape(sdk: Sdk) -> None:
    # No SDK model exists (protocol.md#function-call): check the shape by hand, the call by the SDK.
    message = make_message("function-call", function_name="book", parameters={"day": "Tuesday"})[
        "message"
    ]
    assert message["type"] == "function-call"
    assert message["functionCall"] == {"name": "book", "parameters": {"day": "Tuesday"}}
    assert message["call"]["status"] == "in-progress"
    assert message["assistant"]["model"]["tools"][0]["function"]["name"] == "book"
    sdk.call.model_validate(message["call"])
    legacy = make_message("function-call", parameters='{"day": "Tuesday"}')["message"]
    assert legacy["functionCall"]["parameters"] == '{"day": "Tuesday"}'


def test_sample_call_validates(sdk: Sdk) -> None:
    call = sample_call(status="ended", ended_reason="customer-ended-call")
    assert call["status"] == "ended"
    assert call["endedReason"] == "customer-ended-call"
    sdk.call.model_validate(call)


# -- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_envelopes_are_plain_json(message_type: str) -> None:
    envelope = make_message(message_type)
    assert list(envelope) == ["message"]
    assert json.loads(json.dumps(envelope)) == envelope
    timestamp = envelope["message"]["timestamp"]
    assert isinstance(timestamp, int)
    assert abs(timestamp - datetime.now().timestamp() * 1000) < 60_000


def test_a_call_message_carries_a_consistent_inbound_call() -> None:
    message = make_message("transcript")["message"]
    call = message["call"]
    assert call["type"] == "inboundPhoneCall"
    assert call["status"] == "in-progress"
    assert call["phoneCallProvider"] == "twilio"
    assert call["phoneCallTransport"] == "pstn"
    assert call["phoneCallProviderId"].startswith("CA")
    assert call["createdAt"].endswith("Z")
    assert datetime.fromisoformat(call["createdAt"]) <= datetime.fromisoformat(call["updatedAt"])
    assert call["assistantId"] == message["assistant"]["id"]
    assert call["phoneNumberId"] == message["phoneNumber"]["id"]
    assert call["orgId"] == message["phoneNumber"]["orgId"] == message["assistant"]["orgId"]
    assert call["customer"] == message["customer"]
    assert message["customer"]["number"].startswith("+")
    assert message["phoneNumber"]["serverUrl"] is None
    assert message["phoneNumber"]["provider"] == "twilio"


def test_assistant_request_has_a_ringing_call_and_no_assistant() -> None:
    message = make_message("assistant-request")["message"]
    assert "assistant" not in message
    assert "assistantId" not in message["call"]
    assert message["call"]["status"] == "ringing"
    assert message["phoneNumber"]["assistantId"] is None


def test_tool_calls_lists_agree() -> None:
    message = make_message(
        "tool-calls",
        tool_calls=[("lookup_order", {"order_id": "A-1042"}), ("create_return_label", {})],
    )["message"]
    calls = message["toolCallList"]
    assert [c["function"]["name"] for c in calls] == ["lookup_order", "create_return_label"]
    assert [c["function"]["arguments"] for c in calls] == [{"order_id": "A-1042"}, {}]
    assert [t["toolCall"] for t in message["toolWithToolCallList"]] == calls
    assert [t["function"]["name"] for t in message["toolWithToolCallList"]] == [
        "lookup_order",
        "create_return_label",
    ]
    assert len({c["id"] for c in calls}) == 2
    assert all(c["id"].startswith("call_") for c in calls)
    defined = [t["function"]["name"] for t in message["assistant"]["model"]["tools"]]
    assert defined == ["lookup_order", "create_return_label"]
    # The live artifact ends with the same calls, arguments as the model's JSON text.
    last = message["artifact"]["messages"][-1]
    assert last["role"] == "tool_calls"
    assert [c["id"] for c in last["toolCalls"]] == [c["id"] for c in calls]
    assert last["toolCalls"][0]["function"]["arguments"] == '{"order_id": "A-1042"}'


def test_end_of_call_report_is_realistic() -> None:
    message = make_message("end-of-call-report")["message"]
    assert message["endedReason"] == message["call"]["endedReason"] == "customer-ended-call"
    assert message["call"]["status"] == "ended"
    started = datetime.fromisoformat(message["startedAt"])
    ended = datetime.fromisoformat(message["endedAt"])
    assert started < ended
    assert message["cost"] == pytest.approx(sum(c["cost"] for c in message["costs"]))
    assert {c["type"] for c in message["costs"]} >= {"transport", "model", "voice", "vapi"}
    assert message["analysis"]["summary"]
    artifact = message["artifact"]
    assert artifact["recordingUrl"].endswith(".wav")
    roles = [m["role"] for m in artifact["messages"]]
    assert roles[0] == "system"
    assert set(roles) == {"system", "bot", "user", "tool_calls", "tool_call_result"}
    times = [m["time"] for m in artifact["messages"]]
    assert times == sorted(times)
    assert started.timestamp() * 1000 <= times[0] and times[-1] <= ended.timestamp() * 1000
    seconds = [m["secondsFromStart"] for m in artifact["messages"]]
    assert seconds == sorted(seconds)
    call_ids = [
        c["id"] for m in artifact["messages"] if m["role"] == "tool_calls" for c in m["toolCalls"]
    ]
    result_ids = [m["toolCallId"] for m in artifact["messages"] if m["role"] == "tool_call_result"]
    assert call_ids == result_ids
    openai_roles = {m["role"] for m in artifact["messagesOpenAIFormatted"]}
    assert openai_roles == {"system", "assistant", "user", "tool"}
    lines = artifact["transcript"].split("\n")
    assert lines[0].startswith("AI: ") and lines[1].startswith("User: ")
    assert all(line.startswith(("AI: ", "User: ")) for line in lines)
    spoken = [m for m in artifact["messages"] if m["role"] in ("bot", "user")]
    assert len(lines) == len(spoken)


def test_end_of_call_report_size_scales_with_minutes_and_turns() -> None:
    def size(**knobs: Any) -> int:
        return len(json.dumps(make_message("end-of-call-report", **knobs), separators=(",", ":")))

    default, one_hour, two_hours = size(), size(minutes=60), size(minutes=120)
    assert 8_000 < default < 40_000
    # A two-hour call is about a megabyte, like the ones our benchmark replays.
    assert 800_000 < two_hours < 1_500_000
    assert 1.8 < two_hours / one_hour < 2.2
    assert size(turns=200) > 5 * size(turns=20)
    report = make_message("end-of-call-report", minutes=120)["message"]
    duration = datetime.fromisoformat(report["endedAt"]) - datetime.fromisoformat(
        report["startedAt"]
    )
    assert duration.total_seconds() == pytest.approx(7200, abs=1)


def test_the_long_report_still_validates(sdk: Sdk) -> None:
    assert sdk.errors(make_message("end-of-call-report", minutes=120)["message"]) == []


@pytest.mark.parametrize(
    "message_type", ["conversation-update", "knowledge-base-request", "call.endpointing.request"]
)
def test_conversation_messages_end_with_the_caller_speaking(message_type: str) -> None:
    for turns in (1, 2, 3, 8):
        message = make_message(message_type, turns=turns)["message"]
        assert message["messages"][-1]["role"] == "user"
        assert message["messagesOpenAIFormatted"][-1]["role"] == "user"
        assert message["messages"] == message["artifact"]["messages"]


def test_turns_knob_sets_the_conversation_length() -> None:
    short = make_message("conversation-update", turns=1)["message"]
    long = make_message("conversation-update", turns=12)["message"]
    assert len(short["messages"]) == 3  # system prompt, greeting, reply
    assert len(long["messages"]) > 2 * 12


def test_repeated_parts_are_copies_not_shared_objects() -> None:
    message = make_message("conversation-update", messages__1__message="changed")["message"]
    assert message["messages"][1]["message"] == "changed"
    assert message["artifact"]["messages"][1]["message"] != "changed"
    tools = make_message("tool-calls", tool_call_list__0__id="call_x")["message"]
    assert tools["toolWithToolCallList"][0]["toolCall"]["id"] != "call_x"


def test_status_update_statuses_shape_the_message() -> None:
    ended = make_message("status-update", status="ended")["message"]
    assert ended["status"] == ended["call"]["status"] == "ended"
    assert ended["endedReason"] == ended["call"]["endedReason"] == "customer-ended-call"
    forwarding = make_message("status-update", status="forwarding")["message"]
    assert forwarding["destination"]["type"] == "number"
    assert forwarding["transcript"] and forwarding["messagesOpenAIFormatted"]
    ringing = make_message("status-update", status="ringing")["message"]
    assert ringing["call"]["status"] == "ringing"
    assert "endedReason" not in ringing


# -- overrides --------------------------------------------------------------------------------


def test_nested_paths_convert_snake_case_and_create_objects() -> None:
    message = make_message(
        "transcript",
        call__assistant_id="asst-1",
        call__assistant_overrides__variable_values={"first_name": "Ann"},
        phone_number__server__url="https://example.org/hook",
    )["message"]
    assert message["call"]["assistantId"] == "asst-1"
    # Values are set as given: their own keys stay snake_case.
    assert message["call"]["assistantOverrides"] == {"variableValues": {"first_name": "Ann"}}
    assert message["phoneNumber"]["server"]["url"] == "https://example.org/hook"


def test_camel_case_keys_pass_through_unchanged() -> None:
    message = make_message(
        "conversation-update", messagesOpenAIFormatted=[], call__phoneCallProviderId="CA1"
    )["message"]
    assert message["messagesOpenAIFormatted"] == []
    assert "messagesOpenAiFormatted" not in message
    assert message["call"]["phoneCallProviderId"] == "CA1"


def test_remove_deletes_keys_and_ignores_missing_ones() -> None:
    message = make_message(
        "hang", assistant=REMOVE, call__assistant_id=REMOVE, call__not_there=REMOVE
    )["message"]
    assert "assistant" not in message
    assert "assistantId" not in message["call"]
    assert "notThere" not in message["call"]
    assert repr(REMOVE) == "REMOVE"


def test_digits_index_lists() -> None:
    message = make_message("tool-calls", tool_call_list__0__id="call_fixed")["message"]
    assert message["toolCallList"][0]["id"] == "call_fixed"
    with pytest.raises(IndexError):
        make_message("tool-calls", tool_call_list__5__id="x")


def test_paths_apply_in_order_and_values_are_copied() -> None:
    customer = {"number": "+15550001111"}
    message = make_message("hang", call=REMOVE, call__id="c-1", customer=customer)["message"]
    assert message["call"] == {"id": "c-1"}
    customer["number"] = "changed"
    assert message["customer"] == {"number": "+15550001111"}


def test_the_type_itself_can_be_overridden() -> None:
    assert make_message("hang", type="hang-v2")["message"]["type"] == "hang-v2"


def test_bad_paths_raise() -> None:
    with pytest.raises(TypeError, match=re.escape("call.id is a str")):
        make_message("hang", call__id__x=1)
    with pytest.raises(ValueError, match="empty path segment"):
        make_message("hang", call____id=1)


def test_shared_convenience_keywords_set_every_copy() -> None:
    message = make_message(
        "tool-calls",
        call_id="call-1",
        org_id="org-1",
        assistant_id="asst-1",
        phone_number_id="pn-1",
        customer_number="+15550001111",
    )["message"]
    assert message["call"]["id"] == "call-1"
    assert message["call"]["monitor"]["controlUrl"].endswith("/call-1/control")
    assert message["call"]["orgId"] == message["phoneNumber"]["orgId"] == "org-1"
    assert message["assistant"]["orgId"] == "org-1"
    assert message["call"]["assistantId"] == message["assistant"]["id"] == "asst-1"
    assert message["phoneNumber"]["assistantId"] == "asst-1"
    assert message["call"]["phoneNumberId"] == message["phoneNumber"]["id"] == "pn-1"
    assert message["call"]["customer"]["number"] == message["customer"]["number"]
    assert message["customer"]["number"] == "+15550001111"


def test_shared_keywords_do_not_invent_objects() -> None:
    message = make_message("assistant-request", assistant_id="asst-1")["message"]
    assert "assistant" not in message
    assert "assistantId" not in message["call"]


def test_web_call() -> None:
    message = make_message("end-of-call-report", web_call=True)["message"]
    assert message["call"]["type"] == "webCall"
    assert "phoneNumberId" not in message["call"]
    assert "phoneCallProvider" not in message["call"]
    assert "phoneNumber" not in message
    assert "customer" not in message and "customer" not in message["call"]
    with_number = make_message("hang", web_call=True, customer_number="+15550001111")
    assert with_number["message"]["customer"] == {"number": "+15550001111"}


def test_tool_name_and_arguments_make_one_call() -> None:
    message = make_message("tool-calls", tool_name="book", arguments={"day": "Tue"})["message"]
    [call] = message["toolCallList"]
    assert call["function"] == {"name": "book", "arguments": {"day": "Tue"}}
    assert (
        make_message("tool-calls", tool_name="ping")["message"]["toolCallList"][0]["function"][
            "arguments"
        ]
        == {}
    )


def test_tool_calls_accepts_prepared_calls_and_keeps_their_ids() -> None:
    prepared = make_tool_call("lookup_order", {"order_id": "A-7"}, id="call_known")
    message = make_message("tool-calls", tool_calls=[prepared, "ping"])["message"]
    assert message["toolCallList"][0] == prepared
    assert message["toolCallList"][1]["function"] == {"name": "ping", "arguments": {}}


def test_tool_keywords_conflict_or_malformed() -> None:
    with pytest.raises(TypeError, match="not both"):
        make_message("tool-calls", tool_calls=[("a", {})], tool_name="b")
    with pytest.raises(TypeError, match="pairs"):
        make_message("tool-calls", tool_calls=[("a", {}, "extra")])


def test_convenience_keywords_come_before_paths() -> None:
    message = make_message("hang", assistant_id="asst-a", call__assistant_id="asst-b")["message"]
    assert message["call"]["assistantId"] == "asst-b"
    assert message["assistant"]["id"] == "asst-a"
    status = make_message("status-update", status="ended", call__status="in-progress")["message"]
    assert (status["status"], status["call"]["status"]) == ("ended", "in-progress")


def test_convenience_keywords_are_per_type() -> None:
    assert "turns" in CONVENIENCE_KEYWORDS["end-of-call-report"]
    # `parameters` is a convenience keyword of function-call, but a plain field elsewhere.
    handoff = make_message("handoff-destination-request", parameters={"to": "billing"})
    assert handoff["message"]["parameters"] == {"to": "billing"}
    # Outside its types a convenience name is an unknown key like any other.
    with pytest.raises(TypeError, match="'turns'"):
        make_message("hang", turns=3)


def test_an_unknown_keyword_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(TypeError) as caught:
        make_message("tool-calls", secret="wrong")
    text = str(caught.value)
    assert "unknown keyword 'secret'" in text
    assert "tool_name" in text  # a convenience keyword of tool-calls
    assert "call, " in text and "tool_call_list" in text  # paths, spelled as keywords
    with pytest.raises(TypeError, match="'foo'"):
        sample_call(foo=1)
    # Keys the model knows are fine even when the default message lacks them, and deep
    # paths are free below a known key.
    message = make_message(
        "assistant-request", assistant_version="v2", call__assistant_overrides={"x": 1}
    )["message"]
    assert message["assistantVersion"] == "v2"
    assert message["call"]["assistantOverrides"] == {"x": 1}


def test_convenience_keywords_reject_remove_and_wrong_values() -> None:
    with pytest.raises(TypeError, match="REMOVE works on paths only"):
        make_message("hang", assistant_id=REMOVE)
    with pytest.raises(TypeError, match="takes a string"):
        make_message("hang", call_id=42)
    with pytest.raises(TypeError, match="positive"):
        make_message("end-of-call-report", minutes=0)
    with pytest.raises(TypeError, match="positive int"):
        make_message("conversation-update", turns="many")


def test_unknown_type_lists_close_matches() -> None:
    with pytest.raises(ValueError, match="'tool-calls'"):
        make_message("tool-call")
    with pytest.raises(ValueError, match="'end-of-call-report'"):
        make_message("End_Of_Call_Report")
    with pytest.raises(ValueError, match=re.escape("'assistant.speechStarted'")):
        make_message("assistant.speechstarted")
    with pytest.raises(ValueError, match="no close match") as caught:
        make_message("zzz")
    assert f"`vapi-receiver send --list` lists all {len(KNOWN_TYPES)}" in str(caught.value)


def test_two_messages_never_share_ids() -> None:
    first, second = (make_message("tool-calls")["message"] for _ in range(2))
    for path in (
        ("call", "id"),
        ("call", "orgId"),
        ("call", "phoneCallProviderId"),
        ("assistant", "id"),
        ("phoneNumber", "id"),
        ("toolCallList", 0, "id"),
    ):
        a: Any = first
        b: Any = second
        for key in path:
            a, b = a[key], b[key]
        assert a != b, path


def test_make_tool_call() -> None:
    call = make_tool_call("lookup_order", {"order_id": "A-1"})
    assert call["type"] == "function"
    assert call["id"].startswith("call_") and len(call["id"]) == 29
    assert call["id"] != make_tool_call("lookup_order")["id"]
    assert make_tool_call("x", id="call_1")["id"] == "call_1"
    encoded = make_tool_call("x", {"a": 1}, arguments_as_json=True)
    assert encoded["function"]["arguments"] == '{"a": 1}'


def test_sample_call_overrides() -> None:
    call = sample_call(call_id="c-9", web_call=True, status="queued")
    assert (call["id"], call["type"], call["status"]) == ("c-9", "webCall", "queued")
    assert "phoneNumberId" not in call
