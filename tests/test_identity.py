"""One identity per level kind: fields a sender adds or omits never choose the level.

Each kind is read from one primary field; the others may only agree with it (or stand in
when it is absent). Every row goes over HTTP with real secrets: the winning level's secret
opens it and every other one is refused, or, when fields disagree, every secret is refused.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import ConfigError, Receiver
from receiver.config import config_from_mapping
from receiver.testing import VapiTestClient, make_message
from receiver.verification import winning_levels

CONFIG: dict[str, Any] = {
    "org": {"secret": "org-s"},
    "orgs": {"org-1": {"secret": "org1-s"}},
    "phone_numbers": {"pn-1": {"secret": "pn1-s"}},
    "assistants": {"asst-1": {"secret": "asst1-s"}},
    "tools": {"lookup_order": {"secret": "tool-s"}},
    "features": {
        "voice": {"secret": "voice-s"},
        "knowledge_base": {"secret": "kb-s"},
        "endpointing": {"secret": "endpointing-s"},
    },
}
SECRETS = {
    ("org", ""): "org-s",
    ("org", "org-1"): "org1-s",
    ("phone number", "pn-1"): "pn1-s",
    ("assistant", "asst-1"): "asst1-s",
    ("tool", "lookup_order"): "tool-s",
    ("feature", "voice"): "voice-s",
    ("feature", "knowledge_base"): "kb-s",
    ("feature", "endpointing"): "endpointing-s",
}
ORG = ("org", "")
REFUSED = None
DROP = object()
"""A field value meaning: remove the field."""

Edit = Callable[[dict[str, Any]], None]


def fields(**paths: object) -> Edit:
    """Set (or `DROP`) dotted paths of the message: `fields(**{"call.assistantId": "a"})`."""

    def edit(message: dict[str, Any]) -> None:
        for path, value in paths.items():
            *parents, last = path.split(".")
            node = message
            for part in parents:
                node = node.setdefault(part, {})
            if value is DROP:
                node.pop(last, None)
            else:
                node[last] = value

    return edit


def unrelated(type_: str = "status-update", **overrides: Any) -> dict[str, Any]:
    """A message whose every id names nothing configured: only the default org applies."""
    ids = {"assistant_id": "asst-other", "phone_number_id": "pn-other", "org_id": "org-other"}
    message: dict[str, Any] = make_message(type_, **{**ids, **overrides})["message"]
    return message


def tool_calls(name: str, entry: dict[str, Any] | None = None) -> dict[str, Any]:
    """tool-calls for `name`; `entry` replaces the matching toolWithToolCallList item."""
    message = unrelated("tool-calls", tool_name=name)
    if entry is not None:
        call_id = message["toolCallList"][0]["id"]
        message["toolWithToolCallList"] = [{**entry, "toolCall": {"id": call_id}}]
    return message


def only_tool_with_tool_call_list(name: str) -> dict[str, Any]:
    message = tool_calls(name)
    del message["toolCallList"]
    return message


ASST, PHONE, ORG_ID = "call.assistantId", "call.phoneNumberId", "call.orgId"
ASST2, PHONE2, ORG_ID2 = "assistant.id", "phoneNumber.id", "phoneNumber.orgId"

# (row, message, expected winner or REFUSED). Per kind: primary alone, secondary alone
# (standing in), both agreeing, disagreeing either way, and fields that are no identity.
ROWS: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = []


def row(name: str, message: dict[str, Any], edit: Edit, winner: tuple[str, str] | None) -> None:
    message = copy.deepcopy(message)
    edit(message)
    ROWS.append((name, message, winner))


for kind, (primary, secondary), key, table in (
    ("assistant", (ASST, ASST2), "asst-1", "assistant"),
    ("phone number", (PHONE, PHONE2), "pn-1", "phone number"),
    ("org", (ORG_ID, ORG_ID2), "org-1", "org"),
):
    other = f"{key}-other"
    base = unrelated()
    row(f"{kind}: primary only", base, fields(**{primary: key, secondary: DROP}), (table, key))
    row(
        f"{kind}: secondary stands in",
        base,
        fields(**{primary: DROP, secondary: key}),
        (table, key),
    )
    row(f"{kind}: both agree", base, fields(**{primary: key, secondary: key}), (table, key))
    row(
        f"{kind}: secondary added, disagrees",
        base,
        fields(**{primary: other, secondary: key}),
        REFUSED,
    )
    row(f"{kind}: primary disagrees", base, fields(**{primary: key, secondary: other}), REFUSED)
    row(f"{kind}: neither names it", base, fields(**{primary: other, secondary: DROP}), ORG)
    row(
        f"{kind}: a primary that is no string names nothing",
        base,
        fields(**{primary: 7, secondary: key}),
        (table, key),
    )

row(
    "assistant: name is no identity",
    unrelated(),
    fields(**{ASST: DROP, ASST2: DROP, "assistant.name": "asst-1"}),
    ORG,
)
row(
    "phone number: number is no identity",
    unrelated(),
    fields(**{PHONE: DROP, PHONE2: DROP, "phoneNumber.number": "pn-1"}),
    ORG,
)
row(
    "assistant: chat.assistantId is the primary of chat events",
    unrelated("chat.created"),
    fields(**{"chat.assistantId": "asst-1"}),
    ("assistant", "asst-1"),
)
row(
    "assistant: session.assistantId is the primary of session events",
    unrelated("session.created"),
    fields(**{"session.assistantId": "asst-1"}),
    ("assistant", "asst-1"),
)
row(
    "org: chat.orgId is the primary of chat events",
    unrelated("chat.created"),
    fields(**{"chat.orgId": "org-1"}),
    ("org", "org-1"),
)
row(
    "assistant level never applies to assistant-request",
    unrelated("assistant-request"),
    fields(**{ASST: "asst-1", ASST2: "asst-1"}),
    ORG,
)
row(
    "assistant-request: phone number by its id",
    unrelated("assistant-request"),
    fields(**{PHONE: "pn-1", PHONE2: "pn-1"}),
    ("phone number", "pn-1"),
)
row(
    "assistant-request: phoneNumber.id added, disagrees",
    unrelated("assistant-request"),
    fields(**{PHONE: "pn-other", PHONE2: "pn-1"}),
    REFUSED,
)

tool = ("tool", "lookup_order")
row("tool: toolCallList and its entry agree", tool_calls("lookup_order"), fields(), tool)
row("tool: entry omitted", tool_calls("lookup_order"), fields(toolWithToolCallList=DROP), tool)
row(
    "tool: only toolWithToolCallList", only_tool_with_tool_call_list("lookup_order"), fields(), tool
)
row(
    "tool: entry names another function",
    tool_calls("get_time", {"function": {"name": "lookup_order"}}),
    fields(),
    REFUSED,
)
row(
    "tool: entry names another function, reversed",
    tool_calls("lookup_order", {"function": {"name": "get_time"}}),
    fields(),
    REFUSED,
)
row("tool: a tool id is no identity", tool_calls("get_time", {"id": "lookup_order"}), fields(), ORG)
row(
    "tool: an unknown tool id changes nothing",
    tool_calls("lookup_order", {"id": "tool-uuid-1"}),
    fields(),
    tool,
)
row(
    "tool: unconfigured tool, configured assistant",
    tool_calls("get_time"),
    fields(**{ASST: "asst-1", ASST2: "asst-1"}),
    ("assistant", "asst-1"),
)
row("tool: function-call", unrelated("function-call", function_name="lookup_order"), fields(), tool)
row(
    "tool level only for tool calls",
    unrelated(),
    fields(toolCallList=[{"id": "c1", "function": {"name": "lookup_order"}}]),
    ORG,
)

for type_, feature in (
    ("voice-request", "voice"),
    ("knowledge-base-request", "knowledge_base"),
    ("call.endpointing.request", "endpointing"),
):
    row(
        f"feature: {type_} goes to [features.{feature}]",
        unrelated(type_),
        fields(**{ASST: "asst-1", ASST2: "asst-1"}),
        ("feature", feature),
    )


def make_receiver(config: dict[str, Any] = CONFIG) -> Receiver:
    receiver = Receiver(config=config)
    receiver.tool("lookup_order")(lambda order_id="": "shipped")
    receiver.tool("get_time")(lambda: "12:00")
    receiver.on("assistant-request")(lambda message: {"assistantId": "asst-1"})
    receiver.on("voice-request")(lambda message: b"\x00\x00")
    receiver.on("knowledge-base-request")(lambda message: {"documents": []})
    receiver.on("call.endpointing.request")(lambda message: {"timeoutSeconds": 0.5})
    return receiver


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_receiver().app)


def post(client: TestClient, message: dict[str, Any], secret: str) -> int:
    headers = {"content-type": "application/json", "x-vapi-secret": secret}
    body = json.dumps({"message": message})
    return client.post("/vapi", content=body, headers=headers).status_code


@pytest.mark.parametrize(("name", "message", "winner"), ROWS, ids=[r[0] for r in ROWS])
def test_only_the_primary_identity_chooses_the_level(
    client: TestClient, name: str, message: dict[str, Any], winner: tuple[str, str] | None
) -> None:
    for level, secret in SECRETS.items():
        expected = 200 if level == winner else 401
        assert post(client, message, secret) == expected, f"{level} secret"


def test_without_a_feature_entry_assistant_phone_number_org_apply(client: TestClient) -> None:
    config = {k: v for k, v in CONFIG.items() if k != "features"}
    plain = TestClient(make_receiver(config).app)
    for type_ in ("voice-request", "knowledge-base-request", "call.endpointing.request"):
        message = unrelated(type_, phone_number_id="pn-1")
        assert post(plain, message, "pn1-s") == 200
        assert post(plain, message, "voice-s") == 401
        assert post(client, message, "pn1-s") == 401, "the feature's entry wins"


def test_the_test_client_signs_with_the_feature_credential() -> None:
    with VapiTestClient(make_receiver()) as vapi:
        assert vapi.send("knowledge-base-request").status_code == 200
        assert vapi.send("voice-request").status_code == 200


def test_the_log_names_the_disagreeing_fields_escaped_and_bounded(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    hostile = "pn-other\nINFO forged line " + "x" * 500
    message = unrelated("assistant-request")
    fields(**{PHONE: hostile, PHONE2: "pn-1"})(message)
    with caplog.at_level(logging.WARNING, logger="vapi_receiver"):
        response = client.post(
            "/vapi",
            content=json.dumps({"message": message}),
            headers={"content-type": "application/json", "x-vapi-secret": "pn1-s"},
        )
    assert response.status_code == 401
    assert "pn-1" not in response.text and "phoneNumberId" not in response.text
    line = next(r.getMessage() for r in caplog.records if "disagree" in r.getMessage())
    assert "call.phoneNumberId" in line and 'phoneNumber.id is "pn-1"' in line
    assert "\n" not in line and "x" * 100 not in line


# -- the attacks of the security review, with its configuration --------------------------

ATTACK_CONFIG = {
    "org": {"secret": "org-s"},
    "tools": {"lookup_order": {"secret": "tool-s"}},
    "phone_numbers": {"pn-1": {"secret": "pn1-s"}},
}


@pytest.fixture(scope="module")
def attacked() -> TestClient:
    return TestClient(make_receiver(ATTACK_CONFIG).app)


def test_a_tool_id_entry_does_not_lend_a_tool_credential_to_another_tool(
    attacked: TestClient,
) -> None:
    message = {
        "type": "tool-calls",
        "toolCallList": [{"id": "c1", "function": {"name": "get_time", "arguments": {}}}],
        "toolWithToolCallList": [{"id": "lookup_order", "toolCall": {"id": "c1"}}],
    }
    assert post(attacked, message, "tool-s") == 401
    assert post(attacked, message, "org-s") == 200


def test_an_added_phone_number_id_cannot_pick_the_level(attacked: TestClient) -> None:
    message = {
        "type": "assistant-request",
        "call": {"phoneNumberId": "pn-other"},
        "phoneNumber": {"id": "pn-1"},
    }
    assert post(attacked, message, "pn1-s") == 401
    assert post(attacked, message, "org-s") == 401


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ({"type": "status-update", "assistant": {"name": "asst-1"}}, "asst1-s"),
        ({"type": "assistant-request", "phoneNumber": {"number": "pn-1"}}, "pn1-s"),
        (
            {
                "type": "status-update",
                "call": {"orgId": "org-other"},
                "phoneNumber": {"orgId": "org-1"},
            },
            "org1-s",
        ),
    ],
    ids=["assistant.name", "phoneNumber.number", "phoneNumber.orgId"],
)
def test_names_numbers_and_disagreeing_org_ids_open_nothing(
    client: TestClient, message: dict[str, Any], secret: str
) -> None:
    assert post(client, message, secret) == 401


def test_mixed_tool_levels_need_a_credential_for_each() -> None:
    config = config_from_mapping(ATTACK_CONFIG)
    envelope = make_message("tool-calls", tool_calls=[("lookup_order", {}), ("get_time", {})])
    assert [lv.kind for lv in winning_levels(envelope["message"], config)] == ["tool", "org"]


# -- configuration keys are ids and function names ------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ("phone_numbers", "+14155550142", "looks like a phone number"),
        ("phone_numbers", "415 555 0142", "looks like a phone number"),
        ("assistants", "Riley Support", "not an id"),
        ("phone_numbers", "Main line", "not an id"),
        ("orgs", "Acme Inc", "not an id"),
    ],
)
def test_level_keys_that_are_no_ids_fail_at_start_up(table: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as error:
        config_from_mapping({table: {key: {"secret": "s"}}})
    assert "vapi-receiver doctor" in str(error.value)


def test_an_unknown_feature_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"\[features.voices\] is not a feature"):
        config_from_mapping({"features": {"voices": {"secret": "s"}}})


def test_short_and_uuid_ids_are_accepted() -> None:
    uuid = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    config = config_from_mapping({"assistants": {uuid: {"secret": "s"}, "asst-1": {"secret": "s"}}})
    assert set(config.assistants) == {uuid, "asst-1"}


def misspelt() -> Receiver:
    receiver = Receiver(config={"org": {"secret": "org-s"}, "tools": {"boook": {"secret": "t"}}})
    receiver.tool("book")(lambda: "booked")
    return receiver


def test_a_tool_table_naming_no_registered_tool_stops_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        pytest.raises(
            ConfigError, match=r'\[tools.boook\] is not a registered tool: did you mean "book"'
        ),
        TestClient(misspelt().app),
    ):
        pass
    assert "configuration error, not serving" in caplog.text


def test_a_tool_table_naming_no_registered_tool_stops_handle_without_the_app() -> None:
    message = json.dumps(make_message("tool-calls", tool_name="book")).encode()
    with pytest.raises(ConfigError, match="did you mean"):
        asyncio.run(misspelt().handle({"x-vapi-secret": "org-s"}, message))


def test_a_tool_table_naming_no_registered_tool_is_refused_before_serving_without_lifespan() -> (
    None
):
    client = TestClient(misspelt().app)  # no `with`: the lifespan does not run
    with pytest.raises(ConfigError):
        client.post(
            "/vapi",
            json=make_message("tool-calls", tool_name="book"),
            headers={"x-vapi-secret": "org-s"},
        )
