"""The precedence table of issue 2: which level wins, and that only its secrets open it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.config import config_from_mapping
from receiver.testing import REMOVE, make_message
from receiver.verification import winning_levels

CONFIG = {
    "org": {"secrets": ["org-current", "org-previous"]},
    "phone_numbers": {"pn-1": {"secrets": ["phone-current", "phone-previous"]}},
    "assistants": {"asst-1": {"secrets": ["assistant-current", "assistant-previous"]}},
    "tools": {"lookup_order": {"secrets": ["tool-current", "tool-previous"]}},
}
SECRETS = {
    "org": ("org-current", "org-previous"),
    "phone number": ("phone-current", "phone-previous"),
    "assistant": ("assistant-current", "assistant-previous"),
    "tool": ("tool-current", "tool-previous"),
}

ROWS: list[tuple[str, dict[str, Any], str]] = [
    (
        "status-update, configured assistant and phone number",
        make_message("status-update", assistant_id="asst-1", phone_number_id="pn-1"),
        "assistant",
    ),
    (
        "status-update, transient assistant (no id), configured phone number",
        make_message(
            "status-update",
            phone_number_id="pn-1",
            call__assistant_id=REMOVE,
            assistant__id=REMOVE,
            assistant__name="Transient helper",
        ),
        "phone number",
    ),
    (
        "status-update, web call, configured assistant",
        make_message("status-update", web_call=True, assistant_id="asst-1"),
        "assistant",
    ),
    (
        "status-update, nothing configured but org",
        make_message("status-update", assistant_id="asst-other", phone_number_id="pn-other"),
        "org",
    ),
    (
        "assistant-request for a configured phone number",
        make_message("assistant-request", phone_number_id="pn-1"),
        "phone number",
    ),
    (
        "tool-calls for a configured tool",
        make_message(
            "tool-calls",
            assistant_id="asst-1",
            phone_number_id="pn-1",
            tool_calls=[("lookup_order", {"order_id": "A-1042"})],
        ),
        "tool",
    ),
    (
        "tool-calls for an unconfigured tool, configured assistant",
        make_message(
            "tool-calls",
            assistant_id="asst-1",
            phone_number_id="pn-1",
            tool_calls=[("get_time", {})],
        ),
        "assistant",
    ),
]


def make_receiver(**options: Any) -> Receiver:
    receiver = Receiver(config=CONFIG, **options)

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"status": "shipped"}

    @receiver.tool
    def get_time() -> str:
        return "12:00"

    @receiver.on("assistant-request")
    def assistant(message: Any) -> dict[str, str]:
        return {"assistantId": "asst-1"}

    return receiver


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_receiver().app)


def post(client: TestClient, envelope: dict[str, Any], secret: str | None) -> int:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-vapi-secret"] = secret
    return client.post("/vapi", content=json.dumps(envelope), headers=headers).status_code


@pytest.mark.parametrize(("row", "envelope", "level"), ROWS, ids=[row[0] for row in ROWS])
def test_winning_level(row: str, envelope: dict[str, Any], level: str) -> None:
    levels = winning_levels(envelope["message"], config_from_mapping(CONFIG))
    assert [found.kind for found in levels] == [level]


@pytest.mark.parametrize(("row", "envelope", "level"), ROWS, ids=[row[0] for row in ROWS])
def test_only_the_winning_levels_secrets_are_accepted(
    client: TestClient, row: str, envelope: dict[str, Any], level: str
) -> None:
    current, previous = SECRETS[level]
    assert post(client, envelope, current) == 200
    assert post(client, envelope, previous) == 200, "a secret from the previous rotation"
    for other_level, secrets in SECRETS.items():
        if other_level != level:
            for secret in secrets:
                assert post(client, envelope, secret) == 401, f"{other_level} secret {secret}"
    assert post(client, envelope, None) == 401
    assert post(client, envelope, current + "x") == 401
    assert post(client, envelope, current[:-1]) == 401


def test_secrets_inside_the_payload_are_never_trusted(client: TestClient) -> None:
    envelope = make_message(
        "status-update",
        assistant_id="asst-other",
        phone_number_id="pn-other",
        phoneNumber__serverUrlSecret="attacker",
        assistant__server={"url": "https://evil.example", "secret": "attacker"},
    )
    assert post(client, envelope, "attacker") == 401
    assert post(client, envelope, "[REDACTED]") == 401
    assert post(client, envelope, "org-current") == 200


def test_tool_calls_mixing_levels_need_a_credential_valid_for_each() -> None:
    config = config_from_mapping(
        {
            "org": {"secret": "shared"},
            "tools": {"lookup_order": {"secret": "tool-only"}},
        }
    )
    envelope = make_message("tool-calls", tool_calls=[("lookup_order", {}), ("get_time", {})])
    levels = winning_levels(envelope["message"], config)
    assert [level.kind for level in levels] == ["tool", "org"]
    receiver = Receiver(config=config)
    receiver.tool("lookup_order")(lambda: "found")
    receiver.tool("get_time")(lambda: "12:00")
    client = TestClient(receiver.app)
    assert post(client, envelope, "tool-only") == 401
    assert post(client, envelope, "shared") == 401


def test_orgs_are_told_apart_by_org_id() -> None:
    config = config_from_mapping({"orgs": {"org-a": {"secret": "a"}, "org-b": {"secret": "b"}}})
    envelope = make_message("status-update", org_id="org-b")
    assert [level.key for level in winning_levels(envelope["message"], config)] == ["org-b"]
    stranger = make_message("status-update", org_id="org-c")
    assert winning_levels(stranger["message"], config) == []


def test_unauthorised_answer_names_only_the_scheme(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Decision: quiet refusals. The level (an assistant id here) is for the log only."""
    envelope = make_message("status-update", assistant_id="asst-1")
    wrong = client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": "org-current"},
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "no valid credential; expected the x-vapi-secret header."}
    assert 'no valid credential for assistant "asst-1"' in caplog.text
    for secrets in SECRETS.values():
        assert not any(secret in caplog.text for secret in secrets)


def test_explained_refusals_name_level_and_header_but_no_secret() -> None:
    client = TestClient(make_receiver(explain_refusals=True).app)
    envelope = make_message("status-update", assistant_id="asst-1")
    wrong = client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": "org-current"},
    )
    assert wrong.status_code == 401
    error = wrong.json()["error"]
    assert "x-vapi-secret" in error and 'assistant "asst-1"' in error
    for secrets in SECRETS.values():
        assert not any(secret in error for secret in secrets)


def test_missing_header_hint_names_other_auth_headers() -> None:
    client = TestClient(make_receiver(explain_refusals=True).app)
    envelope = make_message("status-update", assistant_id="asst-1")
    response = client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-signature": "abc"},
    )
    assert response.status_code == 401
    assert "x-signature" in response.json()["error"]
    assert "abc" not in response.json()["error"]
    bare = client.post(
        "/vapi", content=json.dumps(envelope), headers={"content-type": "application/json"}
    )
    assert "inline in an API request" in bare.json()["error"]


def test_the_withheld_credential_hint_is_answered_in_production(client: TestClient) -> None:
    bare = client.post(
        "/vapi",
        content=json.dumps(make_message("status-update")),
        headers={"content-type": "application/json"},
    )
    assert bare.status_code == 401
    assert "inline in an API request" in bare.json()["error"]


def test_insecure_mode_accepts_without_credential() -> None:
    receiver = Receiver(insecure=True)
    client = TestClient(receiver.app)
    assert post(client, make_message("status-update"), None) == 200


@pytest.mark.parametrize(
    "envelope",
    [
        {
            "message": {
                "type": "tool-calls",
                "tool_call_list": [
                    {
                        "id": "c1",
                        "function": {"name": "lookup_order", "arguments": {"order_id": "A"}},
                    }
                ],
            }
        },
        {
            "message": {
                "type": "tool-calls",
                "tool_with_tool_call_list": [
                    {
                        "toolCall": {
                            "id": "c1",
                            "function": {"name": "lookup_order", "arguments": {}},
                        }
                    }
                ],
            }
        },
        {"message": {"type": "function-call", "function_call": {"name": "lookup_order"}}},
    ],
    ids=["tool_call_list", "tool_with_tool_call_list", "function_call"],
)
def test_snake_case_twins_of_wire_keys_cannot_smuggle_a_tool_call(
    envelope: dict[str, Any],
) -> None:
    # Verification reads the wire (camelCase) keys; a snake_case twin must not reach a tool
    # with a lower level's secret.
    receiver = Receiver(config=CONFIG)
    ran: list[str] = []
    receiver.tool("lookup_order")(lambda order_id="": ran.append(order_id) or "ran")
    client = TestClient(receiver.app)
    response = client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": "org-current"},
    )
    assert response.status_code == 200
    assert "ran" not in response.text
    assert ran == []
