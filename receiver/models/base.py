"""The base model every Vapi object shares, the timestamp type, and secret redaction.

Vapi adds fields and enum values without notice, so every model keeps unknown keys and types
enums as plain strings: a new value must never turn a webhook into a validation error. Real
payloads also carry secrets (`phoneNumber.serverUrlSecret`, `twilioAuthToken`, header values),
so `repr()` masks them, while the attributes themselves stay readable for code that needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, ValidatorFunctionWrapHandler, WrapValidator
from pydantic.alias_generators import to_camel

#: What a masked value looks like in a repr.
REDACTED: Final = "***"

# Key names are compared lowercased with `_`, `-` and `.` removed, so `server_url_secret`,
# `serverUrlSecret` and `x-vapi-secret` all read the same.
_SECRET_WORDS: Final = re.compile(
    r"secret|password|passwd|passphrase|token|apikey|privatekey|signingkey|authorization|cookie"
)
# Names that contain a secret word but hold no secret: ids and URLs *of* secrets
# (`credentialId`, `tokenUrl`, `secretId`) and token counts (`maxTokens`, `promptTokens`).
_NOT_SECRET_SUFFIXES: Final = ("id", "ids", "url", "urls", "tokens")
_SEPARATORS: Final = str.maketrans("", "", "_-. ")


def is_secret_key(name: str) -> bool:
    """Whether a field or key called `name` probably holds a secret.

    Args:
        name: a key as it appears in a payload (camelCase, snake_case or a header name).

    Returns:
        True for names like `serverUrlSecret`, `twilioAuthToken`, `apiKey`, `x-vapi-secret`,
        `Authorization`; False for `credentialId`, `tokenUrl`, `maxTokens`.
    """
    key = name.lower().translate(_SEPARATORS)
    if key.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return _SECRET_WORDS.search(key) is not None


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking key of nested dicts masked.

    Dicts, lists and tuples are copied; other values (including models, which redact
    themselves in their own repr) are returned as they are. For reprs and logs only.

    Args:
        value: any JSON-like value.

    Returns:
        The same structure with the values of secret keys replaced by `"***"`.
    """
    if isinstance(value, dict):
        return {
            k: (_mask(v) if isinstance(k, str) and is_secret_key(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def _mask(value: Any) -> Any:
    # `None` and "" say "no secret here", which is useful when debugging and reveals nothing.
    return value if value is None or value == "" else REDACTED


class InboundModel(BaseModel):
    """Base of the models of what Vapi sends: camelCase on the wire, snake_case in Python.

    Lenient, and the counterpart of `receiver.responses.OutboundModel` (what we send back).

    - Field `ended_reason` reads key `endedReason`; snake_case names are accepted too, so
      tests and users can build models either way.
    - Unknown keys are kept (`model_extra`, or as attributes) because Vapi adds fields often.
    - Not frozen: handlers may annotate or patch a message before passing it on.
    - `repr()` masks values whose key looks like a secret, at any depth (`is_secret_key`).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=False,
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name is not None and is_secret_key(name):
                yield name, _mask(value)
            else:
                yield name, redact(value)


def _parse_timestamp(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    # One Python call per value (this runs for every artifact message): numbers are converted
    # here, everything else goes to pydantic's own datetime parser.
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            # Out of range or NaN: a ValueError becomes an ordinary ValidationError.
            raise ValueError(f"{value!r} is not a valid epoch-milliseconds timestamp") from exc
    parsed: datetime = handler(value)
    # Vapi's ISO strings end in `Z`; a naive one can only sensibly be UTC too.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


#: A point in time from Vapi: epoch **milliseconds** (int or float, as in `message.timestamp`
#: and artifact message `time`) or an ISO-8601 string (as in `createdAt`, and `timestamp` in
#: 2024-era payloads). Always yields a timezone-aware `datetime` in `datetime.UTC`.
Timestamp = Annotated[datetime, WrapValidator(_parse_timestamp)]
