"""Realistic Vapi server messages, built without placing a phone call.

    >>> from receiver.samples import make_message
    >>> body = make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "A-1042"})])
    >>> body["message"]["toolCallList"][0]["function"]["name"]
    'lookup_order'

`vapi-receiver send` and `doctor` build their messages here, and `receiver.testing`
re-exports the same names for tests, so production code never imports the test kit. See
`receiver.samples.factories` for how keyword overrides resolve.
"""

from __future__ import annotations

from receiver.samples.factories import (
    CONVENIENCE_KEYWORDS,
    MESSAGE_TYPES,
    make_message,
    sample_call,
)
from receiver.samples.overrides import REMOVE
from receiver.samples.tool_calls import make_tool_call

__all__ = [
    "CONVENIENCE_KEYWORDS",
    "MESSAGE_TYPES",
    "REMOVE",
    "make_message",
    "make_tool_call",
    "sample_call",
]
