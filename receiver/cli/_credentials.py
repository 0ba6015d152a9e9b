"""Which credential `send` and `replay` attach, and how secrets are shown: masked.

`--secret` sends one fixed secret. `--config vapi.toml` does what Vapi does: for each
message it sends the secret of the level that wins (`winning_credential`), so a delivery
for a tool with its own secret carries that secret. With neither, the receiver's own
environment (`$VAPI_RECEIVER_CONFIG`, `$VAPI_SERVER_SECRET`) is used, so `send` works next
to a receiver started in the same shell.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from receiver.config import ORG_SECRET_ENV, ReceiverConfig, config_from_env, load_config
from receiver.testing.credentials import AttachedCredential, winning_credential
from receiver.verification import SECRET_HEADER

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
        help="the receiver's TOML configuration: send the secret of the level that wins "
        "for each message, as Vapi would (default: $VAPI_RECEIVER_CONFIG, else "
        f"${ORG_SECRET_ENV} as the org secret)",
    )


@dataclass(frozen=True)
class Signer:
    """Attaches credentials to messages, from a fixed secret or a configuration."""

    secret: str | None = None
    config: ReceiverConfig | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Signer:
        """From `--secret`/`--config`, else the environment.

        Raises:
            ConfigError: the configuration file cannot be used.
        """
        if args.secret is not None:
            return cls(secret=args.secret)
        if args.config is not None:
            return cls(config=load_config(args.config))
        return cls(config=config_from_env())

    def credential(self, message: Mapping[str, Any] | None) -> AttachedCredential:
        if self.secret is not None:
            return AttachedCredential(self.secret)
        if self.config is None:
            return AttachedCredential(None, note="no --secret, --config or environment: sent none")
        return winning_credential(message or {}, self.config)

    def describe(self, credential: AttachedCredential) -> str:
        """`x-vapi-secret ****abcd (tool "lookup_order")`; never the secret itself."""
        if credential.secret is None:
            return f"no credential ({credential.note})" if credential.note else "no credential"
        if self.secret is not None:
            where = "--secret"
        else:
            where = " and ".join(level.describe() for level in credential.levels)
        return f"{SECRET_HEADER} {mask(credential.secret)} ({where})"
