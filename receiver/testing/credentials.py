"""The credential Vapi would attach to a message, worked out from the receiver's own config.

The test client and `vapi-receiver send`/`replay` post messages as Vapi would, so they must
present the secret of the level that wins for each message (tool > assistant > phone number
> org, `receiver.verification.winning_levels`), not just any configured secret: a test that
passes with the org secret would hide a tool whose own secret is misconfigured.

Only `x-vapi-secret` secrets are filled in. A winning level configured with nothing but
Bearer, HMAC or OAuth2 credentials gets no header and a `note` saying so; send those
headers yourself (`VapiTestClient.post(..., headers=...)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from receiver.config import ReceiverConfig
from receiver.verification import SECRET_HEADER, Level, winning_levels

__all__ = ["AttachedCredential", "winning_credential"]


@dataclass(frozen=True)
class AttachedCredential:
    """The header to send with one message, and which level it belongs to.

    Attributes:
        secret: The `x-vapi-secret` value, or `None` when nothing will be sent (insecure
            receiver, or no configured level applies: the receiver will answer 401).
        levels: The winning levels, in precedence order (several for a tool-calls request
            whose tools resolve to different levels).
        note: Why the credential may be refused, when it is known beforehand.
    """

    secret: str | None
    levels: tuple[Level, ...] = ()
    note: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {SECRET_HEADER: self.secret} if self.secret else {}


def winning_credential(message: Mapping[str, Any], config: ReceiverConfig) -> AttachedCredential:
    """The credential Vapi would send with `message` to a receiver configured with `config`.

    The first secret of the winning level is used (the current one, during a rotation).
    When a tool-calls request resolves to several levels, a secret that every one of them
    accepts is chosen; if there is none, Vapi could not have sent the request either, so
    the first level's secret is sent and the receiver refuses it with 401.

    Args:
        message: The `message` object of the envelope (not the envelope itself).
        config: The receiver's configuration.

    Returns:
        The credential; its `secret` is `None` for an insecure receiver (nothing is checked)
        or when no configured level applies (the receiver will refuse the message).
    """
    if config.insecure:
        return AttachedCredential(None, note="the receiver is insecure: no credential is checked")
    levels = tuple(winning_levels(message, config))
    if not levels:
        return AttachedCredential(None, note="no configured level applies to this message")
    without = [level.describe() for level in levels if not level.config.secrets]
    if without:
        note = (
            f"{' and '.join(without)} has no {SECRET_HEADER} secret; only that header is "
            "filled in automatically (pass the headers yourself)"
        )
        return AttachedCredential(None, levels, note)
    first, *others = (level.config.secrets for level in levels)
    shared = [secret for secret in first if all(secret in other for other in others)]
    if shared:
        return AttachedCredential(shared[0], levels)
    note = "no secret is shared by all the winning levels; the receiver will refuse it"
    return AttachedCredential(first[0], levels, note)
