"""Label values for metrics and span attributes, each from a fixed set.

A label value becomes a time series; one taken from a payload would let any sender create
series without bound. So message types are those of the catalogue or `unknown`, level kinds
those of the configuration's tables or `none`, reasons those of `REFUSAL_REASONS`, and
handler and tool names those the application registered.
"""

from __future__ import annotations

from typing import Final

from receiver.errors import REFUSAL_REASONS
from receiver.models.catalogue import SPECS

#: The type label of a message whose type is not in the catalogue.
UNKNOWN_TYPE: Final = "unknown"
#: The type label of a request whose message type was never read (refused before).
NO_TYPE: Final = "none"
#: The level label of a request for which no level was worked out.
NO_LEVEL: Final = "none"
#: The tool label of a tool call that names no registered tool.
UNREGISTERED_TOOL: Final = "(unregistered)"

LEVELS: Final = frozenset({"tool", "feature", "assistant", "phone_number", "org"})


def type_label(message_type: str | None) -> str:
    """The message type when the catalogue knows it, else `unknown` (or `none`)."""
    if message_type is None:
        return NO_TYPE
    return message_type if message_type in SPECS else UNKNOWN_TYPE


def level_label(level_kind: str | None) -> str:
    """`tool`, `feature`, `assistant`, `phone_number`, `org`, or `none`."""
    if level_kind is None:
        return NO_LEVEL
    label = level_kind.replace(" ", "_")
    return label if label in LEVELS else NO_LEVEL


def reason_label(reason: str) -> str:
    """A refusal's reason, from `REFUSAL_REASONS` (`malformed` for anything else)."""
    return reason if reason in REFUSAL_REASONS else "malformed"
