"""Every Vapi auth scheme, with the headers Vapi sends, configured the way a user writes it.

The signatures here are computed the way Vapi's HMAC plan describes them (placeholders
substituted into `payloadFormat`, the body as sent), independently of the receiver's own
code, so a test passes only if the receiver agrees with the sender.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import ConfigError, LevelConfig, Receiver, ReceiverConfig, load_config
from receiver.config import config_from_mapping
from receiver.credentials import BearerCredential, HmacCredential, OAuth2Credential, RequestView
from receiver.testing import make_message
from tests.served import handle_served, served

JSON_TYPE = {"content-type": "application/json"}
URL = "http://testserver/vapi"


def vapi_signature(
    body: bytes,
    key: bytes,
    *,
    algorithm: str = "sha256",
    payload_format: str = "{timestamp}.{body}",
    encoding: str = "hex",
    prefix: str = "",
    values: dict[str, str] | None = None,
) -> str:
    """What Vapi puts in the signature header: the template filled in, then HMAC'd."""
    message = payload_format
    for name, value in (values or {}).items():
        message = message.replace("{" + name + "}", value)
    before, _, after = message.partition("{body}")
    digest = hmac.new(key, before.encode() + body + after.encode(), algorithm).digest()
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return prefix + encoded


def receiver_with(credentials: list[dict[str, Any]], **level: Any) -> tuple[Receiver, list[Any]]:
    """A receiver whose org level has `credentials`; the list records handled call ids.

    Its 401 answers explain the refusal in full, as in development: these tests read them.
    """
    receiver = Receiver(
        config={"org": {"credentials": credentials, **level}}, explain_refusals=True
    )
    handled: list[Any] = []

    @receiver.on("status-update")
    def record(message: Any, call: Any) -> None:
        handled.append(call.id)

    return receiver, handled


def status_update() -> tuple[bytes, str]:
    envelope = make_message("status-update")
    return json.dumps(envelope).encode(), envelope["message"]["call"]["id"]


def post(client: TestClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/vapi", content=body, headers={**JSON_TYPE, **headers})


# -- x-vapi-secret and Bearer -----------------------------------------------------------------


def test_bearer_with_defaults_is_the_authorization_header() -> None:
    receiver, handled = receiver_with([{"type": "bearer", "token": "tok-3f9a"}])
    client = served(receiver.app)
    body, call_id = status_update()
    assert post(client, body, {"authorization": "Bearer tok-3f9a"}).status_code == 200
    assert handled == [call_id]
    other, other_id = status_update()
    assert post(client, other, {"authorization": "bearer tok-3f9a"}).status_code == 200
    for refused in ("tok-3f9a", "Bearer tok-3f9", "Bearer tok-3f9a2", "Basic tok-3f9a"):
        assert post(client, status_update()[0], {"authorization": refused}).status_code == 401
    assert post(client, status_update()[0], {"x-vapi-secret": "tok-3f9a"}).status_code == 401
    assert handled == [call_id, other_id]


def test_bearer_in_x_vapi_secret_without_prefix_is_the_migration_recipe() -> None:
    """Vapi's recipe for the legacy secret: headerName X-Vapi-Secret, prefix off."""
    bearer = {
        "type": "bearer",
        "token": "legacy-secret",
        "headerName": "X-Vapi-Secret",
        "bearerPrefixEnabled": False,
    }
    receiver, _ = receiver_with([bearer])
    legacy = Receiver(config={"org": {"secret": "legacy-secret"}})
    body, _ = status_update()
    for app in (receiver.app, legacy.app):
        client = served(app)
        assert post(client, body, {"X-Vapi-Secret": "legacy-secret"}).status_code == 200
        assert post(client, body, {"X-Vapi-Secret": "Bearer legacy-secret"}).status_code == 401
        assert post(client, body, {"authorization": "Bearer legacy-secret"}).status_code == 401


def test_bearer_in_a_custom_header_with_prefix() -> None:
    receiver, _ = receiver_with([{"type": "bearer", "token": "k1", "header_name": "X-Api-Key"}])
    client = served(receiver.app)
    body, _ = status_update()
    assert post(client, body, {"x-api-key": "Bearer k1"}).status_code == 200
    assert post(client, body, {"x-api-key": "k1"}).status_code == 401
    assert post(client, body, {"authorization": "Bearer k1"}).status_code == 401


# -- HMAC -------------------------------------------------------------------------------------


def test_hmac_with_vapi_defaults() -> None:
    receiver, handled = receiver_with(
        [{"type": "hmac", "secret_key": "hm-key", "algorithm": "sha256"}]
    )
    client = served(receiver.app)
    body, call_id = status_update()
    now = str(int(time.time()))
    signature = vapi_signature(body, b"hm-key", values={"timestamp": now})
    assert post(client, body, {"x-signature": signature, "x-timestamp": now}).status_code == 200
    assert handled == [call_id]
    wrong_key = vapi_signature(body, b"other", values={"timestamp": now})
    assert post(client, body, {"x-signature": wrong_key, "x-timestamp": now}).status_code == 401
    later = str(int(now) + 1)
    assert post(client, body, {"x-signature": signature, "x-timestamp": later}).status_code == 401
    assert post(client, body, {"x-signature": signature}).status_code == 401


def test_hmac_covers_the_raw_bytes_not_the_json() -> None:
    """The same JSON with other whitespace is another body: the signature must not match."""
    receiver, handled = receiver_with(
        [{"type": "hmac", "secret_key": "hm-key", "algorithm": "sha256"}]
    )
    client = served(receiver.app)
    envelope = make_message("status-update")
    signed = json.dumps(envelope).encode()
    sent = json.dumps(envelope, separators=(",", ":")).encode()
    now = str(int(time.time()))
    headers = {"x-signature": vapi_signature(signed, b"hm-key", values={"timestamp": now})}
    assert post(client, sent, {**headers, "x-timestamp": now}).status_code == 401
    assert post(client, signed, {**headers, "x-timestamp": now}).status_code == 200
    assert len(handled) == 1


def test_hmac_with_posthogs_settings() -> None:
    """PostHog's credential: x-vapi-signature, sha256, hex, no timestamp, payload {body}."""
    plan = {
        "type": "hmac",
        "secretKey": "ph-secret",
        "algorithm": "sha256",
        "signatureHeader": "x-vapi-signature",
        "signatureEncoding": "hex",
        "includeTimestamp": False,
        "payloadFormat": "{body}",
    }
    receiver, handled = receiver_with([plan])
    client = served(receiver.app)
    body, call_id = status_update()
    signature = vapi_signature(body, b"ph-secret", payload_format="{body}")
    assert post(client, body, {"x-signature": signature}).status_code == 401
    assert post(client, body, {"x-vapi-signature": signature.upper()}).status_code == 200
    assert handled == [call_id]


def test_hmac_without_timestamp_defaults_to_the_body_alone() -> None:
    receiver, _ = receiver_with(
        [{"type": "hmac", "secret_key": "k", "algorithm": "sha1", "include_timestamp": False}]
    )
    body, _ = status_update()
    signature = vapi_signature(body, b"k", algorithm="sha1", payload_format="{body}")
    assert post(served(receiver.app), body, {"x-signature": signature}).status_code == 200


def test_hmac_with_base64_secret_base64_signature_and_prefix() -> None:
    key = bytes(range(32))
    key_text = base64.b64encode(key).decode()
    plan = {
        "type": "hmac",
        "secret_key": key_text,
        "secret_is_base64": True,
        "algorithm": "sha512",
        "signature_encoding": "base64",
        "signature_prefix": "sha512=",
    }
    receiver, _ = receiver_with([plan])
    client = served(receiver.app)
    body, _ = status_update()
    now = str(int(time.time()))
    signature = vapi_signature(
        body,
        key,
        algorithm="sha512",
        encoding="base64",
        prefix="sha512=",
        values={"timestamp": now},
    )
    assert post(client, body, {"x-signature": signature, "x-timestamp": now}).status_code == 200
    bare = signature.removeprefix("sha512=")
    assert post(client, body, {"x-signature": bare, "x-timestamp": now}).status_code == 401
    # The key is the decoded bytes, not the base64 text.
    as_text = vapi_signature(
        body,
        key_text.encode(),
        algorithm="sha512",
        encoding="base64",
        prefix="sha512=",
        values={"timestamp": now},
    )
    assert post(client, body, {"x-signature": as_text, "x-timestamp": now}).status_code == 401


SVIX_PLAN = {
    "type": "hmac",
    "secretKey": base64.b64encode(b"svix-style key").decode(),
    "secretIsBase64": True,
    "algorithm": "sha256",
    "signatureHeader": "svix-signature",
    "timestampHeader": "svix-timestamp",
    "messageIdHeader": "svix-id",
    "payloadFormat": "{svix-id}.{timestamp}.{body}",
    "signatureEncoding": "base64",
    "signaturePrefix": "v1,",
}


def svix_headers(body: bytes, message_id: str, timestamp: str) -> dict[str, str]:
    values = {"svix-id": message_id, "timestamp": timestamp}
    signature = vapi_signature(
        body,
        b"svix-style key",
        payload_format=str(SVIX_PLAN["payloadFormat"]),
        encoding="base64",
        prefix="v1,",
        values=values,
    )
    return {"svix-id": message_id, "svix-timestamp": timestamp, "svix-signature": signature}


def test_svix_style_message_id_is_signed_and_replays_are_refused() -> None:
    receiver, handled = receiver_with([SVIX_PLAN])
    client = served(receiver.app)
    body, call_id = status_update()
    now = int(time.time())
    headers = svix_headers(body, "msg_2mXa", str(now))
    assert post(client, body, headers).status_code == 200
    replay = post(client, body, headers)
    assert replay.status_code == 401
    assert "svix-id already seen (a replay)" in replay.json()["error"]
    # Vapi signing the same message again for a retry has a fresh timestamp: not a replay
    # (the inbox then recognises the repeated message id and does not run it twice).
    assert post(client, body, svix_headers(body, "msg_2mXa", str(now + 2))).status_code == 200
    # The id is part of what is signed: another id under the same signature is refused.
    forged = {**headers, "svix-id": "msg_other"}
    assert post(client, body, forged).status_code == 401
    assert set(handled) == {call_id}


def test_svix_style_signature_header_with_several_signatures() -> None:
    receiver, _ = receiver_with([SVIX_PLAN])
    body, _ = status_update()
    headers = svix_headers(body, "msg_rot", str(int(time.time())))
    headers["svix-signature"] = "v1,AAAA " + headers["svix-signature"]
    assert post(served(receiver.app), body, headers).status_code == 200


def test_a_new_unsigned_message_id_does_not_make_a_captured_request_new() -> None:
    """The default payload_format signs no {svix-id}: the id header is anyone's to change."""
    plan = {"type": "hmac", "secret_key": "hm-key", "algorithm": "sha256"}
    receiver, handled = receiver_with([{**plan, "message_id_header": "svix-id"}])
    client = served(receiver.app)
    body, call_id = status_update()
    now = str(int(time.time()))
    captured = {
        "x-signature": vapi_signature(body, b"hm-key", values={"timestamp": now}),
        "x-timestamp": now,
        "svix-id": "msg_1",
    }
    assert post(client, body, captured).status_code == 200
    for forged_id in ("msg_2", "msg_3", "msg_1 "):
        replay = post(client, body, {**captured, "svix-id": forged_id})
        assert replay.status_code == 401
        assert "signed request already seen (a replay)" in replay.json()["error"]
    assert handled == [call_id]


def hex_variants(signature: str) -> list[str]:
    """One signature written the ways the header accepts: case, listed with others."""
    return [signature, signature.upper(), f"{'0' * 64} {signature}", f"{signature} {signature}"]


def test_a_timed_request_without_a_message_id_is_accepted_once() -> None:
    """Keyed by what was signed: no spelling or listing of the signature makes it new."""
    receiver, handled = receiver_with(
        [{"type": "hmac", "secret_key": "hm-key", "algorithm": "sha256"}]
    )
    client = served(receiver.app)
    body, call_id = status_update()
    now = str(int(time.time()))
    signature = vapi_signature(body, b"hm-key", values={"timestamp": now})
    statuses = [
        post(client, body, {"x-signature": variant, "x-timestamp": now}).status_code
        for variant in hex_variants(signature)
    ]
    assert statuses == [200, 401, 401, 401]
    # Vapi signing the delivery again (a retry) has a new timestamp: accepted, and the inbox
    # recognises the body it has stored already.
    later = str(int(now) + 1)
    retry = vapi_signature(body, b"hm-key", values={"timestamp": later})
    assert post(client, body, {"x-signature": retry, "x-timestamp": later}).status_code == 200
    assert handled == [call_id]


def test_base64_signatures_are_keyed_by_what_was_signed_too() -> None:
    plan = {**SVIX_PLAN, "payloadFormat": "{timestamp}.{body}"}
    receiver, _ = receiver_with([plan])
    client = served(receiver.app)
    body, _ = status_update()
    headers = svix_headers(body, "msg_b64", str(int(time.time())))
    signature = headers["svix-signature"]  # base64 with padding
    headers["svix-signature"] = vapi_signature(
        body,
        b"svix-style key",
        payload_format="{timestamp}.{body}",
        encoding="base64",
        prefix="v1,",
        values={"timestamp": headers["svix-timestamp"]},
    )
    assert post(client, body, headers).status_code == 200
    unpadded = headers["svix-signature"].rstrip("=").replace("+", "-").replace("/", "_")
    for variant in (unpadded, f"v1,AAAA {headers['svix-signature']}", signature):
        again = {**headers, "svix-signature": variant, "svix-id": "msg_new"}
        assert post(client, body, again).status_code == 401


def test_a_signed_message_id_keys_the_replay_memory() -> None:
    """With {svix-id} signed, one id and timestamp is one delivery whatever its body."""
    receiver, handled = receiver_with([SVIX_PLAN])
    client = served(receiver.app)
    now = str(int(time.time()))
    first, first_id = status_update()
    second, _ = status_update()
    assert post(client, first, svix_headers(first, "msg_same", now)).status_code == 200
    refused = post(client, second, svix_headers(second, "msg_same", now))
    assert refused.status_code == 401
    assert "svix-id already seen (a replay)" in refused.json()["error"]
    assert handled == [first_id]


def test_without_a_signed_timestamp_nothing_tells_a_retry_from_a_replay() -> None:
    """So identical signed bytes pass again, as Vapi's retries must (start-up warns of it);
    the inbox's body digest still keeps an informational delivery from running twice."""
    untimed = {"type": "hmac", "secret_key": "k", "algorithm": "sha256"}
    for plan in (
        {**untimed, "include_timestamp": False},
        {**untimed, "payload_format": "{body}"},  # a timestamp header that is not signed
    ):
        receiver, handled = receiver_with([plan])
        client = served(receiver.app)
        body, call_id = status_update()
        headers = {"x-signature": vapi_signature(body, b"k", payload_format="{body}")}
        headers["x-timestamp"] = str(int(time.time()))
        assert [post(client, body, headers).status_code for _ in range(2)] == [200, 200]
        assert handled == [call_id]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


NOW = 1_760_000_000.0


def hmac_request(credential_key: bytes, timestamp: str, body: bytes = b'{"message":{}}') -> Any:
    signature = vapi_signature(body, credential_key, values={"timestamp": timestamp})
    return RequestView({"x-signature": signature, "x-timestamp": timestamp}, body)


@pytest.mark.parametrize(
    ("timestamp", "accepted", "reason"),
    [
        (str(int(NOW)), True, ""),
        (str(int(NOW) - 300), True, ""),
        (str(int(NOW) + 300), True, ""),
        (str(int(NOW) - 301), False, "timestamp is 301 s old (tolerance 300 s)"),
        (str(int(NOW) + 301), False, "timestamp is 301 s in the future (tolerance 300 s)"),
        (str(int(NOW * 1000)), True, ""),
        (str(int(NOW * 1000) - 299_000), True, ""),
        (str(int(NOW * 1000) - 301_000), False, "301 s old"),
        (str(int(NOW * 1000) + 301_000), False, "301 s in the future"),
        ("1760000000.25", True, ""),
        ("2025-10-09T08:53:20Z", False, "not a number of seconds or milliseconds"),
        ("-1760000000", False, "not a number"),
        ("٣٣٣", False, "not a number"),
    ],
)
def test_hmac_timestamp_window(timestamp: str, accepted: bool, reason: str) -> None:
    credential = HmacCredential(secret_key="k", algorithm="sha256", clock=FakeClock(NOW))
    check = credential.check(hmac_request(b"k", timestamp))
    assert bool(check) is accepted
    assert reason in check.reason


def test_hmac_tolerance_is_configurable() -> None:
    credential = HmacCredential(
        secret_key="k", algorithm="sha256", tolerance_seconds=30, clock=FakeClock(NOW)
    )
    assert credential.check(hmac_request(b"k", str(int(NOW) - 30)))
    assert not credential.check(hmac_request(b"k", str(int(NOW) - 31)))


def test_a_replay_is_refused_for_as_long_as_its_timestamp_is_accepted() -> None:
    clock = FakeClock(NOW)
    credential = HmacCredential(
        secret_key="k", algorithm="sha256", message_id_header="svix-id", clock=clock
    )
    body = b'{"message":{}}'
    ahead = str(int(NOW) + 300)  # the furthest in the future that is accepted
    request = RequestView(credential.sign(body, timestamp=ahead, message_id="msg_1"), body)
    assert credential.check(request)
    assert not credential.check(request)
    clock.now += 599
    assert "a replay" in credential.check(request).reason
    clock.now += 2  # the id is forgotten, and the timestamp is now too old
    assert "old" in credential.check(request).reason
    without_id = {name: value for name, value in request.headers.items() if name != "svix-id"}
    assert credential.check(RequestView(without_id, body)).missing, "the id is required"


def test_a_message_id_without_a_timestamp_is_refused_at_load(tmp_path: Path) -> None:
    """Without a timestamp, a replay would pass again once the id is forgotten."""
    path = tmp_path / "vapi.toml"
    path.write_text(
        '[[org.credentials]]\ntype = "hmac"\nsecret_key = "k"\nalgorithm = "sha256"\n'
        'include_timestamp = false\nmessage_id_header = "svix-id"\n'
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "vapi.toml: [[org.credentials]] #1 (hmac): `message_id_header` needs" in str(error.value)
    assert "`include_timestamp = true`" in str(error.value)


def startup_warnings(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> list[str]:
    with caplog.at_level(logging.WARNING, logger="vapi_receiver"):
        receiver.log_startup()
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("HMAC on ")]


def test_hmac_without_a_timestamp_is_allowed_with_a_warning_at_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    untimed = {"type": "hmac", "secret_key": "k", "algorithm": "sha256"}
    receiver = Receiver(
        config={
            "org": {"credentials": [{**untimed, "include_timestamp": False}]},
            "tools": {"refund": {"credentials": [untimed]}},
        }
    )
    [warning] = startup_warnings(receiver, caplog)
    assert warning.startswith("HMAC on org level: no timestamp is signed")
    assert "replayed at any time" in warning


def test_an_unsigned_message_id_and_an_unsigned_timestamp_are_warned_of_at_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = {"type": "hmac", "secret_key": "k", "algorithm": "sha256"}
    receiver = Receiver(
        config={
            "org": {"credentials": [{**plan, "message_id_header": "svix-id"}]},
            "tools": {
                "refund": {"credentials": [{**plan, "payload_format": "{body}"}]},
                "lookup": {"credentials": [SVIX_PLAN]},  # signs id and timestamp: no warning
            },
        }
    )
    unsigned_id, unsigned_time = startup_warnings(receiver, caplog)
    assert unsigned_id.startswith(
        "HMAC on org level: `message_id_header` is set but `payload_format` "
        "({timestamp}.{body}) does not sign {svix-id}"
    )
    assert "add {svix-id} to payload_format" in unsigned_id
    assert unsigned_time.startswith(
        'HMAC on tool "refund": no timestamp is signed (the timestamp header is sent but not '
        "signed)"
    )


def test_hmac_signing_method_and_url() -> None:
    plan = {
        "type": "hmac",
        "secret_key": "k",
        "algorithm": "sha256",
        "include_timestamp": False,
        "payload_format": "{method} {url}\n{body}",
    }
    receiver, _ = receiver_with([plan])
    client = served(receiver.app)
    body, _ = status_update()
    fmt = str(plan["payload_format"])
    good = vapi_signature(body, b"k", payload_format=fmt, values={"method": "POST", "url": URL})
    elsewhere = vapi_signature(
        body, b"k", payload_format=fmt, values={"method": "POST", "url": "https://other/vapi"}
    )
    assert post(client, body, {"x-signature": good}).status_code == 200
    assert post(client, body, {"x-signature": elsewhere}).status_code == 401


def test_url_placeholder_needs_the_url_from_the_caller() -> None:
    plan = {"type": "hmac", "secret_key": "k", "algorithm": "sha256", "include_timestamp": False}
    receiver, _ = receiver_with([{**plan, "payload_format": "{url}{body}"}])
    body, _ = status_update()
    signature = vapi_signature(body, b"k", payload_format="{url}{body}", values={"url": URL})
    headers = {**JSON_TYPE, "x-signature": signature}
    without = handle_served(receiver, headers, body)
    assert without.status == 401
    assert isinstance(without.body, bytes) and b"the request URL is unknown" in without.body
    assert handle_served(receiver, headers, body, url=URL).status == 200


# -- several credentials, levels, and the 401 -------------------------------------------------


def test_any_credential_of_the_level_is_accepted() -> None:
    """A migration: the old secret, a Bearer token and an HMAC plan, all at once."""
    receiver, handled = receiver_with(
        [
            {"type": "bearer", "token": "tok"},
            {"type": "hmac", "secret_key": "hm", "algorithm": "sha256", "include_timestamp": False},
        ],
        secrets=["old-secret"],
    )
    client = served(receiver.app)
    first, second, third, fourth = (status_update() for _ in range(4))
    signature = vapi_signature(third[0], b"hm", payload_format="{body}")
    assert post(client, first[0], {"x-vapi-secret": "old-secret"}).status_code == 200
    assert post(client, second[0], {"authorization": "Bearer tok"}).status_code == 200
    assert post(client, third[0], {"x-signature": signature}).status_code == 200
    refused = post(client, fourth[0], {"authorization": "Bearer nope", "x-signature": signature})
    assert refused.status_code == 401
    assert handled == [first[1], second[1], third[1]]


def test_credentials_belong_to_their_level_only() -> None:
    config = {
        "org": {"secret": "org-secret"},
        "assistants": {"asst-1": {"credentials": [{"type": "bearer", "token": "assistant-token"}]}},
    }
    client = served(Receiver(config=config).app)
    mine = json.dumps(make_message("status-update", assistant_id="asst-1")).encode()
    other = json.dumps(make_message("status-update", assistant_id="asst-2")).encode()
    assert post(client, mine, {"authorization": "Bearer assistant-token"}).status_code == 200
    assert post(client, mine, {"x-vapi-secret": "org-secret"}).status_code == 401
    assert post(client, other, {"authorization": "Bearer assistant-token"}).status_code == 401
    assert post(client, other, {"x-vapi-secret": "org-secret"}).status_code == 200


def test_the_401_names_schemes_headers_and_reasons_never_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver, _ = receiver_with(
        [
            {"type": "hmac", "secret_key": "hm-secret-value", "algorithm": "sha256"},
            {"type": "bearer", "token": "bearer-secret-value", "header_name": "X-Api-Key"},
        ],
        secret="plain-secret-value",
    )
    client = served(receiver.app)
    body, _ = status_update()
    now = str(int(time.time()))
    with caplog.at_level(logging.WARNING, logger="vapi_receiver"):
        response = post(
            client,
            body,
            {"x-signature": "sent-signature-value", "x-timestamp": now, "x-api-key": "Bearer x"},
        )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error.startswith("no valid credential for org level; expected any of: ")
    assert "x-vapi-secret header: missing" in error
    expected_hmac = "HMAC-SHA256 signature in x-signature with timestamp in x-timestamp"
    assert f"{expected_hmac}: signature does not match" in error
    assert "Bearer token in x-api-key: does not match" in error
    assert "Auth-like headers present: x-api-key, x-signature, x-timestamp." in error
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert error in logged
    for value in ("hm-secret-value", "bearer-secret-value", "plain-secret-value"):
        assert value not in error and value not in logged
    assert "sent-signature-value" not in error and "sent-signature-value" not in logged


def test_the_401_when_another_scheme_is_sent_or_nothing_at_all() -> None:
    receiver, _ = receiver_with([{"type": "hmac", "secret_key": "k", "algorithm": "sha256"}])
    client = served(receiver.app)
    body, _ = status_update()
    other = post(client, body, {"authorization": "Bearer something"}).json()["error"]
    assert "x-signature missing" in other
    assert "Auth-like headers present: authorization." in other
    assert "Vapi may be sending another kind of credential" in other
    bare = post(client, body, {}).json()["error"]
    assert "inline in an API request" in bare


# -- TOML -------------------------------------------------------------------------------------

SNAKE = """
[org]
secrets = ["legacy"]

[[org.credentials]]
type = "hmac"
secret_key = "hm"
algorithm = "sha256"
signature_header = "x-vapi-signature"
include_timestamp = false
payload_format = "{body}"
tolerance_seconds = 60

[[org.credentials]]
type = "bearer"
token = "tok"
header_name = "X-Api-Key"
bearer_prefix_enabled = false

[[assistants.asst-1.credentials]]
type = "oauth2"
client_id = "vapi"
client_secret = "cs"
scope = "webhooks"
url = "https://example.com/auth/token"
token_lifetime_seconds = 600
signing_keys = ["new", "old"]
"""

CAMEL = """
[org]
secrets = ["legacy"]

[[org.credentials]]
type = "hmac"
secretKey = "hm"
algorithm = "sha256"
signatureHeader = "x-vapi-signature"
includeTimestamp = false
payloadFormat = "{body}"
toleranceSeconds = 60

[[org.credentials]]
type = "bearer"
token = "tok"
headerName = "X-Api-Key"
bearerPrefixEnabled = false

[[assistants.asst-1.credentials]]
type = "oauth2"
clientId = "vapi"
clientSecret = "cs"
scope = "webhooks"
url = "https://example.com/auth/token"
tokenLifetimeSeconds = 600
signingKeys = ["new", "old"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vapi.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", [SNAKE, CAMEL], ids=["snake_case", "camelCase"])
def test_credentials_from_toml_in_either_spelling(tmp_path: Path, text: str) -> None:
    config = load_config(write(tmp_path, text))
    assert config.org is not None
    assert config.org.secrets == ("legacy",)
    hmac_credential, bearer = config.org.credentials
    assert isinstance(hmac_credential, HmacCredential)
    assert hmac_credential.signature_header == "x-vapi-signature"
    assert hmac_credential.payload_format == "{body}"
    assert hmac_credential.tolerance_seconds == 60
    assert not hmac_credential.include_timestamp
    assert bearer == BearerCredential(
        token="tok", header_name="x-api-key", bearer_prefix_enabled=False
    )
    (oauth,) = config.assistants["asst-1"].credentials
    assert isinstance(oauth, OAuth2Credential)
    assert oauth.client_id == "vapi" and oauth.scope == "webhooks"
    assert oauth.token_path == "/auth/token"
    assert oauth.token_lifetime_seconds == 600
    assert oauth.signing_keys == ("new", "old")
    assert [c.scheme for c in config.org.accepted] == ["x-vapi-secret", "hmac", "bearer"]


def test_both_spellings_read_the_same(tmp_path: Path) -> None:
    snake = load_config(write(tmp_path, SNAKE))
    camel = load_config(write(tmp_path, CAMEL))
    assert snake.org == camel.org
    assert snake.assistants == camel.assistants


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[org.credentials]]\ntype = 'bearer'\ntoken = 't'\nheadr_name = 'X'\n",
            "[[org.credentials]] #1 (bearer): unknown key `headr_name` (expected one of: "
            "bearer_prefix_enabled, header_name, token)",
        ),
        ("[[org.credentials]]\ntoken = 't'\n", '#1: `type` must be "bearer", "hmac" or "oauth2"'),
        (
            "[[org.credentials]]\ntype = 'bearer'\ntoken = 't'\nheadrName = 'X'\n",
            "#1 (bearer): unknown key `headr_name` (expected one of: bearer_prefix_enabled,"
            " header_name, token); did you mean `header_name`?",
        ),
        ("[org]\ncredentials = ['bearer']\n", "[[org.credentials]] #1 must be a table"),
        ("[[org.credentials]]\ntype = 'basic'\n", "(got 'basic')"),
        ("[[org.credentials]]\ntype = 'bearer'\n", "#1 (bearer): `token` is required"),
        (
            "[[org.credentials]]\ntype = 'bearer'\ntoken = 't'\nbearerPrefixEnabled = 'no'\n",
            "#1 (bearer): `bearer_prefix_enabled` must be true or false",
        ),
        (
            "[[org.credentials]]\ntype = 'bearer'\ntoken = 't'\n"
            "header_name = 'A'\nheaderName = 'B'\n",
            "`headerName` is given twice",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\n",
            "#1 (hmac): `algorithm` is required",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'md5'\n",
            "#1 (hmac): `algorithm` must be one of sha256, sha512, sha1",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'sha256'\n"
            "signature_encoding = 'base32'\n",
            "`signature_encoding` must be one of hex, base64",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'sha256'\n"
            "payload_format = '{timestamp}.{payload}'\n",
            "`payload_format` has unknown placeholder {payload}",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'sha256'\n"
            "payload_format = '{timestamp}'\n",
            "`payload_format` must contain {body}",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'sha256'\n"
            "include_timestamp = false\npayload_format = '{timestamp}.{body}'\n",
            "uses {timestamp} but `include_timestamp` is false",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'sha256'\n"
            "payload_format = '{svix-id}.{body}'\n",
            "uses {svix-id} but no `message_id_header` is set",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'not base64!'\n"
            "algorithm = 'sha256'\nsecret_is_base64 = true\n",
            "`secret_key` is not valid base64",
        ),
        (
            "[[org.credentials]]\ntype = 'hmac'\nsecret_key = 'k'\nalgorithm = 'sha256'\n"
            "tolerance_seconds = 0\n",
            "`tolerance_seconds` must be a positive number of seconds",
        ),
        (
            "[[org.credentials]]\ntype = 'oauth2'\nclient_id = 'vapi'\n",
            "#1 (oauth2): `client_secret` is required",
        ),
        (
            "[[org.credentials]]\ntype = 'oauth2'\nclient_id = 'v'\nclient_secret = 's'\n"
            "url = 'oauth/token'\n",
            "`url` must be the token URL",
        ),
        (
            "[[org.credentials]]\ntype = 'oauth2'\nclient_id = 'v'\nclient_secret = 's'\n"
            "signing_keys = []\n",
            "`signing_keys` must be a list of non-empty strings",
        ),
        (
            "[[org.credentials]]\ntype = 'oauth2'\nclient_id = 'v'\nclient_secret = 's'\n"
            "token_lifetime_seconds = 1.5\n",
            "`token_lifetime_seconds` must be a positive integer",
        ),
        ("[org]\ncredentials = 'bearer'\n", "[[org.credentials]] must be an array of tables"),
        (
            '[org]\nsecret = "x"\n[[assistants.asst-1.credentials]]\ntype = "bearer"\n',
            "[[assistants.asst-1.credentials]] #1 (bearer): `token` is required",
        ),
        (
            '[org]\nsecret = "x"\n[[org.credentials]]\ntype = "bearer"\ntoken = "t"\n'
            '[[org.credentials]]\ntype = "hmac"\nsecretKey = "k"\n',
            "[[org.credentials]] #2 (hmac): `algorithm` is required",
        ),
        ("[org]\ncredentials = []\n", "[org] has no credential"),
    ],
)
def test_bad_credentials_name_file_entry_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_level_with_only_credentials_is_valid_and_one_with_neither_is_not() -> None:
    config = config_from_mapping({"org": {"credentials": [{"type": "bearer", "token": "t"}]}})
    assert config.org is not None and config.org.secrets == ()
    with pytest.raises(ConfigError, match="at least one secret or credential"):
        LevelConfig()


def test_python_configuration_and_repr_hide_every_secret() -> None:
    level = LevelConfig(
        ("s3cret-one",),
        (
            BearerCredential(token="b3arer-two"),
            HmacCredential(secret_key="hm4c-three", algorithm="sha256"),
            OAuth2Credential(client_id="vapi", client_secret="cl1ent-four"),
        ),
    )
    config = ReceiverConfig(org=level)
    shown = repr(config) + repr(level) + "".join(repr(c) for c in level.accepted)
    for secret in ("s3cret-one", "b3arer-two", "hm4c-three", "cl1ent-four"):
        assert secret not in shown
    assert "credentials=[bearer, hmac, oauth2]" in repr(level)
