"""Which credential `send` and `replay` attach, and how secrets are shown: masked.

`--secret` sends one fixed `x-vapi-secret`. `--config vapi.toml` does what Vapi does: for
each message it presents the credential of the level that wins (`winning_credential`), in
whatever scheme that level uses: the secret, a Bearer token, an HMAC signature over the
exact bytes sent to `--url`, or an OAuth2 token fetched from the token endpoint at
`--url`'s origin (once per run, until it expires). With neither, the receiver's own
environment (`$VAPI_RECEIVER_CONFIG`, `$VAPI_SERVER_SECRET`) is used, so `send` works next
to a receiver started in the same shell.
"""

from __future__ import annotations

import argparse
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from receiver.cli._http import Unreachable, post
from receiver.config import ORG_SECRET_ENV, ReceiverConfig, config_from_env, load_config
from receiver.credentials import BearerCredential, Credential, VapiSecret
from receiver.errors import ConfigError
from receiver.oauth import FORM
from receiver.signing import (
    AttachedCredential,
    TokenSource,
    TokenUnavailable,
    winning_credential,
)
from receiver.verification import SECRET_HEADER

__all__ = ["Signer", "TokenUnavailable", "add_credential_options", "mask"]

#: Secrets shorter than this are shown as `****` only: four characters of a short secret
#: would give away too much of it.
_SHOWN_FROM_LENGTH: Final = 12


def mask(secret: str) -> str:
    """`****` plus the last four characters (for secrets of 12 characters or more)."""
    return "****" + secret[-4:] if len(secret) >= _SHOWN_FROM_LENGTH else "****"


def add_credential_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--secret",
        help=f"send this {SECRET_HEADER} on every message",
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help="the receiver's TOML configuration: send the credential of the level that wins "
        "for each message (secret, Bearer, HMAC or OAuth2), as Vapi would (default: "
        f"$VAPI_RECEIVER_CONFIG, else ${ORG_SECRET_ENV} as the org secret)",
    )


@dataclass(frozen=True)
class Signer:
    """Attaches credentials to messages bound for `url`, from a fixed secret or a config.

    Attributes:
        url: Where the messages go: HMAC plans that sign `{url}` sign it, and OAuth2
            tokens are fetched from its origin.
        timeout: For each token request, in seconds.
        secret: A fixed `x-vapi-secret` (`--secret`); it overrides `config`.
        config: The receiver's configuration, which decides each message's credential.
    """

    url: str
    timeout: float
    secret: str | None = None
    config: ReceiverConfig | None = None
    tokens: TokenSource = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", TokenSource(self._post_form))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Signer:
        """From `--url`, `--timeout`, `--secret`/`--config`, else the environment.

        Raises:
            ConfigError: the configuration file cannot be used, or `--secret` is empty.
        """
        if args.secret is not None:
            if not args.secret:
                raise ConfigError("--secret must not be empty")
            return cls(args.url, args.timeout, secret=args.secret)
        if args.config is not None:
            return cls(args.url, args.timeout, config=load_config(args.config))
        return cls(args.url, args.timeout, config=config_from_env())

    def credential(self, message: Mapping[str, Any] | None) -> AttachedCredential:
        if self.secret is not None:
            return AttachedCredential((VapiSecret((self.secret,)),))
        if self.config is None:
            return AttachedCredential(note="no --secret, --config or environment: sent none")
        return winning_credential(message or {}, self.config)

    def headers(
        self,
        credential: AttachedCredential,
        body: bytes,
        original: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The credential headers for `body`, posted to `url`.

        Args:
            credential: From `credential()`.
            body: The exact bytes that will be sent.
            original: Recorded headers of a delivery sent again (its HMAC message id is kept).

        Raises:
            TokenUnavailable: an OAuth2 token could not be fetched.
        """
        return credential.headers_for(body, url=self.url, mint=self.tokens, original=original)

    def describe(self, credential: AttachedCredential) -> str:
        """`x-vapi-secret ****abcd (tool "lookup_order")`; never a secret itself."""
        if not credential.presented:
            return f"no credential ({credential.note})" if credential.note else "no credential"
        if self.secret is not None:
            where = "--secret"
        else:
            where = " and ".join(level.describe() for level in credential.levels)
        shown = " + ".join(_label(c) for c in credential.presented)
        note = f"; {credential.note}" if credential.note else ""
        return f"{shown} ({where}{note})"

    def _post_form(self, path: str, form: bytes) -> tuple[int, bytes]:
        url = token_url(self.url, path)
        try:
            reply = post(url, form, {"content-type": FORM}, self.timeout)
        except Unreachable as exc:
            raise TokenUnavailable(
                f"the OAuth2 token endpoint {url} is unreachable: {exc}"
            ) from None
        return reply.status, reply.body


def token_url(webhook_url: str, path: str) -> str:
    """The token endpoint `path` on the server of `webhook_url`."""
    parts = urllib.parse.urlsplit(webhook_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _label(credential: Credential) -> str:
    if isinstance(credential, VapiSecret):
        return f"{SECRET_HEADER} {mask(credential.secrets[0])}"
    if isinstance(credential, BearerCredential):
        prefix = "Bearer " if credential.bearer_prefix_enabled else ""
        return f"{credential.header_name} {prefix}{mask(credential.token)}"
    return credential.describe()
