"""A kept delivery, made ready to send through the receiver again, with a fresh credential.

Two ways, as the page offers them:

- `fresh`: a new delivery. The body's `message.timestamp` becomes now, so neither the
  inbox's repeat detection nor an HMAC replay check takes it for the first one; tool call
  ids stay, so a repeated tool call still answers its stored result.
- `retry`: what Vapi sends when it did not get an answer: the same bytes, and the same HMAC
  message id with a fresh timestamp and signature. The receiver acknowledges it as a repeat.

The credential is the one Vapi would attach (`receiver.signing.winning_credential`), read
from the receiver's own configuration: the inspector never shows it.
"""

from __future__ import annotations

import json
import time
from typing import Literal

from receiver.config import ReceiverConfig
from receiver.credentials import OAuth2Credential
from receiver.inspector.journal import Exchange
from receiver.jsontext import decode_json
from receiver.signing import winning_credential

Mode = Literal["fresh", "retry"]


class ReplayRefused(Exception):
    """This delivery cannot be sent again from the page; the message says why."""


def replay_request(
    exchange: Exchange, config: ReceiverConfig, mode: str
) -> tuple[dict[str, str], bytes]:
    """The headers and body to send, for `mode` `"fresh"` or `"retry"`.

    Raises:
        ReplayRefused: the body was too large to keep, is not a Vapi envelope, or its level
            takes OAuth2 tokens (the page cannot fetch one from its own server while serving).
    """
    if not exchange.body:
        raise ReplayRefused("this delivery's body was too large to keep, so it cannot be replayed")
    try:
        envelope = decode_json(exchange.body)
    except ValueError as exc:
        raise ReplayRefused(f"the body is not JSON ({exc}): nothing to replay") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise ReplayRefused("the body has no message object: nothing to replay")
    body = exchange.body
    if mode == "fresh":
        message["timestamp"] = int(time.time() * 1000)
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    attached = winning_credential(message, config)
    if any(isinstance(c, OAuth2Credential) for c in attached.presented):
        raise ReplayRefused(
            "this level takes OAuth2 tokens, which the page cannot fetch from its own server: "
            "use `vapi-receiver send` or `vapi-receiver replay` with --config"
        )
    original = exchange.headers if mode == "retry" else None
    headers = {
        "content-type": "application/json",
        "host": _host_of(exchange.url),
        **attached.headers_for(body, url=exchange.url, original=original),
    }
    return headers, body


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0] or "localhost"
