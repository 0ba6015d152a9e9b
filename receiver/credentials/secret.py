"""The legacy `x-vapi-secret` header: the level's `secret`/`secrets` from the configuration.

Vapi sends the raw secret, no prefix and no hashing, when a `secret`/`serverUrlSecret` is set
on the level (or a Bearer credential with `headerName: "X-Vapi-Secret"` and the prefix off,
which is the same header). Several secrets are accepted at once, for rotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from receiver.credentials.base import (
    ACCEPTED,
    Check,
    RequestView,
    absent,
    digest_of,
    refused,
    same_secret,
)
from receiver.errors import ConfigError

SECRET_HEADER: Final = "x-vapi-secret"


@dataclass(frozen=True, repr=False)
class VapiSecret:
    """Accepts a request whose `x-vapi-secret` equals any of `secrets`."""

    secrets: tuple[str, ...]
    _digests: tuple[bytes, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not self.secrets or any(not isinstance(s, str) or not s for s in self.secrets):
            raise ConfigError("secrets must be non-empty strings")
        object.__setattr__(self, "_digests", tuple(digest_of(s) for s in self.secrets))

    @property
    def scheme(self) -> str:
        return SECRET_HEADER

    @property
    def header_names(self) -> tuple[str, ...]:
        return (SECRET_HEADER,)

    def check(self, request: RequestView) -> Check:
        presented = request.headers.get(SECRET_HEADER, "")
        if not presented:
            return absent()
        # Every secret is compared, so the position of a match does not show in timing.
        matched = False
        for digest in self._digests:
            matched |= same_secret(presented, digest)
        return ACCEPTED if matched else refused("does not match")

    def describe(self) -> str:
        return f"{SECRET_HEADER} header"

    def headers_for(self) -> dict[str, str]:
        """The header Vapi sends: the first secret, the current one during a rotation."""
        return {SECRET_HEADER: self.secrets[0]}

    def __repr__(self) -> str:
        return f"VapiSecret(<{len(self.secrets)} hidden>)"
