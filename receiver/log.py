"""The package's one logger, and the fields every line about a message carries.

Fields go both into the text (readable in a terminal) and into `extra` (for JSON log
formatters), so a line can be traced to its call without the body ever being logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

LOGGER_NAME: Final = "vapi_receiver"
logger: Final = logging.getLogger(LOGGER_NAME)


def message_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    """Non-secret identifiers of a raw message: type, call id, assistant and phone number."""
    call = message.get("call")
    call = call if isinstance(call, Mapping) else {}
    return {
        "message_type": _text(message.get("type")),
        "call_id": _text(call.get("id")),
        "assistant_id": _text(call.get("assistantId")),
        "phone_number_id": _text(call.get("phoneNumberId")),
    }


def describe(fields: Mapping[str, Any]) -> str:
    """`key=value` pairs for the text of a log line, skipping empty ones."""
    return " ".join(f"{key}={value}" for key, value in fields.items() if value not in (None, ""))


def _text(value: object) -> str | None:
    # Ids are short strings; anything else (or something huge) is not worth logging.
    return value[:100] if isinstance(value, str) else None
