"""Vapi's OAuth2 credential: access tokens that this receiver issues and then accepts.

Vapi's OAuth2 plan fetches a token from `url` with the client-credentials grant, caches it
until it expires and sends `Authorization: Bearer <token>` on every webhook. The receiver is
that token endpoint (`receiver.token_endpoint`). Tokens are signed with itsdangerous and carry the
client id, the scope and the time they were issued, so any worker or host holding the same
signing keys verifies them without shared state. The signature is salted with a digest of
the client id and secret, so a token is accepted only by a credential with both. Keys
rotate like secrets: tokens are signed with the first key and accepted under any key in the
list.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

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

DEFAULT_TOKEN_PATH: Final = "/oauth/token"
DEFAULT_TOKEN_LIFETIME_SECONDS: Final = 900
"""Short enough that a leaked token is soon worthless; Vapi fetches a new one on expiry."""
CLOCK_LEEWAY_SECONDS: Final = 30
"""Allowed for clocks of different hosts and for Vapi using a token to its last second."""
MAX_SCOPE_LENGTH: Final = 1000
"""Vapi's own limit on the plan's `scope`."""
_SALT: Final = "vapi-receiver.oauth2.access-token"
_AUTHORIZATION: Final = "authorization"


@dataclass(frozen=True, kw_only=True, repr=False)
class OAuth2Credential:
    """Accepts `Authorization: Bearer <token>` with a token issued to `client_id`.

    Args:
        client_id: The plan's `clientId`.
        client_secret: The plan's `clientSecret`, checked by the token endpoint.
        scope: Space-separated scopes the client may ask for; `None` allows none.
        url: The token URL as set in Vapi's plan (or just its path); the receiver serves
            the token endpoint at its path, `/oauth/token` by default.
        token_lifetime_seconds: How long an issued token is accepted.
        signing_keys: Keys that sign tokens, newest first; the first signs, any verifies.
            Defaults to the client secret. Every worker and host must share them.
        clock: Seconds since the epoch; replaceable in tests.
    """

    client_id: str
    client_secret: str
    scope: str | None = None
    url: str | None = None
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    signing_keys: tuple[str, ...] = ()
    clock: Callable[[], float] = field(default=time.time, compare=False)
    _secret_digest: bytes = field(init=False, compare=False)
    _serializer: URLSafeTimedSerializer = field(init=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"`{name}` must be a non-empty string")
        if self.scope is not None and (
            not isinstance(self.scope, str) or len(self.scope) > MAX_SCOPE_LENGTH
        ):
            raise ConfigError(f"`scope` must be a string of at most {MAX_SCOPE_LENGTH} characters")
        lifetime = self.token_lifetime_seconds
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise ConfigError("`token_lifetime_seconds` must be a positive integer")
        keys = tuple(self.signing_keys) or (self.client_secret,)
        if any(not isinstance(key, str) or not key for key in keys):
            raise ConfigError("`signing_keys` must hold non-empty strings")
        _token_path(self.url)  # refuse a bad URL now, not on the first request
        set_ = object.__setattr__
        set_(self, "signing_keys", keys)
        set_(self, "_secret_digest", digest_of(self.client_secret))
        set_(
            self,
            "_serializer",
            URLSafeTimedSerializer(
                # itsdangerous signs with the last key of its list; ours signs with the first.
                list(reversed(keys)),
                # Bound to this client id and secret: a token issued by one credential is
                # refused by another, even one with the same client id and signing keys.
                salt=f"{_SALT}.{_identity(self.client_id, self.client_secret)}",
                signer=_ClockedSigner,
                signer_kwargs={
                    "clock": self.clock,
                    "key_derivation": "hmac",
                    "digest_method": hashlib.sha256,
                },
            ),
        )

    @property
    def scheme(self) -> str:
        return "oauth2"

    @property
    def header_names(self) -> tuple[str, ...]:
        return (_AUTHORIZATION,)

    @property
    def token_path(self) -> str:
        """Where the receiver serves this credential's token endpoint."""
        return _token_path(self.url)

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes a token for this client may carry."""
        return frozenset((self.scope or "").split())

    def authenticates(self, client_id: str, client_secret: str) -> bool:
        """Whether the token endpoint should accept these client credentials."""
        same_id = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        return same_secret(client_secret, self._secret_digest) and same_id

    def issue(self, scope: str = "") -> str:
        """A signed access token for this client; `scope` must be within `scopes`."""
        return self._serializer.dumps({"cid": self.client_id, "scope": scope})

    def token_request(self) -> bytes:
        """The form Vapi's OAuth2 plan posts to the token endpoint (client credentials grant).

        The client authenticates in the form body; `scope`, when set, asks for all of it.
        Send it as `application/x-www-form-urlencoded` to `token_path`.
        """
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if self.scope:
            form["scope"] = self.scope
        return urlencode(form).encode("ascii")

    def headers_for(self, access_token: str) -> dict[str, str]:
        """The header Vapi sends with a token from the token endpoint."""
        return {_AUTHORIZATION: f"Bearer {access_token}"}

    def check(self, request: RequestView) -> Check:
        value = request.headers.get(_AUTHORIZATION, "")
        if not value:
            return absent()
        token = split_bearer(value)
        if token is None:
            return refused("no `Bearer ` prefix")
        try:
            claims, issued = self._serializer.loads(token, return_timestamp=True)
        except BadData:
            return refused("token not issued by this receiver (or its signing key was removed)")
        age = self.clock() - issued.timestamp()
        if age > self.token_lifetime_seconds + CLOCK_LEEWAY_SECONDS:
            return refused(f"token expired {age - self.token_lifetime_seconds:.0f} s ago")
        if age < -CLOCK_LEEWAY_SECONDS:
            return refused("token issued in the future (are the hosts' clocks in sync?)")
        if not _claims_fit(claims, self.client_id, self.scopes):
            return refused("token issued to another client or for another scope")
        return ACCEPTED

    def describe(self) -> str:
        return (
            f"OAuth2 token in Authorization for client {self.client_id!r} (POST {self.token_path})"
        )

    def __repr__(self) -> str:
        return f"OAuth2Credential(client_id={self.client_id!r}, client_secret=<hidden>)"


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer, telling time by an injected clock."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


def _token_path(url: object) -> str:
    if url is None:
        return DEFAULT_TOKEN_PATH
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "/")):
        raise ConfigError("`url` must be the token URL (https://...) or a path (/oauth/token)")
    return urlsplit(url).path or "/"


def _identity(client_id: str, client_secret: str) -> str:
    """A digest that tells credentials apart without revealing the secret."""
    return hashlib.sha256(f"{client_id}\0{client_secret}".encode()).hexdigest()


def _claims_fit(claims: object, client_id: str, scopes: frozenset[str]) -> bool:
    if not isinstance(claims, dict):
        return False
    cid, scope = claims.get("cid"), claims.get("scope")
    if not isinstance(cid, str) or not isinstance(scope, str):
        return False
    return hmac.compare_digest(cid.encode(), client_id.encode()) and set(scope.split()) <= scopes
