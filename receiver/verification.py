"""Which configured level a message belongs to, and whether its credential matches.

Vapi sends each message to one server URL and attaches the credential of the level that
URL came from: tool > assistant > phone number > org (PROTOCOL.md section 0). We work out
the same winner from ids in the payload and accept only that level's secrets. Nothing
secret in the payload (`serverUrlSecret`, `server.secret`, "[REDACTED]") is ever compared.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from receiver.config import LevelConfig, ReceiverConfig
from receiver.errors import Unauthorized
from receiver.models.tool_calls import from_function_call, normalise_tool_calls

SECRET_HEADER: Final = "x-vapi-secret"

LevelKind = Literal["tool", "assistant", "phone number", "org"]

#: Header names that suggest some other auth scheme is in use; named (never their values)
#: in the 401 so a user sees at once that Vapi sent a Bearer or HMAC credential instead.
_AUTH_LIKE_HEADERS: Final = (
    "authorization",
    "signature",
    "secret",
    "token",
    "api-key",
    "timestamp",
)


@dataclass(frozen=True)
class Level:
    """A configuration entry that won for a message."""

    kind: LevelKind
    key: str
    config: LevelConfig

    def describe(self) -> str:
        return "org level" if self.kind == "org" and not self.key else f'{self.kind} "{self.key}"'


def winning_levels(message: Mapping[str, Any], config: ReceiverConfig) -> list[Level]:
    """The levels whose credential the message must carry, in precedence order.

    Usually one. A tool-calls request whose tools resolve to different levels yields each of
    them, and the credential has to satisfy all: Vapi attached one credential, so a request
    that mixes levels is only genuine if that credential is valid for every one.
    """
    fallback = _non_tool_level(message, config)
    names = _tool_identities(message)
    if not names:
        return [fallback] if fallback else []
    levels: list[Level] = []
    for identities in names:
        level = _first_configured("tool", identities, config.tools) or fallback
        if level is None:
            return []
        if level not in levels:
            levels.append(level)
    return levels


def verify(headers: Mapping[str, str], levels: list[Level]) -> None:
    """Accept the request only if its `x-vapi-secret` matches every winning level.

    Args:
        headers: Request headers with lower-case names.
        levels: From `winning_levels`; empty means no configured level applies.

    Raises:
        Unauthorized: with a message naming the expected header and level, never a secret.
    """
    if not levels:
        raise Unauthorized(
            "no configured level applies to this message (no matching tool, assistant or "
            "phone number entry, and no org entry)"
        )
    presented = headers.get(SECRET_HEADER, "")
    expected = " and ".join(level.describe() for level in levels)
    if not presented:
        raise Unauthorized(
            f"missing {SECRET_HEADER} header; expected the secret of {expected}."
            + _missing_header_hint(headers)
        )
    if not all(_matches_any(presented, level.config.secrets) for level in levels):
        raise Unauthorized(f"{SECRET_HEADER} does not match the secret of {expected}")


def _matches_any(presented: str, secrets: tuple[str, ...]) -> bool:
    # Compare fixed-size digests so that neither the length nor the content of a configured
    # secret shows in timing, and check every secret so the position of a match does not.
    presented_digest = hashlib.sha256(presented.encode()).digest()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(presented_digest, hashlib.sha256(secret.encode()).digest())
    return matched


def _missing_header_hint(headers: Mapping[str, str]) -> str:
    present = sorted(name for name in headers if any(word in name for word in _AUTH_LIKE_HEADERS))
    if present:
        return (
            f" Auth-like headers present: {', '.join(present)}; Vapi may be using a Bearer,"
            " HMAC or OAuth2 credential for this level instead of a secret."
        )
    return (
        " No credential header was sent: Vapi withholds credentials from server URLs given"
        " inline in an API request (transient assistants, assistantOverrides); save the URL"
        " on the assistant, phone number or org instead."
    )


def _non_tool_level(message: Mapping[str, Any], config: ReceiverConfig) -> Level | None:
    call = _mapping(message.get("call"))
    if message.get("type") != "assistant-request":
        assistant = _mapping(message.get("assistant"))
        ids = _strings(call.get("assistantId"), assistant.get("id"), assistant.get("name"))
        if level := _first_configured("assistant", ids, config.assistants):
            return level
    phone = _mapping(message.get("phoneNumber"))
    ids = _strings(call.get("phoneNumberId"), phone.get("id"), phone.get("number"))
    if level := _first_configured("phone number", ids, config.phone_numbers):
        return level
    org_ids = _strings(call.get("orgId"), phone.get("orgId"))
    if level := _first_configured("org", org_ids, config.orgs):
        return level
    return Level("org", "", config.org) if config.org else None


def _tool_identities(message: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """For each tool call, the names it may be configured under: function name, tool id."""
    kind = message.get("type")
    if kind == "function-call":
        call = from_function_call(_mapping(message.get("functionCall")))
        return [(call.name,)] if call.name else []
    if kind != "tool-calls":
        return []
    identities = []
    for call in normalise_tool_calls(message):
        tool = call.tool or {}
        identities.append(tuple(_strings(call.name, tool.get("id"))))
    return identities


def _first_configured(
    kind: LevelKind, ids: Iterable[str], entries: Mapping[str, LevelConfig]
) -> Level | None:
    for key in ids:
        if (entry := entries.get(key)) is not None:
            return Level(kind, key, entry)
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(*values: object) -> list[str]:
    return [v for v in values if isinstance(v, str) and v]
