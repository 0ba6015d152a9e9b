"""Test kit: realistic Vapi server messages without placing a phone call.

    >>> from receiver.testing import make_message, REMOVE
    >>> body = make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "A-1042"})])
    >>> body["message"]["toolCallList"][0]["function"]["name"]
    'lookup_order'

The messages come from `receiver.samples` (re-exported here; see
`receiver.samples.factories` for how keyword overrides resolve). `VapiTestClient` posts
such messages to a receiver with the right credential (it needs the `dev` extra); the
pytest plugin `receiver.testing.pytest_plugin` gives it as the `vapi_client` fixture.
"""

from __future__ import annotations

from receiver.samples import (
    CONVENIENCE_KEYWORDS,
    MESSAGE_TYPES,
    REMOVE,
    make_message,
    make_tool_call,
    sample_call,
)
from receiver.signing import AttachedCredential, winning_credential
from receiver.testing.client import (
    ToolCallError,
    ToolOutcome,
    UnexpectedResponse,
    VapiTestClient,
)

__all__ = [
    "CONVENIENCE_KEYWORDS",
    "MESSAGE_TYPES",
    "REMOVE",
    "AttachedCredential",
    "ToolCallError",
    "ToolOutcome",
    "UnexpectedResponse",
    "VapiTestClient",
    "make_message",
    "make_tool_call",
    "sample_call",
    "winning_credential",
]
