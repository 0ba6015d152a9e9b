"""Idempotency keys: what makes two deliveries "the same" delivery.

Vapi's body carries no delivery id (PROTOCOL.md section 11). An HMAC credential with a
`messageIdHeader` (Svix style) sends one in a header, and Vapi repeats it when it retries;
otherwise a retry repeats the exact bytes, so a digest of the raw body recognises it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from receiver.config import ReceiverConfig
from receiver.credentials import HmacCredential
from receiver.models import ToolCall
from receiver.verification import winning_levels


def delivery_key(headers: Mapping[str, str], body: bytes, id_headers: Iterable[str]) -> str:
    """`"id:<header>:<value>"` from the first id header present, else `"sha256:<digest>"`.

    Args:
        headers: Request headers with lower-case names.
        body: The raw body, exactly as received.
        id_headers: Lower-case header names that carry a unique message id.
    """
    for name in id_headers:
        if value := headers.get(name, "").strip():
            # Ids are short; a long one is hashed rather than cut, so it stays unique.
            shown = value if len(value) <= 200 else _digest(value.encode())
            return f"id:{name}:{shown}"
    return "sha256:" + _digest(body)


def level_id_headers(message: Mapping[str, Any], config: ReceiverConfig) -> tuple[str, ...]:
    """The `message_id_header` of each HMAC credential of the message's winning levels."""
    return tuple(
        credential.message_id_header
        for level in winning_levels(message, config)
        for credential in level.config.credentials
        if isinstance(credential, HmacCredential) and credential.message_id_header
    )


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
