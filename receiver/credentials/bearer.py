"""Vapi's Bearer credential: a static token in `Authorization` or a header of your choice.

Vapi sends `<headerName>: Bearer <token>`, or the bare token when `bearerPrefixEnabled` is
false. `header_name = "X-Vapi-Secret"` with the prefix off is Vapi's own migration recipe
for the legacy secret, and produces exactly the header the `secret` setting checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from receiver.credentials.base import (
    ACCEPTED,
    Check,
    RequestView,
    absent,
    digest_of,
    refused,
    same_secret,
    split_bearer,
)
from receiver.errors import ConfigError


@dataclass(frozen=True, kw_only=True, repr=False)
class BearerCredential:
    """Accepts a request whose `header_name` carries `token` (after `Bearer ` if enabled).

    Args:
        token: The token configured on Vapi's Bearer credential.
        header_name: The header Vapi puts it in; case does not matter.
        bearer_prefix_enabled: Whether Vapi prefixes the token with `Bearer `.
    """

    token: str
    header_name: str = "Authorization"
    bearer_prefix_enabled: bool = True
    _digest: bytes = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token.strip():
            raise ConfigError("`token` must be a non-empty string")
        if not isinstance(self.header_name, str) or not self.header_name.strip():
            raise ConfigError("`header_name` must be a non-empty string")
        object.__setattr__(self, "header_name", self.header_name.strip().lower())
        object.__setattr__(self, "_digest", digest_of(self.token))

    @property
    def scheme(self) -> str:
        return "bearer"

    @property
    def header_names(self) -> tuple[str, ...]:
        return (self.header_name,)

    def check(self, request: RequestView) -> Check:
        value = request.headers.get(self.header_name, "")
        if not value:
            return absent()
        presented: str | None = value
        if self.bearer_prefix_enabled:
            presented = split_bearer(value)
            if presented is None:
                return refused("no `Bearer ` prefix")
        return ACCEPTED if same_secret(presented or "", self._digest) else refused("does not match")

    def describe(self) -> str:
        if self.bearer_prefix_enabled:
            return f"Bearer token in {self.header_name}"
        return f"token in {self.header_name} without Bearer prefix"

    def headers_for(self) -> dict[str, str]:
        """The header Vapi sends with this credential, as `check` expects it."""
        value = f"Bearer {self.token}" if self.bearer_prefix_enabled else self.token
        return {self.header_name: value}

    def __repr__(self) -> str:
        return f"BearerCredential(header_name={self.header_name!r}, token=<hidden>)"
