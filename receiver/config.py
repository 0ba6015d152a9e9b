"""Where credentials and limits come from: Python, a TOML file, or the environment.

The configuration mirrors Vapi's own levels (tools, assistants, phone numbers, org) so that a
user copies what they set in the dashboard into one file, and the verifier can ask "which
level wins for this message, and what does it accept?".
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import Field, ValidationError

from receiver.credentials import Credential, VapiSecret
from receiver.credentials.loading import CredentialEntry
from receiver.errors import ConfigError
from receiver.inbox.settings import InboxConfig, InboxTable
from receiver.responses import InvalidAnswer, answer_to_json
from receiver.toml_tables import Table, Text, describe

CONFIG_PATH_ENV: Final = "VAPI_RECEIVER_CONFIG"
ORG_SECRET_ENV: Final = "VAPI_SERVER_SECRET"

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
"""A 2-hour end-of-call report is about 1 MB; 32 MiB leaves room for transcripts of very
long calls with verbose tool output while still bounding memory per request."""

DEFAULT_MAX_UNVERIFIED_PARSE_BYTES: Final = 32 * 1024
"""Above typical request bodies (tool-calls about 10 KB, assistant-request 2 KB, status-update
5 KB), far below what makes parsing costly: larger bodies are parsed only once some
configured credential has accepted them."""

DEFAULT_MAX_TOOL_CALLS: Final = 128
"""Far above what one model turn asks for (a handful of parallel calls), low enough that one
request cannot hold the event loop or the thread pool for long."""

DEFAULT_MAX_ABANDONED_THREADS: Final = 32
"""Sync handlers that overran their budget and still run; Python cannot stop a thread, so
past this many a sync handler is answered with its fallback instead of a new thread."""

DEFAULT_ASSISTANT_REQUEST_TIMEOUT: Final = 6.0
"""Vapi allows 7.5 s end to end for assistant-request; 6 s leaves room for the network."""

DEFAULT_TOOL_TIMEOUT: Final = 15.0
"""Below Vapi's default `server.timeoutSeconds` of 20 s, so an error result arrives in time."""

LOG_FORMATS: Final = ("text", "json")
"""`[receiver] log_format`: the receiver's own lines as text, or one JSON object a line."""

DEFAULT_REQUEST_TIMEOUT: Final = 15.0
"""For the other request types, which Vapi also waits on for up to `timeoutSeconds` (20 s)."""


@dataclass(frozen=True)
class LevelConfig:
    """The credentials one configuration entry accepts; any one of them lets a request in.

    Several secrets are accepted at once so that a secret can be rotated without downtime:
    add the new one, switch Vapi over, remove the old one. Several credentials of different
    schemes (`receiver.credentials`) serve a migration from one scheme to another the same way.

    Attributes:
        secrets: Values of the legacy `x-vapi-secret` header.
        credentials: Bearer, HMAC and OAuth2 credentials.
        accepted: All of them as credential objects, the secrets first.
    """

    secrets: tuple[str, ...] = ()
    credentials: tuple[Credential, ...] = ()
    accepted: tuple[Credential, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.secrets and not self.credentials:
            raise ConfigError("a level needs at least one secret or credential")
        secret = (VapiSecret(tuple(self.secrets)),) if self.secrets else ()
        object.__setattr__(self, "accepted", secret + tuple(self.credentials))

    def __repr__(self) -> str:
        schemes = ", ".join(c.scheme for c in self.credentials)
        return f"LevelConfig(secrets=<{len(self.secrets)} hidden>, credentials=[{schemes}])"


@dataclass(frozen=True)
class ReceiverConfig:
    """Everything the receiver needs to know that is not code.

    Args:
        org: The org-level entry, used for any org.
        orgs: Org-level entries by org id, for receivers that serve several Vapi orgs.
        phone_numbers: By phone number id (never the E.164 number).
        assistants: By assistant id (never the name).
        tools: By the function name of a registered tool (never the tool id).
        features: The servers of assistant features, by feature: `voice`,
            `knowledge_base`, `endpointing`. Each wins for its own message type
            (voice-request, knowledge-base-request, call.endpointing.request).
        insecure: Accept requests without any credential. For local development only.
        max_body_bytes: Larger bodies are refused with 413 before they are read.
        max_unverified_parse_bytes: Bodies up to this size are parsed before their
            credential is checked, to find the level that wins and explain a refusal by it;
            larger ones only after some configured credential has accepted them.
        max_tool_calls: Most tool calls one tool-calls request may carry; more is refused
            with 400 before the credential check does any work per call.
        max_abandoned_threads: Most threads of sync handlers that overran their budget and
            are still running, counted apart for tools, for the other request types'
            handlers and for informational handlers, so that hung tools never cost a routing
            decision. Past it a sync handler of that kind is not started: a tool gets an
            error result, a request type its fallback answer, and the log says why.
        explain_refusals: Answer a 401 with the full explanation (which levels and
            credentials were tried and why they refused). For development only: it tells
            anyone how the receiver is configured. Without it the answer names only the
            schemes accepted, and the explanation goes to the log.
        assistant_request_timeout: Budget for the assistant-request handler, in seconds.
        assistant_request_fallback: The answer sent when that budget is overrun or the
            handler fails; `None` means an `{"error": ...}` answer.
        tool_timeout: Default budget of one tool call, in seconds.
        request_timeout: Budget of the other request types' handlers, in seconds.
        record_to: Append every verified delivery to this JSON Lines file
            (`receiver.recording`), to replay it later; `None` records nothing.
        metrics: Serve Prometheus metrics at `/metrics` (needs the `metrics` extra).
        log_format: `"text"` or `"json"` (one JSON object per line): the format of the
            lines the receiver shows when the application configured no logging.
        inbox: The durable inbox (`[inbox]`; `receiver.inbox.settings.InboxConfig`).
        source: Where this configuration came from, for error messages.
    """

    org: LevelConfig | None = None
    orgs: Mapping[str, LevelConfig] = field(default_factory=dict)
    phone_numbers: Mapping[str, LevelConfig] = field(default_factory=dict)
    assistants: Mapping[str, LevelConfig] = field(default_factory=dict)
    tools: Mapping[str, LevelConfig] = field(default_factory=dict)
    features: Mapping[str, LevelConfig] = field(default_factory=dict)
    insecure: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_unverified_parse_bytes: int = DEFAULT_MAX_UNVERIFIED_PARSE_BYTES
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS
    max_abandoned_threads: int = DEFAULT_MAX_ABANDONED_THREADS
    explain_refusals: bool = False
    assistant_request_timeout: float = DEFAULT_ASSISTANT_REQUEST_TIMEOUT
    assistant_request_fallback: Mapping[str, Any] | None = None
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    record_to: str | os.PathLike[str] | None = None
    metrics: bool = False
    log_format: str = "text"
    inbox: InboxConfig = field(default_factory=InboxConfig)
    source: str = "<python>"

    def __post_init__(self) -> None:
        _check_level_keys(self)
        for name in ("assistant_request_timeout", "tool_timeout", "request_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{self.source}: {name} must be a positive number of seconds")
        if self.max_body_bytes <= 0:
            raise ConfigError(f"{self.source}: max_body_bytes must be positive")
        for name in ("max_tool_calls", "max_abandoned_threads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{self.source}: {name} must be a positive integer")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"{self.source}: log_format must be one of {', '.join(map(repr, LOG_FORMATS))}"
                f", not {self.log_format!r}"
            )
        if self.max_unverified_parse_bytes < 0:
            raise ConfigError(f"{self.source}: max_unverified_parse_bytes must not be negative")
        if self.assistant_request_fallback is not None:
            # Checked now: a broken fallback would only show on a live call, when it is needed.
            try:
                answer_to_json("assistant-request", self.assistant_request_fallback)
            except InvalidAnswer as exc:
                raise ConfigError(f"{self.source}: assistant_request_fallback: {exc}") from None

    @property
    def has_credentials(self) -> bool:
        return bool(
            self.org
            or self.orgs
            or self.phone_numbers
            or self.assistants
            or self.tools
            or self.features
        )


def check_tool_tables(config: ReceiverConfig, registered: Collection[str]) -> None:
    """Refuse a `[tools.X]` entry whose X is no registered tool's function name.

    Such an entry protects nothing (a misspelt name, or a tool id, which is never an
    identity) while the real tool falls back to a broader level's credential. Tools are
    registered after the configuration is read, so this runs when serving starts.

    Raises:
        ConfigError: naming the entry, with the closest registered name when there is one.
    """
    for key in config.tools:
        if key in registered:
            continue
        close = difflib.get_close_matches(key, list(registered), n=1)
        hint = f'did you mean "{close[0]}"?' if close else "no registered tool is close to it."
        known = ", ".join(sorted(registered)) or "none"
        raise ConfigError(
            f"{config.source}: [tools.{key}] is not a registered tool: {hint} Tables are keyed"
            f" by a tool's function name (registered: {known}), never by its tool id."
        )


FEATURES: Final = frozenset({"voice", "knowledge_base", "endpointing"})
"""The `[features.X]` entries: the servers of an assistant's voice, knowledge base and
endpointing, which Vapi sends their own request types to."""
#: Vapi ids are UUIDs; anything of letters, digits, `-` and `_` passes, so short test ids do.
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
#: An E.164 number or a run of digits (with the usual separators) is a number, not an id.
_PHONE_NUMBER: Final = re.compile(r"\+?[0-9][0-9 ().-]{5,}")
_ID_HINT: Final = (
    "its id is the `id` of the object `GET https://api.vapi.ai/{option}` returns, and"
    " `vapi-receiver doctor --{option} FILE` names each such object by its id"
)
_SECONDS: Final = "a number of seconds"
_INTEGER: Final = "an integer"
_FLAG: Final = "true or false"


class LevelTable(Table):
    """One level's entry: `[org]`, `[orgs.<id>]`, `[tools.<name>]`, and so on."""

    secret: Text | None = Field(None, description="a non-empty string")
    secrets: list[Text] = Field(default_factory=list, description="a list of non-empty strings")
    credentials: list[CredentialEntry] = Field(default_factory=list)


class ReceiverTable(Table):
    """The `[receiver]` table: each key's type; `ReceiverConfig` checks values and defaults."""

    insecure: bool | None = Field(None, description=_FLAG)
    max_body_bytes: int | None = Field(None, description=_INTEGER)
    max_unverified_parse_bytes: int | None = Field(None, description=_INTEGER)
    max_tool_calls: int | None = Field(None, description=_INTEGER)
    max_abandoned_threads: int | None = Field(None, description=_INTEGER)
    explain_refusals: bool | None = Field(None, description=_FLAG)
    assistant_request_timeout: float | None = Field(None, description=_SECONDS)
    assistant_request_fallback: dict[str, Any] | None = Field(None, description="a table")
    tool_timeout: float | None = Field(None, description=_SECONDS)
    request_timeout: float | None = Field(None, description=_SECONDS)
    record_to: str | None = Field(None, description="a string")
    metrics: bool | None = Field(None, description=_FLAG)
    log_format: str | None = Field(None, description='"text" or "json"')


class ConfigFile(Table):
    """The whole file: the levels, then the receiver's and the inbox's options."""

    org: LevelTable | None = None
    orgs: dict[str, LevelTable] = Field(default_factory=dict)
    phone_numbers: dict[str, LevelTable] = Field(default_factory=dict)
    assistants: dict[str, LevelTable] = Field(default_factory=dict)
    tools: dict[str, LevelTable] = Field(default_factory=dict)
    features: dict[str, LevelTable] = Field(default_factory=dict)
    receiver: ReceiverTable = ReceiverTable()
    inbox: InboxTable = InboxTable()


def load_config(path: str | os.PathLike[str]) -> ReceiverConfig:
    """Read a TOML configuration file.

    Raises:
        ConfigError: naming the file, the table and the key, when the file is missing,
            is not TOML, or holds an unknown key or a level without a credential.
    """
    source = str(path)
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        # A relative path is read from the working directory, which under a process manager
        # is rarely the one the user thinks of: name both.
        raise ConfigError(
            f"{source}: configuration file not found (looked for {os.path.abspath(path)}; "
            f"the working directory is {os.getcwd()})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return config_from_mapping(data, source=source)


def config_from_mapping(data: Mapping[str, Any], *, source: str = "<mapping>") -> ReceiverConfig:
    """Build a configuration from the TOML structure (also handy from Python or JSON).

    Raises:
        ConfigError: one line per mistake, each naming `source`, the table and the key.
    """
    try:
        file = ConfigFile.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(
            describe(exc, ConfigFile, prefix=f"{source}: ", top="the top level")
        ) from None
    return ReceiverConfig(
        org=_level(file.org, source, "org") if file.org is not None else None,
        orgs=_levels(file.orgs, source, "orgs"),
        phone_numbers=_levels(file.phone_numbers, source, "phone_numbers"),
        assistants=_levels(file.assistants, source, "assistants"),
        tools=_levels(file.tools, source, "tools"),
        features=_levels(file.features, source, "features"),
        inbox=file.inbox.inbox_config(source),
        source=source,
        **file.receiver.options(),
    )


def config_from_env(environ: Mapping[str, str] | None = None) -> ReceiverConfig | None:
    """The configuration the environment names, or `None` when it names none.

    `VAPI_RECEIVER_CONFIG` points at a TOML file; `VAPI_SERVER_SECRET` alone configures the
    org level, which is all a single-org deployment with one secret needs.
    """
    env = os.environ if environ is None else environ
    if path := env.get(CONFIG_PATH_ENV):
        return load_config(path)
    if secret := env.get(ORG_SECRET_ENV):
        return ReceiverConfig(org=LevelConfig((secret,)), source=f"${ORG_SECRET_ENV}")
    return None


def _check_level_keys(config: ReceiverConfig) -> None:
    """Refuse keys that cannot be identities: numbers, names, unknown features.

    A request is identified by ids alone, so an entry under a number or a name would never
    win and its credential would never be asked for: better said at start-up.
    """
    source = config.source
    for key in config.phone_numbers:
        if _PHONE_NUMBER.fullmatch(key):
            raise ConfigError(
                f"{source}: [phone_numbers.{key}] looks like a phone number; key it by the"
                f" phone number's id instead: {_ID_HINT.format(option='phone-number')}"
            )
    tables = (
        ("phone_numbers", "phone number", "phone-number", config.phone_numbers),
        ("assistants", "assistant", "assistant", config.assistants),
        ("orgs", "org", "org", config.orgs),
    )
    for table, kind, option, entries in tables:
        for key in entries:
            if not _ID.fullmatch(key):
                raise ConfigError(
                    f"{source}: [{table}.{key!r}] is not an id (letters, digits, - and _):"
                    f" key it by the {kind}'s id, not its name;"
                    f" {_ID_HINT.format(option=option)}"
                )
    for key in config.features:
        if key not in FEATURES:
            raise ConfigError(
                f"{source}: [features.{key}] is not a feature (expected one of:"
                f" {', '.join(sorted(FEATURES))})"
            )


def _levels(entries: Mapping[str, LevelTable], source: str, table: str) -> dict[str, LevelConfig]:
    return {key: _level(entry, source, f"{table}.{key}") for key, entry in entries.items()}


def _level(table: LevelTable, source: str, name: str) -> LevelConfig:
    secrets = ((table.secret,) if table.secret is not None else ()) + tuple(table.secrets)
    where = f"{source}: [[{name}.credentials]]"
    credentials = tuple(
        entry.credential(f"{where} #{n}") for n, entry in enumerate(table.credentials, 1)
    )
    if not secrets and not credentials:
        raise ConfigError(
            f"{source}: [{name}] has no credential: set `secret`, `secrets` or "
            "[[...credentials]] (a level without one would accept nothing)"
        )
    return LevelConfig(secrets, credentials)
