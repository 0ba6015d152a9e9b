"""Credentials presented as Vapi presents them, by the same classes that verify them.

Each signer is checked twice: against an independent computation of Vapi's recipe
(docs/protocol.md#auth-plans), so that signer and verifier cannot agree on a wrong recipe, and
against the verifier. Then the test client must get a 200 from a receiver whose winning
level accepts nothing but one scheme, for every scheme.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import re
from typing import Any

import pytest

from receiver import Receiver
from receiver.credentials import (
    BearerCredential,
    HmacCredential,
    OAuth2Credential,
    RequestView,
    VapiSecret,
    credential_from_mapping,
)
from receiver.oauth import FORM, TokenEndpoint
from receiver.signing import TokenSource, TokenUnavailable
from receiver.testing import UnexpectedResponse, VapiTestClient, make_message, winning_credential

URL = "http://testserver/vapi"
BODY = '{"message": {"type": "hang", "note": "caf\u00e9 \u2028"}}'.encode()
NOW = 1_750_000_000.25
RAW_KEY = b"\x00\xff binary key"

HMAC_VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {"secret_key": "hk-defaults", "algorithm": "sha256"},
    "posthog": {
        "secret_key": "hk-posthog",
        "algorithm": "sha256",
        "signature_header": "x-vapi-signature",
        "include_timestamp": False,
    },
    "base64 secret and prefix": {
        "secret_key": base64.b64encode(RAW_KEY).decode(),
        "secret_is_base64": True,
        "algorithm": "sha512",
        "signature_encoding": "base64",
        "signature_prefix": "sha512=",
    },
    "svix id": {
        "secretKey": "hk-svix",  # camelCase, as Vapi's dashboard shows it
        "algorithm": "sha256",
        "messageIdHeader": "svix-id",
        "timestampHeader": "svix-timestamp",
        "signatureHeader": "svix-signature",
        "payloadFormat": "{svix-id}.{timestamp}.{body}",
        "signatureEncoding": "base64",
        "signaturePrefix": "v1,",
    },
    "method and url": {
        "secret_key": "hk-url",
        "algorithm": "sha1",
        "payload_format": "{method} {url}\n{timestamp}\n{body}",
    },
}


def hmac_credential(variant: str, clock: float | None = None) -> HmacCredential:
    options = dict(HMAC_VARIANTS[variant], type="hmac")
    credential = credential_from_mapping(options, variant)
    assert isinstance(credential, HmacCredential)
    if clock is not None:  # the same plan, on a fixed clock
        credential = dataclasses.replace(credential, clock=lambda: clock)
    return credential


def vapi_recipe(variant: str, headers: dict[str, str]) -> str:
    """The signature header Vapi's documented recipe gives, computed independently."""
    if variant == "defaults":
        signed = headers["x-timestamp"].encode() + b"." + BODY
        return hmac.new(b"hk-defaults", signed, hashlib.sha256).hexdigest()
    if variant == "posthog":
        return hmac.new(b"hk-posthog", BODY, hashlib.sha256).hexdigest()
    if variant == "base64 secret and prefix":
        digest = hmac.new(RAW_KEY, headers["x-timestamp"].encode() + b"." + BODY, hashlib.sha512)
        return "sha512=" + base64.b64encode(digest.digest()).decode()
    if variant == "svix id":
        signed = f"{headers['svix-id']}.{headers['svix-timestamp']}.".encode() + BODY
        digest = hmac.new(b"hk-svix", signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()
    signed = f"POST {URL}\n{headers['x-timestamp']}\n".encode() + BODY
    return hmac.new(b"hk-url", signed, hashlib.sha1).hexdigest()


# -- each signer against Vapi's recipe and against its own verifier ----------------------------


@pytest.mark.parametrize("variant", HMAC_VARIANTS)
def test_hmac_signature_follows_vapis_recipe_and_verifies(variant: str) -> None:
    credential = hmac_credential(variant, clock=NOW)
    headers = credential.sign(BODY, url=URL)
    assert headers[credential.signature_header] == vapi_recipe(variant, headers)
    assert set(headers) == set(credential.header_names)
    assert credential.check(RequestView(headers, BODY, "POST", URL))
    tampered = BODY.replace(b"hang", b"hanG")
    check = credential.check(RequestView(headers, tampered, "POST", URL))
    assert not check and check.reason == "signature does not match"


def test_hmac_timestamp_is_now_in_milliseconds() -> None:
    headers = hmac_credential("defaults", clock=NOW).sign(BODY)
    assert headers["x-timestamp"] == "1750000000250"
    assert hmac_credential("posthog").sign(BODY).keys() == {"x-vapi-signature"}


def test_each_signing_is_a_new_delivery_even_on_a_frozen_clock() -> None:
    """The receiver accepts signed bytes once: the kit never signs one timestamp twice."""
    credential = hmac_credential("defaults", clock=NOW)
    first, second = credential.sign(BODY), credential.sign(BODY)
    assert (first["x-timestamp"], second["x-timestamp"]) == ("1750000000250", "1750000000251")
    assert credential.check(RequestView(first, BODY))
    assert credential.check(RequestView(second, BODY))
    assert not credential.check(RequestView(first, BODY))  # the same bytes again: a replay


def test_hmac_message_ids_are_fresh_unless_a_retry_keeps_one() -> None:
    credential = hmac_credential("svix id")
    first, second = credential.sign(BODY), credential.sign(BODY)
    assert first["svix-id"] != second["svix-id"]
    assert first["svix-id"].startswith("msg_")
    for headers in (first, second):
        assert credential.check(RequestView(headers, BODY))
    assert not credential.check(RequestView(first, BODY))  # the same request again: a replay
    # A retry keeps the id and is signed afresh, with a new timestamp: it passes.
    later = str(int(first["svix-timestamp"]) + 1000)
    retry = credential.sign(BODY, message_id=first["svix-id"], timestamp=later)
    assert retry["svix-id"] == first["svix-id"]
    assert retry["svix-signature"] != first["svix-signature"]
    assert credential.check(RequestView(retry, BODY))


def test_hmac_plan_signing_url_needs_the_url() -> None:
    with pytest.raises(ValueError, match=r"\{url\}"):
        hmac_credential("method and url").sign(BODY)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"authorization": "Bearer tok-123"}),
        ({"header_name": "X-Api-Key", "bearer_prefix_enabled": False}, {"x-api-key": "tok-123"}),
        ({"header_name": "X-Vapi-Secret", "bearer_prefix_enabled": False}, None),
    ],
)
def test_bearer_header_is_what_vapi_sends(
    options: dict[str, Any], expected: dict[str, str] | None
) -> None:
    credential = BearerCredential(token="tok-123", **options)
    headers = credential.headers_for()
    if expected is not None:
        assert headers == expected
    else:  # Vapi's migration recipe: the very header the legacy secret setting checks
        assert VapiSecret(("tok-123",)).check(RequestView(headers))
    assert credential.check(RequestView(headers))


def test_secret_header_is_the_current_secret() -> None:
    credential = VapiSecret(("current-one", "previous-one"))
    assert credential.headers_for() == {"x-vapi-secret": "current-one"}


def test_oauth2_token_request_is_granted_and_its_token_verifies() -> None:
    credential = OAuth2Credential(client_id="vapi", client_secret="cs-1", scope="webhooks")
    form = credential.token_request()
    assert b"grant_type=client_credentials" in form and b"scope=webhooks" in form
    answer = TokenEndpoint([credential]).answer({"content-type": FORM}, form)
    assert answer.status == 200 and answer.body["scope"] == "webhooks"
    headers = credential.headers_for(answer.body["access_token"])
    assert headers["authorization"].startswith("Bearer ")
    assert credential.check(RequestView(headers))


# -- the token cache ---------------------------------------------------------------------------


class FakeTokenEndpoint:
    def __init__(self, status: int = 200, body: bytes = b"") -> None:
        self.status, self.body = status, body
        self.requests: list[tuple[str, bytes]] = []

    def __call__(self, path: str, form: bytes) -> tuple[int, bytes]:
        self.requests.append((path, form))
        body = self.body or f'{{"access_token": "t{len(self.requests)}", "expires_in": 60}}'
        return self.status, body.encode() if isinstance(body, str) else body


def test_tokens_are_cached_until_shortly_before_they_expire() -> None:
    endpoint, now = FakeTokenEndpoint(), [0.0]
    tokens = TokenSource(endpoint, clock=lambda: now[0])
    credential = OAuth2Credential(client_id="vapi", client_secret="cs", url="/auth/token")
    assert tokens(credential) == tokens(credential) == "t1"
    assert endpoint.requests[0][0] == "/auth/token"
    now[0] = 29.0  # 60 s lifetime, refreshed 30 s before the end
    assert tokens(credential) == "t1"
    now[0] = 31.0
    assert tokens(credential) == "t2"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            401,
            b'{"error": "invalid_client", "error_description": "wrong client secret"}',
            "got 401 (invalid_client: wrong client secret)",
        ),
        (404, b"Not Found", "got 404 (Not Found)"),
        (200, b'{"token_type": "Bearer"}', "answered no access_token"),
    ],
)
def test_a_refused_token_request_says_why(status: int, body: bytes, reason: str) -> None:
    tokens = TokenSource(FakeTokenEndpoint(status, body))
    with pytest.raises(TokenUnavailable, match=re.escape(reason)):
        tokens(OAuth2Credential(client_id="vapi", client_secret="cs"))


# -- the test client, one scheme at a time -----------------------------------------------------

ORG = "org-secret-not-for-tools"

SCHEMES: dict[str, dict[str, Any]] = {
    "secret": {"secret": "tool-secret-5555"},
    "bearer": {"credentials": [{"type": "bearer", "token": "tool-token-1"}]},
    "bearer, own header, no prefix": {
        "credentials": [
            {"type": "bearer", "token": "tool-token-2", "headerName": "X-Api-Key",
             "bearerPrefixEnabled": False}
        ]
    },
    **{
        f"hmac {variant}": {"credentials": [{"type": "hmac", **options}]}
        for variant, options in HMAC_VARIANTS.items()
    },
    "oauth2": {
        "credentials": [
            {"type": "oauth2", "client_id": "vapi", "client_secret": "cs-9",
             "url": "https://hooks.example.com/auth/token", "scope": "hooks"}
        ]
    },
}  # fmt: skip


def receiver_with(tools: dict[str, Any], org: dict[str, Any] | None = None) -> Receiver:
    receiver = Receiver(config={"org": org or {"secret": ORG}, "tools": tools})
    receiver.add_tool(lambda order_id: {"status": "shipped", "order": order_id}, name="lookup")
    receiver.add_tool(lambda: "12:30", name="get_time")
    return receiver


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_client_presents_the_tools_only_scheme(scheme: str) -> None:
    client = VapiTestClient(receiver_with({"lookup": SCHEMES[scheme]}))
    assert client.tool_call("lookup", order_id="A-1") == {"status": "shipped", "order": "A-1"}
    envelope = make_message("tool-calls", tool_calls=[("lookup", {"order_id": "A-2"})])
    assert client.post(envelope).status_code == 200
    assert client.post(envelope).status_code == 200, "each post is signed as a new delivery"
    assert client.post(envelope, authenticate=False).status_code == 401


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_client_presents_the_orgs_only_scheme(scheme: str) -> None:
    receiver = receiver_with({}, org=SCHEMES[scheme])

    @receiver.on("assistant-request")
    def pick(message: Any) -> dict[str, str]:
        return {"assistantId": "asst-1"}

    with VapiTestClient(receiver) as client:
        assert client.assistant_request() == {"assistantId": "asst-1"}
        assert client.send("end-of-call-report").status_code == 200
        assert client.tool_call("get_time") == "12:30"


def test_an_oauth2_token_is_fetched_once_and_reused(caplog: pytest.LogCaptureFixture) -> None:
    client = VapiTestClient(receiver_with({"lookup": SCHEMES["oauth2"]}))
    with caplog.at_level(logging.INFO, logger="vapi_receiver"):
        for order in ("A-1", "A-2", "A-3"):
            assert client.tool_call("lookup", order_id=order)["order"] == order
    issued = [r for r in caplog.records if r.getMessage().startswith("OAuth2 token issued")]
    assert len(issued) == 1


def test_a_token_the_endpoint_refuses_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    client = VapiTestClient(receiver_with({"lookup": SCHEMES["oauth2"]}))
    monkeypatch.setattr(OAuth2Credential, "token_request", lambda self: b"grant_type=password")
    with pytest.raises(
        UnexpectedResponse, match=re.escape("POST /auth/token got 400 (unsupported_grant_type")
    ):
        client.tool_call("lookup", order_id="A-1")


# -- tools of several levels in one request ----------------------------------------------------


def test_levels_with_different_schemes_get_one_header_each() -> None:
    receiver = receiver_with(
        {"lookup": SCHEMES["hmac svix id"]}, org=SCHEMES["bearer, own header, no prefix"]
    )
    client = VapiTestClient(receiver)
    envelope = make_message("tool-calls", tool_calls=["lookup", "get_time"])
    headers = client.credential_headers(envelope)
    assert headers["x-api-key"] == "tool-token-2"
    assert {"svix-id", "svix-timestamp", "svix-signature"} <= headers.keys()
    outcomes = client.tool_calls(("lookup", {"order_id": "A-1"}), "get_time")
    assert [outcome.ok for outcome in outcomes] == [True, True]


def test_a_credential_every_level_accepts_is_preferred() -> None:
    shared = {"type": "bearer", "token": "shared-token"}
    tool = {"credentials": [{"type": "bearer", "token": "tool-only"}, shared]}
    receiver = receiver_with({"lookup": tool}, org={"secret": ORG, "credentials": [shared]})
    envelope = make_message("tool-calls", tool_calls=["lookup", "get_time"])
    credential = winning_credential(envelope["message"], receiver.config)
    assert credential.headers_for(b"") == {"authorization": "Bearer shared-token"}


def test_levels_whose_headers_collide_are_refused_with_the_reason() -> None:
    # Both need Authorization, with different values: Vapi could not have sent this.
    receiver = receiver_with({"lookup": SCHEMES["bearer"]}, org=SCHEMES["oauth2"])
    client = VapiTestClient(receiver)
    with pytest.raises(UnexpectedResponse, match=r"401.*cannot be sent together"):
        client.tool_calls(("lookup", {"order_id": "A-1"}), "get_time")


def test_two_hmac_plans_sign_one_delivery_with_one_timestamp() -> None:
    org_plan = {"type": "hmac", "secret_key": "hk-org", "algorithm": "sha512",
                "signature_header": "x-org-signature"}  # fmt: skip
    receiver = receiver_with({"lookup": SCHEMES["hmac defaults"]}, org={"credentials": [org_plan]})
    client = VapiTestClient(receiver)
    envelope = make_message("tool-calls", tool_calls=["lookup", "get_time"])
    headers = client.credential_headers(envelope)
    assert {"x-signature", "x-org-signature", "x-timestamp"} <= headers.keys()
    outcomes = client.tool_calls(("lookup", {"order_id": "A-1"}), "get_time")
    assert [outcome.ok for outcome in outcomes] == [True, True]
