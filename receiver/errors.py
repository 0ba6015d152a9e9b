"""Exceptions with stable messages; request errors carry the HTTP status they map to.

The core raises these and the HTTP layer only translates them, so every refusal has one
wording and one status wherever it is produced.
"""

from __future__ import annotations


class ReceiverError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ReceiverError):
    """The configuration cannot be used; raised at start-up, never during a request."""


class RegistrationError(ReceiverError):
    """A handler or tool cannot be registered (unknown type, duplicate responder, ...)."""


class RequestError(ReceiverError):
    """An incoming request is refused; `status` is the HTTP status to answer with.

    `reason` names the kind of refusal in a word from a fixed set (`REFUSAL_REASONS`), for
    metrics; `level_kind` and `message_type` are what the unverified payload claims, when
    it was read that far. None of them is ever answered.
    """

    status: int = 400
    reason: str = "malformed"
    level_kind: str | None = None
    message_type: str | None = None

    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if reason is not None:
            self.reason = reason

    @property
    def answer(self) -> str:
        """What may be answered to the sender: this refusal describes only their request."""
        return self.message


class BadRequest(RequestError):
    """The body is not a Vapi envelope (not UTF-8, not JSON, no `message`, no `type`)."""

    status = 400


class Unauthorized(RequestError):
    """The credential is missing or does not match the winning level.

    `message` explains the refusal in full, naming the configured levels and credentials it
    looked at: it goes to the log, and into the answer only when refusals are explained
    (development). `public` is what may be answered to anyone; `None` leaves it to the core,
    which then names only the schemes it accepts.
    """

    status = 401
    reason = "invalid_credential"

    def __init__(
        self, message: str, *, public: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.public = public

    @property
    def answer(self) -> str:
        """`public`, or a bare refusal when nothing public was given; never `message`."""
        return self.public or "no valid credential"


class MethodNotAllowed(RequestError):
    status = 405
    reason = "method_not_allowed"


class RequestTimeout(RequestError):
    status = 408
    reason = "body_timeout"


class PayloadTooLarge(RequestError):
    status = 413
    reason = "too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    reason = "unsupported_media_type"


#: Every `RequestError.reason`: the values of the `reason` label of refusal metrics.
REFUSAL_REASONS = frozenset(
    {
        "malformed",  # 400: not UTF-8, not JSON, no message object, no type
        "too_many_tool_calls",  # 400
        "bad_tool_call_id",  # 400
        "missing_credential",  # 401: no header any credential of the level reads
        "invalid_credential",  # 401: a credential was sent and refused
        "duplicate_header",  # 401: a credential header sent twice
        "ids_disagree",  # 401: two payload fields name different entries
        "no_level",  # 401: no configured level applies
        "method_not_allowed",  # 405
        "body_timeout",  # 408
        "too_large",  # 413
        "unsupported_media_type",  # 415
        "inbox_unavailable",  # 503
    }
)
