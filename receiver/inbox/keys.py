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
from collections.abc import Mapping
from typing import Any

from receiver.config import ReceiverConfig
from receiver.credentials import HmacCredential
from receiver.models import ToolCall
from receiver.verification import winning_levels


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


def tool_result_key(call_id: str | None, tool_call: ToolCall) -> str:
    """The call id, the `toolCallId` and a digest of the tool call object.

    Scoped by call because a `toolCallId` is only promised to be unique within its call, and
    by content because a retry repeats the call exactly: an id reused for another call (other
    arguments, another tool) is run, not answered with someone else's result.
    """
    content = json.dumps(tool_call.raw, sort_keys=True, default=str).encode()
    return f"{call_id or ''}/{tool_call.id}/{_digest(content)[:32]}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
