"""Which configured level a message belongs to, and whether its credential matches.

Vapi sends each message to one server URL and attaches the credential of the level that
URL came from: tool > assistant > phone number > org (protocol.md#receiver-decisions). We work out
the same winner from ids in the payload and accept only that level's credentials. Nothing
secret in the payload (`serverUrlSecret`, `server.secret`, "[REDACTED]") is ever compared.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from receiver.config import LevelConfig, ReceiverConfig
from receiver.credentials import (
    SECRET_HEADER,
    BearerCredential,
    Check,
    Credential,
    HmacCredential,
    OAuth2Credential,
    RequestView,
    VapiSecret,
)
from receiver.errors import Unauthorized
from receiver.log import printable
from receiver.models.tool_calls import from_function_call, normalise_tool_calls

__all__ = [
    "FEATURE_OF_TYPE",
    "SECRET_HEADER",
    "Level",
    "LevelKind",
    "configured_levels",
    "expected_schemes",
    "hmac_replay_warnings",
    "lower_headers",
    "quiet_refusal",
    "single_valued_headers",
    "verify",
    "verify_any",
    "winning_levels",
]

LevelKind = Literal["tool", "feature", "assistant", "phone number", "org"]

#: The message types a feature's own server receives, and the `[features.X]` entry that wins.
FEATURE_OF_TYPE: Final[Mapping[str, str]] = {
    "voice-request": "voice",
    "knowledge-base-request": "knowledge_base",
    "call.endpointing.request": "endpointing",
}
#: Shown of a payload value in a refusal: enough to recognise an id, bounded for hostile input.
_MAX_SHOWN: Final = 64

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
#: Read by some scheme whatever the configuration: a second value is refused even when no
#: configured credential reads it, so that no proxy or framework in front can pick another.
_ALWAYS_SINGLE: Final = frozenset({SECRET_HEADER, "authorization"})
_WITHHELD: Final = (
    "No credential header was sent: Vapi withholds credentials from server URLs given"
    " inline in an API request (transient assistants, assistantOverrides); save the URL"
    " on the assistant, phone number or org instead."
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

    Each level kind is identified by one primary field; other fields naming the same kind
    may only agree with it (they stand in when it is absent). So a field the sender adds or
    leaves out never moves the request to another level, and the handler reads the same
    identity that was verified. Names, numbers and tool ids are never identities.

    Raises:
        Unauthorized: two fields that identify the same kind name different entries.
    """
    fallback = _non_tool_level(message, config)
    names = _tool_names(message)
    if not names:
        return [fallback] if fallback else []
    levels: list[Level] = []
    for name in names:
        entry = config.tools.get(name)
        level = Level("tool", name, entry) if entry is not None else fallback
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
            "phone number entry, and no org entry)",
            reason="no_level",
        )
    if not isinstance(request, RequestView):
        request = RequestView(request)
    refusals = [(level, found) for level in levels if (found := _refusals(request, level))]
    if refusals:
        raise Unauthorized(_explain(request, refusals), reason=_reason(refusals))


def configured_levels(config: ReceiverConfig) -> list[Level]:
    """Every configured level, in no particular order."""
    levels = [Level("org", "", config.org)] if config.org else []
    tables: tuple[tuple[LevelKind, Mapping[str, LevelConfig]], ...] = (
        ("org", config.orgs),
        ("phone number", config.phone_numbers),
        ("assistant", config.assistants),
        ("feature", config.features),
        ("tool", config.tools),
    )
    for kind, entries in tables:
        levels.extend(Level(kind, key, entry) for key, entry in entries.items())
    return levels


def hmac_replay_warnings(config: ReceiverConfig) -> list[tuple[Level, str]]:
    """Each level's HMAC plans that leave replays open, with what to change: for start-up
    and `doctor`.

    Allowed (signing no timestamp is the setting of Vapi's PostHog recipe) but worth saying.
    """
    return [
        (level, warning)
        for level in configured_levels(config)
        for credential in level.config.accepted
        if isinstance(credential, HmacCredential)
        for warning in credential.replay_warnings()
    ]


def verify_any(request: RequestView, config: ReceiverConfig, *, headers_only: bool = False) -> bool:
    """Accept the request if any credential of any level may; cheap, runs before parsing.

    A stranger's body costs memory to read and far more to parse; this check turns the
    stranger away first. Secrets, Bearer and OAuth2 read only headers, so they decide in
    full either way. HMAC needs the body: with `headers_only` it refuses only for a missing
    header or a stale timestamp, otherwise it checks the signature. Nothing is remembered
    as seen, so the real check that follows still sees the delivery for the first time.

    Args:
        request: The delivery; its body is ignored with `headers_only`.
        config: Every configured level's credentials are tried.
        headers_only: The body has not been read yet.

    Returns:
        Whether some credential accepted the request in full: false when, with
        `headers_only`, only an HMAC credential's headers passed, so the sender is not known
        until the signature over the body is checked.

    Raises:
        Unauthorized: naming, for each configured level (the first ten), each scheme
            with the header it expected and why it refused, then the auth-like headers
            present; never a value.
    """
    refusals: list[tuple[Level, list[tuple[Credential, Check]]]] = []
    tentative = False
    for level in configured_levels(config):
        found: list[tuple[Credential, Check]] = []
        for credential in level.config.accepted:
            if not isinstance(credential, HmacCredential):
                check = credential.check(request)
            elif headers_only:
                if check := credential.check_headers(request):
                    tentative = True  # another credential may still accept in full
                    continue
            else:
                check = credential.check(request, remember=False)
            if check:
                return True
            found.append((credential, check))
        refusals.append((level, found))
    if tentative:
        return False
    when = (
        "before the body is read"
        if headers_only
        else f"before its body of {len(request.body)} bytes is parsed"
    )
    more = len(refusals) - _MAX_NAMES
    tried = f" (and {more} more levels)" if more > 0 else ""
    explanation = _explain(request, refusals[:_MAX_NAMES])
    raise Unauthorized(
        f"refused {when}, by every configured level{tried}: {explanation}",
        reason=_reason(refusals),
    )


def lower_headers(headers: Mapping[str, str], single: Collection[str]) -> dict[str, str]:
    """The headers by lower-case name, refusing a second value for any credential header.

    Servers, frameworks and proxies disagree on which of two values counts (the first in
    Starlette and most proxies, the last in a dict): a request carrying two must not be
    judged on one and handled on the other. A multi-mapping whose `items()` repeats a name,
    such as Starlette's `Headers`, shows its duplicates; so do names differing in case.

    Args:
        headers: As received.
        single: Lower-case names that may appear once, from `single_valued_headers`.

    Raises:
        Unauthorized: naming the repeated header (it is the sender's own).
    """
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in lowered and key in single:
            refusal = f"duplicate {key} header"
            raise Unauthorized(refusal, public=refusal, reason="duplicate_header")
        lowered[key] = value
    return lowered


def expected_schemes(config: ReceiverConfig) -> str:
    """What any configured credential expects, in words safe to answer to anyone.

    Only the schemes and their standard headers: never a level, a client id, a token path
    or a custom header name, which would tell a stranger how the receiver is configured.
    """
    briefs = dict.fromkeys(
        _brief(credential)
        for level in configured_levels(config)
        for credential in level.config.accepted
    )
    return " or ".join(sorted(briefs))


def quiet_refusal(header_names: Iterable[str], expected: str) -> str:
    """The 401 answer that reveals nothing of the configuration beyond its schemes.

    Args:
        header_names: The request's header names; only whether any looks like a credential
            is used, judged without the configuration so that the answer does not depend on it.
        expected: From `expected_schemes`.
    """
    text = f"no valid credential; expected {expected}."
    if _auth_like_headers({name.lower() for name in header_names}, set()):
        return text
    return f"{text} {_WITHHELD}"


def _brief(credential: Credential) -> str:
    if isinstance(credential, VapiSecret):
        return f"the {SECRET_HEADER} header"
    if isinstance(credential, OAuth2Credential):
        return "an OAuth2 token in Authorization"
    if isinstance(credential, HmacCredential):
        return "an HMAC signature"
    if isinstance(credential, BearerCredential):
        if credential.header_name == SECRET_HEADER and not credential.bearer_prefix_enabled:
            return f"the {SECRET_HEADER} header"
        token = "a Bearer token" if credential.bearer_prefix_enabled else "a token"
        where = "Authorization" if credential.header_name == "authorization" else "a header"
        return f"{token} in {where}"
    return f"a {credential.scheme} credential"


def single_valued_headers(config: ReceiverConfig) -> frozenset[str]:
    """The headers a request may carry once: those any configured credential reads, and
    `x-vapi-secret` and `authorization` always."""
    return _ALWAYS_SINGLE.union(
        name
        for level in configured_levels(config)
        for credential in level.config.accepted
        for name in credential.header_names
    )


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
        sentences.append(_WITHHELD)
        return " ".join(sentences)
    sentences.append(f"Auth-like headers present: {', '.join(present)}.")
    if all(check.missing for _, found in refusals for _, check in found):
        sentences.append(
            "Vapi may be sending another kind of credential (secret, Bearer, HMAC or OAuth2)"
            " than this level is configured for."
        )
    return " ".join(sentences)


def _reason(refusals: list[tuple[Level, list[tuple[Credential, Check]]]]) -> str:
    """`missing_credential` when no credential found its header, else `invalid_credential`."""
    missing = all(check.missing for _, found in refusals for _, check in found)
    return "missing_credential" if missing else "invalid_credential"


def _auth_like_headers(headers: Iterable[str], readers: set[str]) -> list[str]:
    """Names (never values) of headers that look like credentials, bounded for hostile input."""
    names = sorted(
        name
        for name in headers
        if name in readers or any(word in name for word in _AUTH_LIKE_HEADERS)
    )
    shown = [name[:_MAX_NAME] for name in names[:_MAX_NAMES]]
    return shown + ([f"(+{len(names) - _MAX_NAMES} more)"] if len(names) > _MAX_NAMES else [])


def _non_tool_level(message: Mapping[str, Any], config: ReceiverConfig) -> Level | None:
    kind = message.get("type")
    feature = FEATURE_OF_TYPE.get(kind) if isinstance(kind, str) else None
    if feature is not None and (entry := config.features.get(feature)) is not None:
        return Level("feature", feature, entry)
    call = _mapping(message.get("call"))
    chat, session = _mapping(message.get("chat")), _mapping(message.get("session"))
    if kind != "assistant-request" and config.assistants:
        key = _identity(
            "assistant",
            ("call.assistantId", call.get("assistantId")),
            ("chat.assistantId", chat.get("assistantId")),
            ("session.assistantId", session.get("assistantId")),
            ("assistant.id", _mapping(message.get("assistant")).get("id")),
        )
        if key is not None and (entry := config.assistants.get(key)) is not None:
            return Level("assistant", key, entry)
    phone = _mapping(message.get("phoneNumber"))
    if config.phone_numbers:
        key = _identity(
            "phone number",
            ("call.phoneNumberId", call.get("phoneNumberId")),
            ("phoneNumber.id", phone.get("id")),
        )
        if key is not None and (entry := config.phone_numbers.get(key)) is not None:
            return Level("phone number", key, entry)
    if config.orgs:
        key = _identity(
            "org",
            ("call.orgId", call.get("orgId")),
            ("chat.orgId", chat.get("orgId")),
            ("session.orgId", session.get("orgId")),
            ("phoneNumber.orgId", phone.get("orgId")),
        )
        if key is not None and (entry := config.orgs.get(key)) is not None:
            return Level("org", key, entry)
    return Level("org", "", config.org) if config.org else None


def _tool_names(message: Mapping[str, Any]) -> list[str]:
    """For each tool call, its function name: the one field dispatch reads.

    A `toolWithToolCallList` item paired with a call may only agree with it: its tool id is
    never an identity, and a function name of its own that differs is refused.

    Raises:
        Unauthorized: a call and its `toolWithToolCallList` item name different functions.
    """
    kind = message.get("type")
    if kind == "function-call":
        call = from_function_call(_mapping(message.get("functionCall")))
        return [call.name] if call.name else []
    if kind != "tool-calls":
        return []
    names = []
    for call in normalise_tool_calls(message, decode_arguments=False):
        function = _mapping((call.tool or {}).get("function"))
        _identity(
            "tool",
            ("toolCallList[].function.name", call.name),
            ("toolWithToolCallList[].function.name", function.get("name")),
        )
        names.append(call.name)
    return names


def _identity(kind: str, *fields: tuple[str, object]) -> str | None:
    """The id the present fields agree on: the first present one, the primary field.

    A field that is not a non-empty string names no entry, so it counts as absent: whoever
    reads it finds no id there either.

    Raises:
        Unauthorized: two fields name different entries; the message names both fields
            and their values (bounded, control characters escaped).
    """
    found: tuple[str, str] | None = None
    for name, value in fields:
        if not isinstance(value, str) or not value:
            continue
        if found is None:
            found = (name, value)
        elif value != found[1]:
            raise Unauthorized(
                f"fields that identify the {kind} disagree: {found[0]} is {_shown(found[1])}"
                f" but {name} is {_shown(value)}",
                reason="ids_disagree",
            )
    return found[1] if found else None


def _shown(value: str) -> str:
    """A payload value fit for a log line: cut short, every control character escaped."""
    cut = value[:_MAX_SHOWN] + ("..." if len(value) > _MAX_SHOWN else "")
    return f'"{printable(cut)}"'


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
