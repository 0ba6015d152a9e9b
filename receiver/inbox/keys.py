"""Idempotency keys: what makes two deliveries "the same" delivery.

Vapi's body carries no delivery id (docs/protocol.md#no-delivery-id). An HMAC credential with a
`messageIdHeader` (Svix style) sends one in a header, and Vapi repeats it when it retries;
otherwise a retry repeats the exact bytes, so a digest of the raw body recognises it. The
header is a key only when the signature covers it: anyone who saw a request can change an
unsigned header, to run a delivery again or to have a genuine one taken for a repeat.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from receiver.config import ReceiverConfig
from receiver.credentials import HmacCredential
from receiver.models import ToolCall
from receiver.verification import Level, winning_levels


def delivery_key(headers: Mapping[str, str], body: bytes, id_header: str | None) -> str:
    """`"id:<header>:<value>"` from the signed id header, else `"sha256:<digest>"`.

    Args:
        headers: Request headers with lower-case names.
        body: The raw body, exactly as received.
        id_header: The lower-case name of a header whose message id the verified
            signature covers (`signed_id_header`), or `None`.
    """
    if id_header and (value := headers.get(id_header, "").strip()):
        # Ids are short; a long one is hashed rather than cut, so it stays unique.
        shown = value if len(value) <= 200 else _digest(value.encode())
        return f"id:{id_header}:{shown}"
    return "sha256:" + _digest(body)


def signed_id_header(message: Mapping[str, Any], config: ReceiverConfig) -> str | None:
    """The message id header that every credential of the message's winning levels signs.

    A request is let in by any one credential of its levels, and only an HMAC plan whose
    `payload_format` has `{svix-id}` signs the id: if some other credential (a secret,
    Bearer, an HMAC plan that does not sign it) could have let it in, its id proves nothing
    and `None` is returned, so the body digest is the key.
    """
    names = {
        credential.message_id_header
        if isinstance(credential, HmacCredential) and credential.signs_message_id
        else None
        for level in winning_levels(message, config)
        for credential in level.config.accepted
    }
    return names.pop() if len(names) == 1 else None


def tool_result_key(
    message: Mapping[str, Any], tool_call: ToolCall, levels: Sequence[Level]
) -> str:
    """A digest of everything that makes a stored result the answer to this tool call.

    A retry repeats the call exactly, so each part is the same for it; a call that differs in
    any part is run, not answered with another call's result:

    - the conversation: the full call id (chat and session ids for chats), because a
      `toolCallId` is only promised to be unique within its call;
    - the `toolCallId`, and the function name dispatch runs (which may come from the
      `toolWithToolCallList` item): the name decides the level, so without it a request
      with another tool's credential could read or plant that tool's result;
    - the winning levels whose credential let the request in;
    - the decoded arguments, or why they could not be decoded.

    Args:
        message: The verified `message` object.
        tool_call: The call about to run.
        levels: The message's winning levels (`winning_levels`).
    """
    scope = [_mapping(message.get(kind)).get("id") for kind in ("call", "chat", "session")]
    parts = [
        scope,
        tool_call.id,
        tool_call.name,
        [[level.kind, level.key] for level in levels],
        tool_call.arguments,
        tool_call.arguments_error,
    ]
    return "v2:" + _digest(json.dumps(parts, sort_keys=True, default=str).encode())


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
