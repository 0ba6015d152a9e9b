"""Configuration from the objects Vapi's API returns: what is registered, what is reported."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import ConfigError, Receiver
from receiver.testing import make_message
from receiver.vapi_objects import (
    Finding,
    config_from_vapi_objects,
    display_url,
    read_phone_number,
    same_url,
)

PUBLIC_URL = "https://abc123.ngrok.app/vapi"
PHONE_SECRET = "pn-secret-4f8a1c9e27d3"
ASSISTANT_SECRET = "asst-secret-b71e0d5c9a44"
TOOL_SECRET = "tool-secret-90c2e6f1b385"
ORG_SECRET = "org-secret-1d7e3a8b5c60"
ALL_SECRETS = (PHONE_SECRET, ASSISTANT_SECRET, TOOL_SECRET, ORG_SECRET)


def bought_phone_number(**changes: Any) -> dict[str, Any]:
    """A legacy Buy Phone Number response (2024): flat serverUrl and serverUrlSecret."""
    return {
        "id": "7a1e0c52-5b7d-4d8e-9f0a-3c2b1a0e9d8c",
        "orgId": "5c1f9e2a-8d3b-4c7e-a6f1-0b9d8c7e6f5a",
        "number": "+14155550142",
        "name": "Support line",
        "assistantId": "3b9d2f10-6c4e-4a8b-b2d1-9e8f7a6b5c4d",
        "serverUrl": PUBLIC_URL,
        "serverUrlSecret": PHONE_SECRET,
        "twilioAccountSid": "AC5f2a9c1e7b3d8f4a6c0e2b9d7f1a3c5e",
        "credentialId": None,
        "createdAt": "2024-10-02T17:21:40.512Z",
        "updatedAt": "2024-10-02T17:21:40.512Z",
    } | changes


def current_phone_number(**server: Any) -> dict[str, Any]:
    """A phone number as the API returns it today: `server` with a Custom Credential."""
    return {
        "id": "e2d4b6a8-1c3e-4f5a-8b7c-9d0e1f2a3b4c",
        "orgId": "5c1f9e2a-8d3b-4c7e-a6f1-0b9d8c7e6f5a",
        "provider": "vapi",
        "number": "+14155550177",
        "status": "active",
        "name": "Sales line",
        "assistantId": None,
        "server": {"url": PUBLIC_URL, "timeoutSeconds": 20, "credentialId": "cred-8c1f"} | server,
        "createdAt": "2025-06-11T09:02:13.004Z",
        "updatedAt": "2025-06-11T09:02:13.004Z",
    }


def assistant(**changes: Any) -> dict[str, Any]:
    return {
        "id": "3b9d2f10-6c4e-4a8b-b2d1-9e8f7a6b5c4d",
        "orgId": "5c1f9e2a-8d3b-4c7e-a6f1-0b9d8c7e6f5a",
        "name": "Riley - Support",
        "model": {"provider": "openai", "model": "gpt-4o", "toolIds": ["a41c7f9e"]},
        "voice": {"provider": "11labs", "voiceId": "sarah"},
        "serverMessages": ["end-of-call-report", "status-update", "tool-calls"],
        "server": {"url": PUBLIC_URL + "/", "timeoutSeconds": 20, "secret": ASSISTANT_SECRET},
        "createdAt": "2025-05-30T12:00:00.000Z",
        "updatedAt": "2025-06-01T08:30:00.000Z",
    } | changes


def tool(**changes: Any) -> dict[str, Any]:
    return {
        "id": "a41c7f9e",
        "orgId": "5c1f9e2a-8d3b-4c7e-a6f1-0b9d8c7e6f5a",
        "type": "function",
        "async": False,
        "function": {
            "name": "lookup_order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
        "server": {"url": PUBLIC_URL, "headers": {"X-Vapi-Secret": TOOL_SECRET}},
        "createdAt": "2025-05-30T12:00:00.000Z",
        "updatedAt": "2025-05-30T12:00:00.000Z",
    } | changes


def org(**changes: Any) -> dict[str, Any]:
    return {
        "id": "5c1f9e2a-8d3b-4c7e-a6f1-0b9d8c7e6f5a",
        "name": "Acme Support",
        "serverUrl": PUBLIC_URL,
        "serverUrlSecret": ORG_SECRET,
    } | changes


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def post(client: TestClient, envelope: dict[str, Any], secret: str) -> int:
    response = client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": secret},
    )
    return response.status_code


def test_buy_phone_number_response_configures_a_receiver_that_accepts_its_secret() -> None:
    phone = bought_phone_number(assistantId=None)
    config, findings = config_from_vapi_objects(phone_numbers=[phone], public_url=PUBLIC_URL)
    assert findings == []
    assert config.phone_numbers[phone["id"]].secrets == (PHONE_SECRET,)
    client = TestClient(Receiver(config=config).app)
    request = make_message("assistant-request", phone_number_id=phone["id"])
    assert post(client, request, PHONE_SECRET) == 200
    assert post(client, request, "something-else-entirely") == 401


def test_top_level_credential_id_of_a_phone_number_is_the_carriers_not_a_webhook_credential() -> (
    None
):
    phone = bought_phone_number(credentialId="cred-telnyx-0042")
    config, findings = config_from_vapi_objects(phone_numbers=[phone])
    assert config.phone_numbers[phone["id"]].secrets == (PHONE_SECRET,)
    assert findings == []


def test_custom_credential_must_be_configured_by_hand() -> None:
    config, findings = config_from_vapi_objects(phone_numbers=[current_phone_number()])
    assert config.phone_numbers == {}
    assert codes(findings) == ["credential-by-hand"]
    assert findings[0].severity == "warning"
    assert "credential cred-8c1f must be configured by hand" in findings[0].message


def test_credential_and_secret_together_register_the_secret_and_say_so() -> None:
    phone = current_phone_number(secret=PHONE_SECRET)
    config, findings = config_from_vapi_objects(phone_numbers=[phone])
    assert config.phone_numbers[phone["id"]].secrets == (PHONE_SECRET,)
    assert codes(findings) == ["credential-by-hand"]
    assert "registered with its secret only" in findings[0].message


def test_assistant_server_and_tool_by_function_name_verify_their_own_messages() -> None:
    config, findings = config_from_vapi_objects(
        assistants=[assistant()], tools=[tool()], public_url=PUBLIC_URL
    )
    assert findings == []
    assert config.assistants[assistant()["id"]].secrets == (ASSISTANT_SECRET,)
    assert list(config.tools) == ["lookup_order"]  # its tool id is no identity
    assert config.tools["lookup_order"].secrets == (TOOL_SECRET,)
    receiver = Receiver(config=config)
    receiver.tool("lookup_order")(lambda order_id="": "shipped")
    client = TestClient(receiver.app)
    status = make_message("status-update", assistant_id=assistant()["id"])
    assert post(client, status, ASSISTANT_SECRET) == 200
    calls = make_message("tool-calls", assistant_id=assistant()["id"], tool_name="lookup_order")
    assert post(client, calls, TOOL_SECRET) == 200
    assert post(client, calls, ASSISTANT_SECRET) == 401


def test_tools_defined_inline_in_an_assistant_are_registered_by_function_name() -> None:
    inline = {
        "type": "function",
        "function": {"name": "create_return_label"},
        "server": {"url": PUBLIC_URL, "secret": TOOL_SECRET},
    }
    riley = assistant(model={"provider": "openai", "model": "gpt-4o", "tools": [inline]})
    config, findings = config_from_vapi_objects(assistants=[riley])
    assert config.tools["create_return_label"].secrets == (TOOL_SECRET,)
    assert findings == []


def test_org_from_legacy_fields_and_from_server() -> None:
    config, _ = config_from_vapi_objects(org=org())
    assert config.org is not None and config.org.secrets == (ORG_SECRET,)
    current = {"id": "o-1", "server": {"url": PUBLIC_URL, "secret": ORG_SECRET}}
    config, _ = config_from_vapi_objects(org=current)
    assert config.org is not None and config.org.secrets == (ORG_SECRET,)


@pytest.mark.parametrize(
    "url",
    [
        "https://abc123.ngrok.app/vapi",
        "https://abc123.ngrok.app/vapi/",
        "HTTPS://ABC123.NGROK.APP/vapi",
        "https://abc123.ngrok.app:443/vapi",
        "https://abc123.ngrok.app/vapi?source=phone",
    ],
)
def test_urls_that_name_this_receiver(url: str) -> None:
    assert same_url(url, PUBLIC_URL)


@pytest.mark.parametrize(
    "url",
    [
        "http://abc123.ngrok.app/vapi",
        "https://abc123.ngrok.app/Vapi",
        "https://abc123.ngrok.app/vapi/tools",
        "https://abc123.ngrok.app:8443/vapi",
        "https://other.ngrok.app/vapi",
        "abc123.ngrok.app/vapi",
        "not a url",
    ],
)
def test_urls_that_do_not(url: str) -> None:
    assert not same_url(url, PUBLIC_URL)


def test_levels_pointing_elsewhere_are_not_registered() -> None:
    elsewhere = assistant(server={"url": "https://old-server.example.com/webhook", "secret": "x"})
    config, findings = config_from_vapi_objects(
        phone_numbers=[bought_phone_number()], assistants=[elsewhere], public_url=PUBLIC_URL
    )
    assert list(config.phone_numbers) == [bought_phone_number()["id"]]
    assert config.assistants == {}
    assert codes(findings) == ["elsewhere"]
    assert findings[0].severity == "warning"
    assert "https://old-server.example.com/webhook" in findings[0].message


def test_without_a_public_url_every_level_with_a_url_is_registered() -> None:
    elsewhere = assistant(server={"url": "https://old-server.example.com/webhook", "secret": "x"})
    config, findings = config_from_vapi_objects(assistants=[elsewhere])
    assert list(config.assistants) == [elsewhere["id"]]
    assert findings == []


def test_redacted_secret_is_reported_and_never_used() -> None:
    phone = bought_phone_number(serverUrlSecret="[REDACTED]")
    config, findings = config_from_vapi_objects(phone_numbers=[phone])
    assert config.phone_numbers == {}
    assert codes(findings) == ["redacted-secret"]
    assert findings[0].severity == "error"
    assert "serverUrlSecret" in findings[0].message


def test_a_level_without_credential_is_an_error() -> None:
    phone = bought_phone_number(serverUrlSecret=None)
    config, findings = config_from_vapi_objects(phone_numbers=[phone])
    assert config.phone_numbers == {}
    assert codes(findings) == ["no-credential"]
    assert findings[0].severity == "error"


def test_a_server_url_that_is_not_https_is_an_error() -> None:
    phone = bought_phone_number(serverUrl="http://abc123.ngrok.app/vapi")
    _, findings = config_from_vapi_objects(phone_numbers=[phone])
    assert codes(findings) == ["not-https"]
    assert findings[0].severity == "error"


def test_a_server_url_that_is_not_a_url_is_an_error() -> None:
    _, findings = config_from_vapi_objects(phone_numbers=[bought_phone_number(serverUrl="/vapi")])
    assert codes(findings) == ["bad-url"]


def test_transient_assistant_gets_no_credential_from_vapi() -> None:
    inline = assistant(id=None, server={"url": PUBLIC_URL, "secret": "[REDACTED]"})
    config, findings = config_from_vapi_objects(assistants=[inline])
    assert config.assistants == {}
    assert codes(findings) == ["credentials-withheld"]
    assert findings[0].severity == "error"


def test_static_headers_the_receiver_cannot_check_are_reported() -> None:
    bearer = tool(server={"url": PUBLIC_URL, "headers": {"Authorization": "Bearer abcdefgh"}})
    config, findings = config_from_vapi_objects(tools=[bearer])
    assert config.tools == {}
    assert codes(findings) == ["credential-by-hand"]
    assert "Authorization" in findings[0].message
    assert "abcdefgh" not in str(findings)


def test_tools_sharing_a_name_with_different_secrets_conflict() -> None:
    # A request names the function, not the tool id: it could be either tool's.
    second = tool(id="b52d8e0f", server={"url": PUBLIC_URL, "secret": "another-tool-secret"})
    config, findings = config_from_vapi_objects(tools=[tool(), second])
    assert config.tools == {}
    assert codes(findings) == ["conflict"]


def test_the_same_phone_number_twice_with_different_secrets_is_an_error() -> None:
    phones = [bought_phone_number(), bought_phone_number(serverUrlSecret="rotated-secret-1234")]
    config, findings = config_from_vapi_objects(phone_numbers=phones)
    assert config.phone_numbers == {}
    assert codes(findings) == ["conflict"]
    assert findings[0].severity == "error"


def test_assistant_request_with_no_server_url_anywhere_fails_the_call() -> None:
    phone = bought_phone_number(assistantId=None, serverUrl=None, serverUrlSecret=None)
    _, findings = config_from_vapi_objects(
        phone_numbers=[phone], org=org(serverUrl=None, serverUrlSecret=None)
    )
    assert codes(findings) == ["assistant-request-unrouted"]
    assert "call-start-error-neither-assistant-nor-server-set" in findings[0].message
    # With an assistant on the number, Vapi never asks, so nothing is wrong.
    _, findings = config_from_vapi_objects(
        phone_numbers=[bought_phone_number(serverUrl=None, serverUrlSecret=None)],
        org=org(serverUrl=None, serverUrlSecret=None),
    )
    assert findings == []


def test_findings_never_contain_a_secret() -> None:
    _, findings = config_from_vapi_objects(
        phone_numbers=[bought_phone_number(serverUrl="http://abc123.ngrok.app/vapi")],
        assistants=[assistant(server={"url": "https://x.example/", "secret": ASSISTANT_SECRET})],
        tools=[tool(), tool(id="b52", server={"url": PUBLIC_URL, "secret": "zzzzzzzzzzzz"})],
        org=org(serverUrl="https://elsewhere.example/vapi?token=q7TokenInTheQuery"),
        public_url="http://abc123.ngrok.app/vapi",
    )
    assert findings
    text = " ".join(map(str, findings))
    assert not any(secret in text for secret in (*ALL_SECRETS, "zzzzzzzzzzzz", "q7Token"))


@pytest.mark.sdk
def test_objects_of_the_official_sdk_are_read_too() -> None:
    from vapi.types.twilio_phone_number import TwilioPhoneNumber

    model = TwilioPhoneNumber.model_validate(
        bought_phone_number(serverUrl=None, serverUrlSecret=None)
        | {"server": {"url": PUBLIC_URL, "headers": {"x-vapi-secret": PHONE_SECRET}}}
    )
    config, findings = config_from_vapi_objects(phone_numbers=[model])
    assert config.phone_numbers[bought_phone_number()["id"]].secrets == (PHONE_SECRET,)
    assert findings == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: config_from_vapi_objects(phone_numbers=["pn-1"]), "must be a JSON object"),
        (lambda: config_from_vapi_objects(phone_numbers=[{"name": "x"}]), "needs an `id`"),
        (lambda: config_from_vapi_objects(tools=[{"type": "function"}]), "function.name"),
        (lambda: config_from_vapi_objects(public_url="abc123.ngrok.app"), "not an absolute"),
    ],
)
def test_input_that_is_not_a_vapi_object_is_refused_clearly(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_phone_number_without_id_is_refused_as_its_number_is_no_identity() -> None:
    with pytest.raises(ConfigError, match="needs an `id`"):
        read_phone_number({"number": "+14155550142", "serverUrl": PUBLIC_URL})


def test_display_url_hides_tokens_in_the_query_and_passwords() -> None:
    shown = display_url("https://user:hunter2@abc123.ngrok.app/vapi?token=s3cr3t")
    assert "hunter2" not in shown and "s3cr3t" not in shown
    assert shown.startswith("https://user:...@abc123.ngrok.app/vapi")
