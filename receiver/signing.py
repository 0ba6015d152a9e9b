"""The credential Vapi would attach to a message, worked out from the receiver's own config.

The test client and `vapi-receiver send`/`replay` post messages as Vapi would, so they must
present the credential of the level that wins for each message (tool > assistant > phone
number > org, `receiver.verification.winning_levels`), not just any configured one: a test
that passes with the org secret would hide a tool whose own credential is misconfigured.

Every scheme is presented the way Vapi presents it, by the credential classes themselves,
so the signer sits next to the verifier and the two cannot drift apart: the `x-vapi-secret`
header, Bearer tokens, HMAC signatures over the exact bytes sent, and OAuth2 access tokens
fetched from the receiver's own token endpoint (`TokenSource`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice, product
from typing import Any, Final

from receiver.config import ReceiverConfig
from receiver.credentials import (
    BearerCredential,
    Credential,
    HmacCredential,
    OAuth2Credential,
    VapiSecret,
)
from receiver.errors import Unauthorized
from receiver.verification import Level, winning_levels

__all__ = ["AttachedCredential", "TokenSource", "TokenUnavailable", "winning_credential"]

Mint = Callable[[OAuth2Credential], str]
"""Gives an access token for an OAuth2 credential (a `TokenSource`)."""

Transport = Callable[[str, bytes], tuple[int, bytes]]
"""POSTs a form-encoded body to a path of the receiver; returns the status and the body."""

_MAX_COMBINATIONS: Final = 4096
"""Choices tried for a tool-calls request spanning levels; enough for any real request."""
_REFRESH_BEFORE_S: Final = 30.0
"""A cached token is replaced this long before it expires, so it never expires in flight."""
_SHARED_TIMESTAMP: Final = object()
_SHARED_MESSAGE_ID: Final = object()


class TokenUnavailable(Exception):
    """No OAuth2 access token could be fetched from the token endpoint; says why."""


@dataclass(frozen=True)
class AttachedCredential:
    """What to present with one message, and which levels it is for.

    Attributes:
        presented: The credentials to present, usually one. A tool-calls request whose
            tools resolve to levels that accept no common credential gets one per level,
            when their headers can be sent side by side. Empty when nothing is sent.
        levels: The winning levels, in precedence order (several for a tool-calls request
            whose tools resolve to different levels).
        note: Why nothing is sent, or why the receiver will refuse what is sent, when
            that is known beforehand.
    """

    presented: tuple[Credential, ...] = ()
    levels: tuple[Level, ...] = ()
    note: str = ""

    def headers_for(
        self,
        body: bytes,
        *,
        url: str = "",
        method: str = "POST",
        mint: Mint | None = None,
        original: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The headers that carry the credential with `body`, exactly as Vapi sends them.

        Args:
            body: The exact bytes that will be sent; HMAC signatures cover them.
            url: The URL the request goes to, for HMAC plans that sign `{url}`.
            method: The HTTP method, for HMAC plans that sign `{method}`.
            mint: Gives OAuth2 access tokens; needed when an OAuth2 credential is presented.
            original: The headers of a delivery being sent again: an HMAC message id found
                there is kept (with a fresh timestamp and signature), as in a Vapi retry.

        Returns:
            Header values by lower-case name.

        Raises:
            TokenUnavailable: an OAuth2 token could not be fetched.
            ValueError: an HMAC plan signs `{url}` and `url` is empty.
        """
        kept = {name.lower(): value for name, value in (original or {}).items()}
        headers: dict[str, str] = {}
        timestamp: str | None = None
        message_id: str | None = None
        for credential in self.presented:
            if isinstance(credential, VapiSecret | BearerCredential):
                headers |= credential.headers_for()
            elif isinstance(credential, HmacCredential):
                if credential.message_id_header:
                    message_id = message_id or kept.get(credential.message_id_header) or None
                signed = credential.sign(
                    body, method=method, url=url, timestamp=timestamp, message_id=message_id
                )
                # Two HMAC plans sign one delivery: one timestamp and one message id for both.
                if credential.include_timestamp:
                    timestamp = signed[credential.timestamp_header]
                if credential.message_id_header:
                    message_id = signed[credential.message_id_header]
                headers |= signed
            elif isinstance(credential, OAuth2Credential):
                if mint is None:
                    raise TokenUnavailable("an OAuth2 credential needs a token source (mint)")
                headers |= credential.headers_for(mint(credential))
        return headers


def winning_credential(message: Mapping[str, Any], config: ReceiverConfig) -> AttachedCredential:
    """The credential Vapi would send with `message` to a receiver configured with `config`.

    Of the winning level's credentials, the first is used: its first (current) secret,
    else its first `[[credentials]]` entry. When a tool-calls request resolves to several
    levels, a credential that every one of them accepts is chosen; failing that, one per
    level whose headers do not collide (a secret and an HMAC signature, say). If there is
    none, Vapi could not have sent the request either: the first level's credential is sent
    and the receiver refuses it with 401, and `note` says why.

    Args:
        message: The `message` object of the envelope (not the envelope itself).
        config: The receiver's configuration.

    Returns:
        The credential; nothing is presented for an insecure receiver (nothing is checked)
        or when no configured level applies (the receiver will refuse the message).
    """
    if config.insecure:
        return AttachedCredential(note="the receiver is insecure: no credential is checked")
    try:
        levels = tuple(winning_levels(message, config))
    except Unauthorized as refusal:  # sent anyway: the receiver's 401 is what a test checks
        return AttachedCredential(note=f"the receiver will refuse this message: {refusal}")
    if not levels:
        return AttachedCredential(note="no configured level applies to this message")
    options = [_options(level) for level in levels]
    for level, found in zip(levels, options, strict=True):
        if not found:
            note = f"{level.describe()} has no credential of a scheme this kit can present"
            return AttachedCredential((), levels, note)
    chosen = _accepted_by_all(options) or _side_by_side(options)
    if chosen:
        return AttachedCredential(chosen, levels)
    note = (
        f"no credential is accepted by all of {' and '.join(lv.describe() for lv in levels)}, "
        "and theirs cannot be sent together (they need the same header with different "
        "values): Vapi could not send this request, and the receiver will refuse it"
    )
    return AttachedCredential((options[0][0].credential,), levels, note)


class TokenSource:
    """Fetches OAuth2 access tokens the way Vapi's OAuth2 plan does, and caches them.

    Vapi posts the client credentials to the plan's token URL, keeps the token until its
    `expires_in` runs out, then fetches a new one. So does this, a little before expiry.
    Call it with a credential to get a token.

    Args:
        transport: Posts `credential.token_request()` (form-encoded) to a token path.
        clock: Seconds, for the cache; replaceable in tests.
    """

    def __init__(
        self, transport: Transport, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._tokens: dict[OAuth2Credential, tuple[str, float]] = {}

    def __call__(self, credential: OAuth2Credential) -> str:
        """A token for `credential`, from the cache or fresh from its token endpoint.

        Raises:
            TokenUnavailable: the endpoint refused, or answered without a token.
        """
        now = self._clock()
        cached = self._tokens.get(credential)
        if cached and cached[1] > now:
            return cached[0]
        path = credential.token_path
        status, body = self._transport(path, credential.token_request())
        token, lifetime = _read_token_answer(path, status, body)
        self._tokens[credential] = (token, now + lifetime - _REFRESH_BEFORE_S)
        return token


@dataclass(frozen=True)
class _Option:
    """A credential a level could be sent, and the headers it occupies.

    `shape` maps each header to what decides its value: the value itself when it is fixed,
    the credential when it depends on the body or a token, a shared marker for the
    timestamp and message id that one delivery's HMAC plans have in common.
    """

    credential: Credential
    shape: Mapping[str, object]


def _options(level: Level) -> list[_Option]:
    """What Vapi could attach for `level`: each secret on its own, then each credential."""
    secrets = [VapiSecret((secret,)) for secret in level.config.secrets]
    found: list[_Option] = []
    for credential in (*secrets, *level.config.credentials):
        if (shape := _shape(credential)) is not None:
            found.append(_Option(credential, shape))
    return found


def _shape(credential: Credential) -> dict[str, object] | None:
    if isinstance(credential, VapiSecret | BearerCredential):
        return dict(credential.headers_for())
    if isinstance(credential, HmacCredential):
        shape: dict[str, object] = {credential.signature_header: credential}
        if credential.include_timestamp:
            shape[credential.timestamp_header] = _SHARED_TIMESTAMP
        if credential.message_id_header:
            shape[credential.message_id_header] = _SHARED_MESSAGE_ID
        return shape
    if isinstance(credential, OAuth2Credential):
        return dict.fromkeys(credential.header_names, credential)
    return None  # a scheme of the user's own: it knows nothing of how to present it


def _accepted_by_all(options: Sequence[list[_Option]]) -> tuple[Credential, ...]:
    """The first credential of the first level that every other level accepts too."""
    first, *others = options
    for option in first:
        if all(any(other.shape == option.shape for other in level) for level in others):
            return (option.credential,)
    return ()


def _side_by_side(options: Sequence[list[_Option]]) -> tuple[Credential, ...]:
    """One credential per level, the first combination whose headers do not collide."""
    for combination in islice(product(*options), _MAX_COMBINATIONS):
        taken: dict[str, object] = {}
        if all(
            taken.setdefault(name, decides) == decides
            for option in combination
            for name, decides in option.shape.items()
        ):
            return tuple(dict.fromkeys(option.credential for option in combination))
    return ()


def _read_token_answer(path: str, status: int, body: bytes) -> tuple[str, float]:
    """The access token and its lifetime in seconds, from the token endpoint's answer."""
    try:
        answer: Any = json.loads(body)
    except ValueError:
        answer = None
    if status != 200:
        if isinstance(answer, dict) and "error" in answer:
            reason = f"{answer['error']}: {answer.get('error_description', '')}"
        else:
            reason = body[:300].decode("utf-8", errors="replace")
        raise TokenUnavailable(f"the OAuth2 token request to POST {path} got {status} ({reason})")
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenUnavailable(f"the OAuth2 token endpoint POST {path} answered no access_token")
    lifetime = answer.get("expires_in")
    valid = isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
    return token, float(lifetime) if valid else 0.0
