"""What every auth scheme shares: the request it sees, the verdict it gives, and its shape.

A scheme sees a sans-io view of the request (lower-case header names, the raw body bytes,
the method and the URL) so that it can be tested without HTTP and reused behind any server.
Its verdict carries a short reason on refusal, which ends up in the 401 and the log line:
the reason names headers and what was wrong with them, never a secret or an expected value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

MISSING: Final = "missing"


@dataclass(frozen=True)
class RequestView:
    """The parts of a delivery that a credential check may look at.

    Attributes:
        headers: Header values by lower-case name.
        body: The raw body, exactly as received (HMAC signatures cover these bytes); a
            `bytearray` while it is checked before it is copied.
        method: The HTTP method, upper case.
        url: The full request URL, as the server saw it (empty when unknown).
    """

    headers: Mapping[str, str]
    body: bytes | bytearray = b""
    method: str = "POST"
    url: str = ""


@dataclass(frozen=True)
class Check:
    """The verdict of one credential on one request; true when the request is accepted."""

    accepted: bool
    reason: str = ""
    missing: bool = False
    """The refusal is for want of a header, not for a wrong value in one."""

    def __bool__(self) -> bool:
        return self.accepted


ACCEPTED: Final = Check(True)


def refused(reason: str, *, missing: bool = False) -> Check:
    """A refusal; `reason` must name no secret and no expected value."""
    return Check(False, reason, missing)


def absent(header: str = "") -> Check:
    """A refusal because `header` (or the scheme's one header) was not sent."""
    return refused(f"{header} missing" if header else MISSING, missing=True)


@runtime_checkable
class Credential(Protocol):
    """One way a level can be authenticated: x-vapi-secret, Bearer, HMAC or OAuth2."""

    @property
    def scheme(self) -> str:
        """Short name of the scheme, as in the TOML `type` key."""
        ...

    @property
    def header_names(self) -> tuple[str, ...]:
        """The lower-case names of the headers the scheme reads, for diagnostics."""
        ...

    def check(self, request: RequestView) -> Check:
        """Accept or refuse the request; must run in constant time in any secret."""
        ...

    def describe(self) -> str:
        """What the scheme expects, in words, for the 401 (never a secret)."""
        ...


def same_secret(presented: str | bytes, expected_digest: bytes) -> bool:
    """Compare a presented secret with the SHA-256 digest of the configured one.

    Fixed-size digests are compared so that neither the length nor the content of the
    configured secret shows in the time the comparison takes.
    """
    raw = presented.encode() if isinstance(presented, str) else presented
    return hmac.compare_digest(hashlib.sha256(raw).digest(), expected_digest)


def digest_of(secret: str) -> bytes:
    """The digest `same_secret` compares against; computed once, at configuration time."""
    return hashlib.sha256(secret.encode()).digest()


def split_bearer(value: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; `None` without that scheme."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
