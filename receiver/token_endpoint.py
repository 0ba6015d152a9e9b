"""The OAuth2 token endpoint that Vapi's OAuth2 plan calls before sending webhooks.

Vapi's plan names a token URL, a client id and a client secret; it asks that URL for a
token with the client-credentials grant (RFC 6749 section 4.4), form-encoded, caches the
token until `expires_in` runs out and sends it as `Authorization: Bearer ...`. The receiver
is that URL: `POST /oauth/token` by default, or the path of the credential's `url`. Tokens
are issued and checked by `receiver.credentials.OAuth2Credential`; this module only speaks
the protocol, and answers every mistake with the standard OAuth error body and status.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.config import LevelConfig, ReceiverConfig
from receiver.credentials import OAuth2Credential
from receiver.errors import ConfigError
from receiver.log import logger

FORM: Final = "application/x-www-form-urlencoded"
GRANT_TYPE: Final = "client_credentials"
MAX_FORM_BYTES: Final = 8 * 1024
"""A token request is a few hundred bytes; anything much larger is not one."""
_MAX_FIELDS: Final = 16
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CHALLENGE: Final = {"WWW-Authenticate": 'Basic realm="vapi-receiver"'}


@dataclass(frozen=True)
class TokenAnswer:
    """What the token endpoint sends back: status, JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


class OAuthError(Exception):
    """A refused token request, with its RFC 6749 section 5.2 error code and status."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status

    def answer(self) -> TokenAnswer:
        headers = {**_NO_STORE, **(_CHALLENGE if self.status == 401 else {})}
        return TokenAnswer(
            self.status, {"error": self.code, "error_description": self.description}, headers
        )


class TokenEndpoint:
    """Answers token requests for a set of OAuth2 credentials, without HTTP."""

    def __init__(self, credentials: Sequence[OAuth2Credential]) -> None:
        """
        Raises:
            ConfigError: two credentials share client id and secret but not their settings;
                a token request could not tell which one it is for.
        """
        self.credentials = tuple(credentials)
        _refuse_ambiguous(self.credentials)

    def answer(self, headers: Mapping[str, str], body: bytes) -> TokenAnswer:
        """The answer to one token request.

        Args:
            headers: Request headers with lower-case names.
            body: The raw form-encoded body.
        """
        try:
            credential, scope = self._grant(headers, body)
        except OAuthError as error:
            logger.warning("OAuth2 token request refused (%s): %s", error.code, error.description)
            return error.answer()
        lifetime = credential.token_lifetime_seconds
        logger.info("OAuth2 token issued to client %r for %d s", credential.client_id, lifetime)
        answer: dict[str, Any] = {
            "access_token": credential.issue(scope),
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scope:
            answer["scope"] = scope
        return TokenAnswer(200, answer, _NO_STORE)

    def _grant(self, headers: Mapping[str, str], body: bytes) -> tuple[OAuth2Credential, str]:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != FORM:
            raise OAuthError("invalid_request", f"Content-Type must be {FORM}")
        form = _parse_form(body)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type != GRANT_TYPE:
            raise OAuthError("unsupported_grant_type", f"only the {GRANT_TYPE} grant is supported")
        credential = self._authenticate(*_client_credentials(headers, form))
        return credential, _granted_scope(credential, form.get("scope", ""))

    def _authenticate(self, client_id: str, client_secret: str) -> OAuth2Credential:
        # Every credential is checked, so timing does not tell which client ids exist. The
        # secret picks among credentials that share a client id; those that share both are
        # the same client with the same settings (`_refuse_ambiguous`), so any one will do.
        matches = [c for c in self.credentials if c.authenticates(client_id, client_secret)]
        if not matches:
            raise OAuthError("invalid_client", "unknown client or wrong client secret", 401)
        return matches[0]


def _refuse_ambiguous(credentials: Sequence[OAuth2Credential]) -> None:
    seen: dict[tuple[str, str], OAuth2Credential] = {}
    for credential in credentials:
        first = seen.setdefault((credential.client_id, credential.client_secret), credential)
        if _settings(first) != _settings(credential):
            raise ConfigError(
                f"two OAuth2 credentials at {credential.token_path} have client id "
                f"{credential.client_id!r} and the same client secret but different scope, "
                "token lifetime or signing keys: a token request cannot tell them apart; "
                "give each its own client secret, or the same settings"
            )


def _settings(credential: OAuth2Credential) -> tuple[object, ...]:
    return (credential.scopes, credential.token_lifetime_seconds, credential.signing_keys)


def oauth2_credentials(config: ReceiverConfig) -> list[OAuth2Credential]:
    """Every OAuth2 credential configured on any level."""
    return [
        c for level in _levels(config) for c in level.credentials if isinstance(c, OAuth2Credential)
    ]


def token_routes(config: ReceiverConfig) -> list[Route]:
    """One POST route per token path in use; none when no level has an OAuth2 credential."""
    by_path: dict[str, list[OAuth2Credential]] = {}
    for credential in oauth2_credentials(config):
        by_path.setdefault(credential.token_path, []).append(credential)
    return [
        Route(path, token_endpoint(TokenEndpoint(credentials)), methods=["POST"])
        for path, credentials in by_path.items()
    ]


def token_endpoint(endpoint: TokenEndpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for `endpoint`, to mount into an existing app."""

    async def serve(request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await _read_form(request)
        if body is None:
            answer = OAuthError("invalid_request", f"body over {MAX_FORM_BYTES} bytes").answer()
        else:
            answer = endpoint.answer(headers, body)
        return JSONResponse(answer.body, answer.status, headers=dict(answer.headers))

    return serve


def _levels(config: ReceiverConfig) -> Iterator[LevelConfig]:
    if config.org:
        yield config.org
    for entries in (
        config.orgs,
        config.phone_numbers,
        config.assistants,
        config.features,
        config.tools,
    ):
        yield from entries.values()


async def _read_form(request: Request) -> bytes | None:
    """The body, or `None` as soon as it exceeds `MAX_FORM_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            max_num_fields=_MAX_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except ValueError:  # not ASCII, bad percent-encoding of UTF-8, too many fields
        raise OAuthError("invalid_request", "the body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"parameter {name[:40]!r} is repeated")
        form[name] = value
    return form


def _client_credentials(headers: Mapping[str, str], form: Mapping[str, str]) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or from the form, but not from both."""
    authorization = headers.get("authorization", "")
    if not authorization:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not client_secret:
            raise OAuthError(
                "invalid_client",
                "no client credentials: send HTTP Basic, or client_id and client_secret",
                401,
            )
        return client_id, client_secret
    client_id, client_secret = _basic(authorization)
    if "client_secret" in form or form.get("client_id", client_id) != client_id:
        raise OAuthError(
            "invalid_request", "client credentials both in Authorization and in the form"
        )
    return client_id, client_secret


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "the Authorization scheme must be Basic", 401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_request", "the Basic credentials are not valid base64") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_request", "the Basic credentials have no ':'")
    # RFC 6749 section 2.3.1: both parts are form-encoded before base64.
    return unquote_plus(client_id), unquote_plus(client_secret)


def _granted_scope(credential: OAuth2Credential, requested: str) -> str:
    """The scope to grant: what was asked for, if the credential allows all of it."""
    if not requested.strip():
        return " ".join(sorted(credential.scopes))
    asked = requested.split()
    unknown = [scope for scope in asked if scope not in credential.scopes]
    if unknown:
        shown = " ".join(unknown)[:200]
        raise OAuthError(
            "invalid_scope", f"scope not allowed for this client: {shown} (set `scope` to allow it)"
        )
    return " ".join(asked)
