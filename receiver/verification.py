"""Which configured level a message belongs to, and whether its credential matches.

Vapi sends each message to one server URL and attaches the credential of the level that
URL came from: tool > assistant > phone number > org (PROTOCOL.md section 0). We work out
the same winner from ids in the payload and accept only that level's credentials. Nothing
secret in the payload (`serverUrlSecret`, `server.secret`, "[REDACTED]") is ever compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from receiver.config import LevelConfig, ReceiverConfig
from receiver.credentials import SECRET_HEADER, Check, Credential, HmacCredential, RequestView
from receiver.errors import Unauthorized
from receiver.models.tool_calls import from_function_call, normalise_tool_calls

__all__ = [
    "SECRET_HEADER",
    "Level",
    "LevelKind",
    "configured_levels",
    "untimed_hmac_levels",
    "verify",
    "verify_any",
    "winning_levels",
]

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
_MAX_NAMES: Final = 10
_MAX_NAME: Final = 64


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


def verify(request: RequestView | Mapping[str, str], levels: list[Level]) -> None:
    """Accept the request only if, for every winning level, one of its credentials does.

    Args:
        request: Lower-case headers, the raw body, the method and the URL; or just the
            lower-case headers, which is enough for secrets, Bearer and OAuth2 tokens.
        levels: From `winning_levels`; empty means no configured level applies.

    Raises:
        Unauthorized: naming, per refusing level, each scheme with the header it expected
            and why it refused, then the auth-like headers present; never a value.
    """
    if not levels:
        raise Unauthorized(
            "no configured level applies to this message (no matching tool, assistant or "
            "phone number entry, and no org entry)"
        )
    if not isinstance(request, RequestView):
        request = RequestView(request)
    refusals = [(level, found) for level in levels if (found := _refusals(request, level))]
    if refusals:
        raise Unauthorized(_explain(request, refusals))


def configured_levels(config: ReceiverConfig) -> list[Level]:
    """Every configured level, in no particular order."""
    levels = [Level("org", "", config.org)] if config.org else []
    tables: tuple[tuple[LevelKind, Mapping[str, LevelConfig]], ...] = (
        ("org", config.orgs),
        ("phone number", config.phone_numbers),
        ("assistant", config.assistants),
        ("tool", config.tools),
    )
    for kind, entries in tables:
        levels.extend(Level(kind, key, entry) for key, entry in entries.items())
    return levels


def untimed_hmac_levels(config: ReceiverConfig) -> list[str]:
    """The levels with an HMAC credential that signs no timestamp, so cannot refuse replays.

    Allowed (it is the setting of Vapi's PostHog recipe) but worth a warning at start-up.
    """
    return [
        level.describe()
        for level in configured_levels(config)
        if any(
            isinstance(c, HmacCredential) and not c.include_timestamp for c in level.config.accepted
        )
    ]


def verify_any(request: RequestView, config: ReceiverConfig) -> None:
    """Accept the request if any credential of any level does; cheap, runs before parsing.

    Parsing a large body costs far more memory and CPU than its size; this check lets a
    caller refuse a stranger's large body without parsing it. Secrets, Bearer and OAuth2
    read only headers, and HMAC is one pass over the body; no HMAC message id is recorded,
    so the real check that follows still sees the delivery for the first time.

    Raises:
        Unauthorized: naming what the configured credentials expect and the auth-like
            headers present; never a value, and not the level (it is not known yet).
    """
    expected: dict[str, None] = {}
    readers: set[str] = set()
    for level in configured_levels(config):
        for credential in level.config.accepted:
            if isinstance(credential, HmacCredential):
                check = credential.check(request, remember=False)
            else:
                check = credential.check(request)
            if check:
                return
            expected[credential.describe()] = None
            readers.update(credential.header_names)
    shown = list(expected)[:_MAX_NAMES]
    more = f" (+{len(expected) - _MAX_NAMES} more)" if len(expected) > _MAX_NAMES else ""
    message = (
        f"a body of {len(request.body)} bytes is refused before it is read: no configured "
        f"credential accepts it; expected one of: {'; '.join(shown)}{more}."
    )
    present = _auth_like_headers(request.headers, readers)
    message += f" Auth-like headers present: {', '.join(present) or 'none'}."
    raise Unauthorized(message)


def _refusals(request: RequestView, level: Level) -> list[tuple[Credential, Check]]:
    """Why each credential of `level` refused the request; empty when one accepted it."""
    refusals = []
    for credential in level.config.accepted:
        check = credential.check(request)
        if check:
            return []
        refusals.append((credential, check))
    return refusals


def _explain(
    request: RequestView, refusals: list[tuple[Level, list[tuple[Credential, Check]]]]
) -> str:
    sentences = []
    for level, found in refusals:
        expected = "; ".join(f"{c.describe()}: {check.reason}" for c, check in found)
        several = "any of: " if len(found) > 1 else ""
        sentences.append(
            f"no valid credential for {level.describe()}; expected {several}{expected}."
        )
    readers = {name for _, found in refusals for c, _ in found for name in c.header_names}
    present = _auth_like_headers(request.headers, readers)
    if not present:
        sentences.append(
            "No credential header was sent: Vapi withholds credentials from server URLs given"
            " inline in an API request (transient assistants, assistantOverrides); save the URL"
            " on the assistant, phone number or org instead."
        )
        return " ".join(sentences)
    sentences.append(f"Auth-like headers present: {', '.join(present)}.")
    if all(check.missing for _, found in refusals for _, check in found):
        sentences.append(
            "Vapi may be sending another kind of credential (secret, Bearer, HMAC or OAuth2)"
            " than this level is configured for."
        )
    return " ".join(sentences)


def _auth_like_headers(headers: Mapping[str, str], readers: set[str]) -> list[str]:
    """Names (never values) of headers that look like credentials, bounded for hostile input."""
    names = sorted(
        name
        for name in headers
        if name in readers or any(word in name for word in _AUTH_LIKE_HEADERS)
    )
    shown = [name[:_MAX_NAME] for name in names[:_MAX_NAMES]]
    return shown + ([f"(+{len(names) - _MAX_NAMES} more)"] if len(names) > _MAX_NAMES else [])


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
    for call in normalise_tool_calls(message, decode_arguments=False):
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
