"""The names of the Vapi server-message types, from the table in `receiver.models.catalogue`.

The handler registry, the core and the CLI check names against these sets, so that a type name is
spelled in exactly one place and registration can reject a typo before any call.
"""

from __future__ import annotations

import re
from typing import Final

from receiver.models.catalogue import SPECS

#: Types whose answer Vapi waits for and uses (docs/protocol.md#answers), in table order.
REQUEST_TYPES: Final = tuple(name for name, spec in SPECS.items() if spec.request)

#: Types Vapi only informs us of; they are acknowledged with 200 `{}` before handlers run.
INFORMATIONAL_TYPES: Final = tuple(name for name, spec in SPECS.items() if not spec.request)

#: Request types answered from the tool table unless a handler takes over entirely.
TOOL_TYPES: Final = frozenset(name for name, spec in SPECS.items() if spec.tools)

KNOWN_TYPES: Final = frozenset(SPECS)

#: Every known type, request types first, in table order: the one list that `send --list`,
#: `doctor` and the factories show.
TYPES_IN_ORDER: Final = REQUEST_TYPES + INFORMATIONAL_TYPES

#: `assistant.serverMessages` when an assistant does not set it (docs/protocol.md#routing), in
#: the order Vapi lists it.
DEFAULT_SERVER_MESSAGES: Final = (
    "conversation-update",
    "end-of-call-report",
    "function-call",
    "hang",
    "speech-update",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "handoff-destination-request",
    "user-interrupted",
    "assistant.started",
)


def method_name(message_type: str) -> str:
    """The `CallHandler` method that handles `message_type`.

    `-` and `.` become `_` and camelCase becomes snake_case, so `end-of-call-report` is
    `on_end_of_call_report` and `assistant.speechStarted` is `on_assistant_speech_started`.
    """
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", message_type).lower()
    return "on_" + snake.replace("-", "_").replace(".", "_")


#: `on_<...>` method name -> message type, for finding handler methods on a class.
TYPE_BY_METHOD_NAME: Final = {method_name(t): t for t in SPECS}
