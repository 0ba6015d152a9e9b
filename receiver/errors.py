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
    """An incoming request is refused; `status` is the HTTP status to answer with."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

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

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = public

    @property
    def answer(self) -> str:
        """`public`, or a bare refusal when nothing public was given; never `message`."""
        return self.public or "no valid credential"


class MethodNotAllowed(RequestError):
    status = 405


class PayloadTooLarge(RequestError):
    status = 413


class UnsupportedMediaType(RequestError):
    status = 415
