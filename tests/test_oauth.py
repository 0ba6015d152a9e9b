"""OAuth2 as Vapi's plan uses it: a token from our endpoint, then webhooks that carry it."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote_plus

import pytest
from starlette.testclient import TestClient

from receiver import LevelConfig, Receiver, ReceiverConfig
from receiver.credentials import OAuth2Credential, RequestView
from receiver.credentials.oauth2 import CLOCK_LEEWAY_SECONDS
from receiver.errors import ConfigError
from receiver.testing import make_message
from tests.served import served

CLIENT = {"grant_type": "client_credentials", "client_id": "vapi", "client_secret": "cs-7f2e"}
OAUTH = {"type": "oauth2", "client_id": "vapi", "client_secret": "cs-7f2e"}


def receiver_with(*credentials: dict[str, Any], **levels: Any) -> tuple[Receiver, list[str]]:
    # 401 answers explained in full, as in development: these tests read them.
    config = {"org": {"credentials": list(credentials)}, **levels}
    receiver = Receiver(config=config, explain_refusals=True)
    handled: list[str] = []

    @receiver.on("status-update")
    def record(message: Any, call: Any) -> None:
        handled.append(call.id)

    return receiver, handled


def webhook(client: TestClient, token: str | None, **message: Any) -> tuple[int, str]:
    envelope = make_message("status-update", **message)
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = client.post("/vapi", content=json.dumps(envelope), headers=headers)
    return response.status_code, envelope["message"]["call"]["id"]


def fetch_token(client: TestClient, form: dict[str, str] = CLIENT, **options: Any) -> Any:
    return client.post("/oauth/token", data=form, **options)


def test_token_endpoint_then_webhook() -> None:
    receiver, handled = receiver_with(OAUTH)
    client = served(receiver.app)
    response = fetch_token(client)
    assert response.status_code == 200
    answer = response.json()
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 900
    assert "scope" not in answer
    assert response.headers["cache-control"] == "no-store"
    status, call_id = webhook(client, answer["access_token"])
    assert status == 200
    assert handled == [call_id]
    assert webhook(client, answer["access_token"][:-2])[0] == 401
    assert webhook(client, None)[0] == 401
    assert webhook(client, "cs-7f2e")[0] == 401, "the client secret is not a token"


def test_client_authentication_by_http_basic() -> None:
    receiver, _ = receiver_with({**OAUTH, "client_secret": "s:é+/%"})
    client = served(receiver.app)
    # RFC 6749 2.3.1: id and secret are form-encoded, then joined with ':' and base64'd.
    pair = f"{quote_plus('vapi')}:{quote_plus('s:é+/%')}".encode()
    basic = {"authorization": "Basic " + base64.b64encode(pair).decode()}
    response = fetch_token(client, {"grant_type": "client_credentials"}, headers=basic)
    assert response.status_code == 200
    assert webhook(client, response.json()["access_token"])[0] == 200


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_expired_tokens_are_refused() -> None:
    clock = FakeClock(1_760_000_000.0)
    credential = OAuth2Credential(
        client_id="vapi", client_secret="cs", token_lifetime_seconds=600, clock=clock
    )
    request = RequestView({"authorization": f"Bearer {credential.issue()}"})
    assert credential.check(request)
    clock.now += 600 + CLOCK_LEEWAY_SECONDS
    assert credential.check(request), "Vapi may use a token up to its last second"
    clock.now += 1
    check = credential.check(request)
    assert not check and check.reason == f"token expired {CLOCK_LEEWAY_SECONDS + 1} s ago"


def test_expiry_through_the_app() -> None:
    clock = FakeClock(1_760_000_000.0)
    credential = OAuth2Credential(client_id="vapi", client_secret="cs", clock=clock)
    config = ReceiverConfig(org=LevelConfig(credentials=(credential,)), explain_refusals=True)
    client = served(Receiver(config=config).app)
    token = fetch_token(client, {**CLIENT, "client_secret": "cs"}).json()["access_token"]
    assert webhook(client, token)[0] == 200
    clock.now += 3600
    response = client.post(
        "/vapi",
        content=json.dumps(make_message("status-update")),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert "token expired" in response.json()["error"]


def test_tokens_from_the_future_beyond_the_leeway_are_refused() -> None:
    clock = FakeClock(1_760_000_000.0)
    credential = OAuth2Credential(client_id="vapi", client_secret="cs", clock=clock)
    request = RequestView({"authorization": f"Bearer {credential.issue()}"})
    clock.now -= CLOCK_LEEWAY_SECONDS  # another host whose clock is a little behind
    assert credential.check(request)
    clock.now -= 2
    assert "issued in the future" in credential.check(request).reason


def test_signing_keys_rotate() -> None:
    """Sign with the first key, accept any: add the new key first, drop the old one later."""
    clock = FakeClock(1_760_000_000.0)

    def credential(*keys: str) -> OAuth2Credential:
        return OAuth2Credential(
            client_id="vapi", client_secret="cs", signing_keys=keys, clock=clock
        )

    before, during, after = credential("old"), credential("new", "old"), credential("new")
    old_token = RequestView({"authorization": f"Bearer {before.issue()}"})
    new_token = RequestView({"authorization": f"Bearer {during.issue()}"})
    assert during.check(old_token) and during.check(new_token)
    assert after.check(new_token), "tokens issued during the rotation use the new key"
    assert not before.check(new_token)
    refused = after.check(old_token)
    assert not refused and "signing key was removed" in refused.reason


def test_any_worker_with_the_same_keys_accepts_the_token() -> None:
    """No shared state: a token from one receiver is accepted by another with the same config."""
    config = {"org": {"credentials": [{**OAUTH, "signing_keys": ["k-2025"]}]}}
    issuer = served(Receiver(config=config).app)
    other_worker = served(Receiver(config=config).app)
    token = fetch_token(issuer).json()["access_token"]
    assert webhook(other_worker, token)[0] == 200
    stranger = served(
        Receiver(config={"org": {"credentials": [{**OAUTH, "signing_keys": ["k-other"]}]}}).app
    )
    assert webhook(stranger, token)[0] == 401


def test_a_token_opens_only_its_own_clients_levels() -> None:
    receiver, _ = receiver_with(
        OAUTH,
        assistants={
            "asst-1": {"credentials": [{**OAUTH, "client_id": "assistant-client"}]},
        },
    )
    client = served(receiver.app)
    org_token = fetch_token(client).json()["access_token"]
    assistant_form = {**CLIENT, "client_id": "assistant-client"}
    assistant_token = fetch_token(client, assistant_form).json()["access_token"]
    assert webhook(client, org_token)[0] == 200
    assert webhook(client, assistant_token, assistant_id="asst-1")[0] == 200
    assert webhook(client, org_token, assistant_id="asst-1")[0] == 401
    assert webhook(client, assistant_token)[0] == 401


def test_wrong_client_secret_or_unknown_client_is_invalid_client() -> None:
    receiver, _ = receiver_with(OAUTH)
    client = served(receiver.app)
    for form in ({**CLIENT, "client_secret": "wrong"}, {**CLIENT, "client_id": "nobody"}):
        response = fetch_token(client, form)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")
        assert "cs-7f2e" not in response.text


@pytest.mark.parametrize(
    ("form", "headers", "status", "error"),
    [
        ({**CLIENT, "grant_type": "password"}, {}, 400, "unsupported_grant_type"),
        ({k: v for k, v in CLIENT.items() if k != "grant_type"}, {}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "vapi"}, {}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials"},
            {"authorization": "Bearer x"},
            401,
            "invalid_client",
        ),
        (
            CLIENT,
            {"authorization": "Basic " + base64.b64encode(b"vapi:cs-7f2e").decode()},
            400,
            "invalid_request",
        ),
        (
            {"grant_type": "client_credentials"},
            {"authorization": "Basic !!!"},
            400,
            "invalid_request",
        ),
        ({**CLIENT, "scope": "admin"}, {}, 400, "invalid_scope"),
    ],
    ids=[
        "other grant",
        "no grant_type",
        "no secret",
        "not Basic",
        "two client authentications",
        "bad Basic",
        "scope not allowed",
    ],
)
def test_token_request_errors(
    form: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    receiver, _ = receiver_with(OAUTH)
    response = fetch_token(served(receiver.app), form, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_token_request_must_be_a_form_without_repeats() -> None:
    receiver, _ = receiver_with(OAUTH)
    client = served(receiver.app)
    as_json = client.post("/oauth/token", json=CLIENT)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    repeated = client.post(
        "/oauth/token",
        content="grant_type=client_credentials&client_id=vapi&client_id=x&client_secret=cs-7f2e",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400 and "repeated" in repeated.json()["error_description"]
    huge = client.post(
        "/oauth/token",
        content="a=" + "x" * 20_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 400
    assert client.get("/oauth/token").status_code == 405


def test_scope_is_granted_within_what_is_configured() -> None:
    receiver, _ = receiver_with({**OAUTH, "scope": "webhooks calls"})
    client = served(receiver.app)
    asked = fetch_token(client, {**CLIENT, "scope": "webhooks"}).json()
    assert asked["scope"] == "webhooks"
    assert webhook(client, asked["access_token"])[0] == 200
    default = fetch_token(client).json()
    assert default["scope"] == "calls webhooks"
    assert webhook(client, default["access_token"])[0] == 200


def test_the_endpoint_is_served_only_with_an_oauth2_credential_and_at_its_url() -> None:
    plain = served(Receiver(config={"org": {"secret": "s"}}).app)
    assert plain.post("/oauth/token", data=CLIENT).status_code == 404
    receiver, _ = receiver_with({**OAUTH, "url": "https://hooks.example.com/auth/vapi-token"})
    client = served(receiver.app)
    assert client.post("/oauth/token", data=CLIENT).status_code == 404
    token = client.post("/auth/vapi-token", data=CLIENT).json()["access_token"]
    assert webhook(client, token)[0] == 200


def test_the_401_for_oauth2_names_the_token_endpoint() -> None:
    receiver, _ = receiver_with(OAUTH)
    client = served(receiver.app)
    response = client.post(
        "/vapi",
        content=json.dumps(make_message("status-update")),
        headers={"content-type": "application/json", "authorization": "Bearer forged"},
    )
    error = response.json()["error"]
    assert "OAuth2 token in Authorization for client 'vapi' (POST /oauth/token)" in error
    assert "token not issued by this receiver" in error


def test_a_token_is_bound_to_the_credential_that_issued_it() -> None:
    """Two levels with the same client id and signing keys: only the secret tells them apart."""
    shared = {**OAUTH, "signing_keys": ["shared-key"]}
    receiver, _ = receiver_with(
        shared,
        assistants={"asst-1": {"credentials": [{**shared, "client_secret": "assistant-cs"}]}},
    )
    client = served(receiver.app)
    org_token = fetch_token(client).json()["access_token"]
    assistant_form = {**CLIENT, "client_secret": "assistant-cs"}
    assistant_token = fetch_token(client, assistant_form).json()["access_token"]
    assert webhook(client, org_token)[0] == 200
    assert webhook(client, assistant_token, assistant_id="asst-1")[0] == 200
    assert webhook(client, org_token, assistant_id="asst-1")[0] == 401
    assert webhook(client, assistant_token)[0] == 401


def test_a_token_is_refused_by_a_credential_with_another_secret() -> None:
    org = OAuth2Credential(client_id="vapi", client_secret="org-cs", signing_keys=("shared",))
    tool = OAuth2Credential(client_id="vapi", client_secret="tool-cs", signing_keys=("shared",))
    assert not tool.check(RequestView(org.headers_for(org.issue())))
    assert tool.check(RequestView(tool.headers_for(tool.issue())))


def test_the_same_client_with_different_settings_is_refused_at_start_up() -> None:
    receiver, _ = receiver_with(
        OAUTH, assistants={"asst-1": {"credentials": [{**OAUTH, "scope": "webhooks"}]}}
    )
    with pytest.raises(ConfigError, match="client id 'vapi' and the same client secret"):
        receiver.app  # noqa: B018 - building the app builds the token endpoint


@pytest.mark.parametrize(
    ("url", "other"),
    [
        ("https://hooks.example.com/vapi", "the webhook (`path`)"),
        ("/vapi", "the webhook (`path`)"),
        ("https://hooks.example.com/health", "`health_path`"),
        ("https://hooks.example.com/ready", "`ready_path`"),
    ],
)
def test_a_token_url_at_a_path_already_served_is_refused_at_start_up(url: str, other: str) -> None:
    """Starlette would serve the first route of the path: the token endpoint, unreachable."""
    receiver, _ = receiver_with({**OAUTH, "url": url})
    with pytest.raises(ConfigError) as error:
        receiver.app  # noqa: B018 - building the app is start-up
    path = url.removeprefix("https://hooks.example.com")
    assert str(error.value) == (
        f"the OAuth2 token endpoint (`url` {url}) and {other} are both at the path {path}: "
        "the second would never be reached; give one of them another path"
    )


def test_the_webhook_at_the_health_path_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"^`health_path` and the webhook \(`path`\) are both"):
        Receiver(config={"org": {"secret": "s"}}, path="/health").app  # noqa: B018
