"""The catalogue of Vapi server-message types.

One table that the models, the handler registry and the dispatcher all read, so that a type
name is spelled in exactly one place and registration can reject a typo before any call.
"""

from __future__ import annotations

import re
from typing import Final

#: Types whose answer Vapi waits for and uses (docs/protocol.md#answers), in list order.
_REQUESTS: Final = (
    "assistant-request",
    "tool-calls",
    "transfer-destination-request",
    "handoff-destination-request",
    "knowledge-base-request",
    "voice-request",
    "call.endpointing.request",
    "campaign.predial",
    "function-call",
)

#: Types Vapi only informs us of, in list order.
_INFORMATIONAL: Final = (
    "conversation-update",
    "end-of-call-report",
    "hang",
    "model-output",
    "phone-call-control",
    "speech-update",
    "status-update",
    "transfer-update",
    "transcript",
    "user-interrupted",
    "language-change-detected",
    "voice-input",
    "assistant.speechStarted",
    "chat.created",
    "chat.deleted",
    "session.created",
    "session.updated",
    "session.deleted",
    "call.deleted",
    "call.delete.failed",
    "call.artifact.upload",
    # In `serverMessages` or campaign settings but with no schema in the SDK union.
    "assistant.started",
    "language-changed",
    "campaign.started",
    "campaign.cancelled",
    "campaign.ended",
    "campaign.archived",
    "campaign.unarchived",
    "campaign.job.continued",
    "contact.dispatched",
    "contact.completed",
    "contact.failed",
    "contact.skipped",
    "contact.predial-failed",
)

REQUEST_TYPES: Final = frozenset(_REQUESTS)
#: Acknowledged with 200 `{}` before handlers run.
INFORMATIONAL_TYPES: Final = frozenset(_INFORMATIONAL)
KNOWN_TYPES: Final = REQUEST_TYPES | INFORMATIONAL_TYPES
#: Every known type, request types first: the one list that `send --list`, `doctor`, the
#: factories and the registry's errors show.
TYPES_IN_ORDER: Final = _REQUESTS + _INFORMATIONAL

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
TYPE_BY_METHOD_NAME: Final = {method_name(t): t for t in KNOWN_TYPES}
