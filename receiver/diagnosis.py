"""What `vapi-receiver doctor` works out, without printing anything.

For each message type it puts two answers side by side: which level's credential the
receiver will demand (`winning_levels` on a representative payload, the same code that
verifies real requests), and, when Vapi's own objects are given, which level's server URL and
credential Vapi will use (docs/protocol.md#routing). Where they disagree, the call will see 401s;
`diagnose` says so before any call is placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from receiver.config import LevelConfig, ReceiverConfig
from receiver.credentials import RequestView
from receiver.errors import Unauthorized
from receiver.message_types import DEFAULT_SERVER_MESSAGES, TYPES_IN_ORDER
from receiver.models.catalogue import SPECS
from receiver.samples import make_message
from receiver.vapi_objects import (
    Finding,
    ServerSetting,
    Severity,
    config_from_vapi_objects,
    display_url,
    inline_tools,
    nonempty_strings,
    read_assistant,
    read_org,
    read_phone_number,
    read_server,
    read_tool,
    same_url,
)
from receiver.verification import (
    SECRET_HEADER,
    Level,
    hmac_replay_warnings,
    verify,
    winning_levels,
)

__all__ = ["Diagnosis", "Route", "Row", "Scenario", "diagnose"]


#: Types sent to a server of an assistant feature rather than down the level chain.
_FEATURE_SERVERS: Final[Mapping[str, tuple[str, ...]]] = {
    "voice-request": ("voice",),
    "call.endpointing.request": ("startSpeakingPlan", "smartEndpointingPlan"),
    "knowledge-base-request": ("model", "knowledgeBase"),
}
_CAMPAIGN_PREFIXES: Final = ("campaign.", "contact.")
_ASSIGNED: Final = ("assistantId", "squadId", "workflowId")
#: `sent` values for which a type nobody can verify is not worth a warning.
_UNLIKELY: Final = ("no", "if configured")

#: Whether Vapi's credential opens the receiver: `ok`; `differs` (401); `refused` (no level
#: applies: 401); `by hand` (a credential the objects do not show); `redacted`, `no
#: credential` (Vapi sends nothing usable); `insecure` (nothing is checked); `unknown` (an
#: object on the way was not given); `not here` (not sent, or sent elsewhere).
Check = Literal[
    "ok",
    "differs",
    "refused",
    "by hand",
    "redacted",
    "no credential",
    "insecure",
    "unknown",
    "not here",
]


@dataclass(frozen=True)
class Route:
    """Where Vapi sends one message.

    Attributes:
        status: `here` (this receiver, or any URL when no public URL is given),
            `elsewhere`, `unknown` (an object on the way was not given) or `not sent`.
        setting: The level whose server URL is used, when known.
        note: Why, for `unknown` and `not sent`, or the URL for `elsewhere`.
    """

    status: Literal["here", "elsewhere", "unknown", "not sent"]
    setting: ServerSetting | None = None
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One message type in one scenario.

    Attributes:
        message_type: The type, e.g. `tool-calls`.
        tool: For tool-calls and function-call, the function name the row is about.
        levels: The levels whose credential the receiver demands (empty: refused).
        route: Where Vapi sends it, from the objects given.
        sent: Whether Vapi sends it at all: `yes`, `no`, `final only`, `if configured`, `?`.
        check: Whether Vapi's credential opens the receiver's levels.
    """

    message_type: str
    tool: str | None
    levels: tuple[Level, ...]
    route: Route
    sent: str
    check: Check

    @property
    def request(self) -> bool:
        return SPECS[self.message_type].request


@dataclass(frozen=True)
class Scenario:
    """The rows for the calls on one phone number with one assistant."""

    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Diagnosis:
    """The outcome of `diagnose`."""

    config: ReceiverConfig
    public_url: str | None
    scenarios: tuple[Scenario, ...]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


@dataclass(frozen=True)
class _Party:
    """A phone number or assistant of a scenario: its id, and its object when given."""

    kind: str
    id: str | None
    setting: ServerSetting | None = None
    origin: str = ""

    def short(self) -> str:
        return f'{self.kind} "{self.id}"' if self.id else f"no {self.kind}"

    def describe(self) -> str:
        if self.setting is not None:
            return self.setting.label
        return f'{self.kind} "{self.id}"{self.origin}' if self.id else f"no {self.kind}"


@dataclass
class _Objects:
    phones: list[ServerSetting] = field(default_factory=list)
    assistants: list[ServerSetting] = field(default_factory=list)
    tools: list[ServerSetting] = field(default_factory=list)
    org: ServerSetting | None = None


def diagnose(
    config: ReceiverConfig,
    *,
    phone_numbers: Iterable[Any] = (),
    assistants: Iterable[Any] = (),
    tools: Iterable[Any] = (),
    org: Any = None,
    public_url: str | None = None,
) -> Diagnosis:
    """Check a receiver configuration against Vapi's objects, type by type.

    Args:
        config: The receiver's configuration.
        phone_numbers: Phone number objects as Vapi's API returns them.
        assistants: Assistant objects.
        tools: Tool objects.
        org: The org object.
        public_url: The URL Vapi reaches this receiver at.

    Returns:
        The scenarios (one per phone number given, else one from the configuration) and
        every finding, errors first.

    Raises:
        ConfigError: an object is not a Vapi object, or `public_url` is not a URL.
    """
    phone_numbers, assistants, tools = list(phone_numbers), list(assistants), list(tools)
    _, findings = config_from_vapi_objects(
        phone_numbers=phone_numbers,
        assistants=assistants,
        tools=tools,
        org=org,
        public_url=public_url,
    )
    objects = _Objects(
        phones=[read_phone_number(p) for p in phone_numbers],
        assistants=[read_assistant(a) for a in assistants],
        tools=[read_tool(t) for t in tools],
        org=read_org(org) if org is not None else None,
    )
    findings = [_redacted_but_configured(f, config, objects) for f in findings]
    findings += _config_findings(config, objects, public_url)
    scenarios = []
    for phone, assistant in _pairs(config, objects):
        rows = tuple(_rows(config, objects, phone, assistant, public_url))
        title = f"Calls on {phone.describe()} with {assistant.describe()}"
        if phone.id is None:
            title = f"Web calls with {assistant.describe()}"
        scenarios.append(Scenario(title, rows))
        findings += _row_findings(rows, config)
    unique = list(dict.fromkeys(findings))
    unique.sort(key=lambda f: f.severity != "error")
    return Diagnosis(config, public_url, tuple(scenarios), tuple(unique))


# -- scenarios ---------------------------------------------------------------------------------


def _pairs(config: ReceiverConfig, objects: _Objects) -> list[tuple[_Party, _Party]]:
    """One scenario per phone number given, one per assistant no phone number uses."""
    by_id = {s.keys[0]: s for s in objects.assistants if s.keys}
    pairs = []
    for phone in objects.phones:
        assistant_id = phone.raw.get("assistantId")
        if isinstance(assistant_id, str) and assistant_id:
            assistant = _Party("assistant", assistant_id, by_id.get(assistant_id))
        else:
            assistant = _first_assistant(config, objects, "answering its assistant-request")
        pairs.append((_Party("phone number", phone.keys[0], phone), assistant))
    paired = [assistant.setting for _, assistant in pairs]
    for setting in objects.assistants:
        if not any(setting is other for other in paired):
            web = _Party("phone number", None)
            number = _configured_phone(config) if config.phone_numbers else web
            pairs.append((number, _Party("assistant", _key(setting), setting)))
    if not pairs:
        pairs.append((_configured_phone(config), _first_assistant(config, objects, "")))
    return pairs


def _first_assistant(config: ReceiverConfig, objects: _Objects, why: str) -> _Party:
    if objects.assistants:
        return _Party("assistant", _key(objects.assistants[0]), objects.assistants[0])
    origin = f" ({why})" if why else ""
    if config.assistants:
        return _Party(
            "assistant", next(iter(config.assistants)), origin=f" (from the config){origin}"
        )
    return _Party("assistant", "asst-not-configured", origin=f" (not in the config){origin}")


def _configured_phone(config: ReceiverConfig) -> _Party:
    if config.phone_numbers:
        return _Party("phone number", next(iter(config.phone_numbers)), origin=" (from the config)")
    return _Party("phone number", "pn-not-configured", origin=" (not in the config)")


def _key(setting: ServerSetting) -> str | None:
    if setting.keys:
        return setting.keys[0]
    name = setting.raw.get("name")
    return name if isinstance(name, str) and name else None


# -- one row per type --------------------------------------------------------------------------


def _rows(
    config: ReceiverConfig,
    objects: _Objects,
    phone: _Party,
    assistant: _Party,
    public_url: str | None,
) -> Iterable[Row]:
    tools = _scenario_tools(config, objects, assistant)
    for message_type in TYPES_IN_ORDER:
        names: Sequence[tuple[str, ServerSetting | None]] = [("", None)]
        if message_type == "tool-calls":
            names = tools
        elif message_type == "function-call":
            names = tools[:1]
        for name, tool in names:
            message = _representative(message_type, config, objects, phone, assistant, name, tool)
            levels = tuple(winning_levels(message, config))
            sent = _sent(message_type, phone, assistant)
            route = _route(message_type, message, objects, phone, assistant, tool, public_url)
            check = _check(route, levels) if sent != "no" else "not here"
            if config.insecure and check not in ("ok", "unknown", "not here"):
                check = "insecure"
            yield Row(message_type, name or None, levels, route, sent, check)


def _scenario_tools(
    config: ReceiverConfig, objects: _Objects, assistant: _Party
) -> list[tuple[str, ServerSetting | None]]:
    """The tools to show tool-calls for: those given, else those configured, else one."""
    tools: list[tuple[str, ServerSetting | None]] = []
    inline = inline_tools(assistant.setting) if assistant.setting else []
    for setting in [*objects.tools, *inline]:
        if setting.keys and setting.keys[0] not in [name for name, _ in tools]:
            tools.append((setting.keys[0], setting))
    if not tools:
        tools = [(name, None) for name in config.tools] or [("lookup_order", None)]
    return tools


def _representative(
    message_type: str,
    config: ReceiverConfig,
    objects: _Objects,
    phone: _Party,
    assistant: _Party,
    tool_name: str,
    tool: ServerSetting | None,
) -> dict[str, Any]:
    """A message of `message_type` as Vapi would send it for this scenario."""
    ids: dict[str, Any] = {"web_call": phone.id is None}
    if phone.id is not None:
        ids["phone_number_id"] = phone.id
    if assistant.id is not None and not (assistant.setting and assistant.setting.transient):
        ids["assistant_id"] = assistant.id
    if org_id := _org_id(config, objects, phone):
        ids["org_id"] = org_id
    if message_type == "tool-calls":
        ids["tool_name"] = tool_name
    elif message_type == "function-call":
        ids["function_name"] = tool_name
    message: dict[str, Any] = make_message(message_type, **ids)["message"]
    if assistant.setting is not None and assistant.setting.transient and "assistant" in message:
        message.get("call", {}).pop("assistantId", None)
        message["assistant"] = dict(assistant.setting.raw)
    number = phone.setting.raw.get("number") if phone.setting else None
    if isinstance(number, str) and isinstance(message.get("phoneNumber"), dict):
        message["phoneNumber"]["number"] = number
    return message


def _org_id(config: ReceiverConfig, objects: _Objects, phone: _Party) -> str | None:
    candidates = [
        objects.org.raw.get("id") if objects.org else None,
        phone.setting.raw.get("orgId") if phone.setting else None,
        next(iter(config.orgs), None),
    ]
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _sent(message_type: str, phone: _Party, assistant: _Party) -> str:
    """Whether Vapi sends `message_type` at all in this scenario."""
    if message_type == "assistant-request":
        if phone.id is None:
            return "no"
        if phone.setting is None:
            return "if configured"
        return "no" if any(phone.setting.raw.get(k) for k in _ASSIGNED) else "yes"
    if message_type.startswith(_CAMPAIGN_PREFIXES):
        return "if configured"
    setting = assistant.setting
    if message_type in _FEATURE_SERVERS:
        if setting is None:
            return "if configured"
        return "yes" if _feature(setting, message_type) is not None else "no"
    if setting is None:
        return "?"
    listed = setting.raw.get("serverMessages")
    enabled = set(listed) if isinstance(listed, list) else set(DEFAULT_SERVER_MESSAGES)
    if message_type in enabled:
        return "yes"
    if message_type == "transcript" and 'transcript[transcriptType="final"]' in enabled:
        return "final only"
    return "no"


def _feature(assistant: ServerSetting, message_type: str) -> Mapping[str, Any] | None:
    node: Any = assistant.raw
    for key in _FEATURE_SERVERS[message_type]:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) and isinstance(node.get("server"), Mapping) else None


def _route(
    message_type: str,
    message: Mapping[str, Any],
    objects: _Objects,
    phone: _Party,
    assistant: _Party,
    tool: ServerSetting | None,
    public_url: str | None,
) -> Route:
    """Where Vapi sends the message: the first level on its chain that has a server URL."""
    if message_type.startswith(_CAMPAIGN_PREFIXES):
        return Route("unknown", note="campaign server, not read")
    chain: list[tuple[str, ServerSetting | None]] = []
    if message_type in _FEATURE_SERVERS:
        if assistant.setting is None:
            return Route("unknown", note=f"{assistant.short()} not given")
        feature = _feature(assistant.setting, message_type)
        if feature is None:
            return Route("not sent", note="feature not set on the assistant")
        label = f"{assistant.setting.label} {'.'.join(_FEATURE_SERVERS[message_type])}.server"
        chain.append((label, read_server("assistant", (), label, feature)))
        return _walk(chain, public_url)
    if message_type in ("tool-calls", "function-call"):
        chain.append((f'tool "{_tool_name(message)}" not given', tool))
    call = message.get("call")
    call = call if isinstance(call, Mapping) else {}
    if message_type != "assistant-request" and (call.get("assistantId") or "assistant" in message):
        chain.append((f"{assistant.short()} not given", assistant.setting))
    if call.get("phoneNumberId") or "phoneNumber" in message:
        chain.append((f"{phone.short()} not given", phone.setting))
    chain.append(("org not given (--org)", objects.org))
    return _walk(chain, public_url)


def _tool_name(message: Mapping[str, Any]) -> str:
    if message.get("type") == "function-call":
        return str(message.get("functionCall", {}).get("name", ""))
    calls = message.get("toolCallList") or [{}]
    return str(calls[0].get("function", {}).get("name", ""))


def _walk(chain: list[tuple[str, ServerSetting | None]], public_url: str | None) -> Route:
    for missing, setting in chain:
        if setting is None:
            return Route("unknown", note=missing)
        if setting.url is None:
            continue
        if public_url is not None and not same_url(setting.url, public_url):
            return Route("elsewhere", setting, display_url(setting.url))
        return Route("here", setting)
    return Route("not sent", note="no level on its way has a server URL")


def _check(route: Route, levels: tuple[Level, ...]) -> Check:
    setting = route.setting
    if route.status == "unknown":
        return "unknown"
    if route.status != "here" or setting is None:
        return "not here"
    if setting.transient:
        return "no credential"
    if setting.secrets:
        if not levels:
            return "refused"
        return "ok" if any(_accepted(s, levels) for s in setting.secrets) else "differs"
    if setting.credential_id or setting.auth_headers:
        return "by hand"
    return "redacted" if setting.redacted else "no credential"


def _accepted(secret: str, levels: tuple[Level, ...]) -> bool:
    # The receiver's own check, constant time: what a real delivery would meet.
    try:
        verify(RequestView({SECRET_HEADER: secret}), list(levels))
    except Unauthorized:
        return False
    return True


# -- findings ----------------------------------------------------------------------------------


def _row_findings(rows: Iterable[Row], config: ReceiverConfig) -> list[Finding]:
    """Findings from the rows, one per cause, naming the types it affects."""
    grouped: dict[tuple[Severity, str, str, str], list[str]] = {}
    for row in rows:
        name = row.message_type + (f" ({row.tool})" if row.tool else "")
        setting = row.route.setting
        receiver = " and ".join(level.describe() for level in row.levels)
        key: tuple[Severity, str, str, str] | None = None
        if row.check == "differs" and setting is not None and not _own(setting, row.levels):
            key = (
                "error",
                "secret-differs",
                setting.label,
                f"the secret it sends differs from what {config.source} expects for {receiver}",
            )
        elif row.check == "refused" and setting is not None:
            key = (
                "error",
                "no-level",
                setting.label,
                f"{config.source} has no entry that applies (no matching tool, assistant or "
                "phone number, and no org): refused with 401",
            )
        elif not row.levels and row.check == "unknown" and row.sent not in _UNLIKELY:
            key = (
                "warning",
                "no-level",
                config.source,
                "no entry applies (no matching tool, assistant or phone number, and no org): "
                "refused with 401 if Vapi sends them here",
            )
        if key is not None:
            grouped.setdefault(key, []).append(name)
    return [
        Finding(severity, code, subject, f"{message}: {', '.join(types)}")
        for (severity, code, subject, message), types in grouped.items()
    ]


def _own(setting: ServerSetting, levels: Iterable[Level]) -> bool:
    """Whether the receiver checks `setting`'s own entry (compared by `_own_secrets_differ`)."""
    return all(
        level.kind == setting.kind and level.key in (setting.keys or ("",)) for level in levels
    )


def _redacted_but_configured(
    finding: Finding, config: ReceiverConfig, objects: _Objects
) -> Finding:
    """A `[REDACTED]` secret is only a warning when the configuration has the level."""
    if finding.code != "redacted-secret":
        return finding
    for setting in _every_setting(objects):
        if setting.label != finding.subject:
            continue
        where = _entries(config, setting)
        if any(entry is not None for _, entry in where):
            return Finding(
                "warning",
                finding.code,
                finding.subject,
                f"the API returned its secret as [REDACTED], so it cannot be compared with "
                f"{config.source} {where[0][0]}; make sure the two match",
            )
    return finding


def _every_setting(objects: _Objects) -> list[ServerSetting]:
    inline = [tool for assistant in objects.assistants for tool in inline_tools(assistant)]
    org = [objects.org] if objects.org else []
    return [*objects.phones, *objects.assistants, *objects.tools, *inline, *org]


def _entries(
    config: ReceiverConfig, setting: ServerSetting
) -> list[tuple[str, LevelConfig | None]]:
    """Where `setting` is configured: `("[assistants.asst-1]", entry)` for each of its keys."""
    if setting.kind == "org":
        return [("[org]", config.org)]
    table, configured = {
        "phone number": ("phone_numbers", config.phone_numbers),
        "assistant": ("assistants", config.assistants),
        "tool": ("tools", config.tools),
    }[setting.kind]
    return [(f"[{table}.{key}]", configured.get(key)) for key in setting.keys]


def _config_findings(
    config: ReceiverConfig, objects: _Objects, public_url: str | None
) -> list[Finding]:
    findings = _own_secrets_differ(config, objects, public_url)
    if public_url is not None and not public_url.lower().startswith("https://"):
        findings.append(
            Finding("error", "not-https", "--public-url", f"{display_url(public_url)} is not https")
        )
    if config.insecure:
        exposed = public_url is not None
        findings.append(
            Finding(
                "error" if exposed else "warning",
                "insecure",
                f"{config.source} [receiver] insecure",
                "requests without any credential are accepted"
                + (" at a public URL" if exposed else "; never expose this receiver"),
            )
        )
    fallback = config.assistant_request_fallback or {}
    for key in ("assistant", "assistantOverrides"):
        inline = fallback.get(key)
        if isinstance(inline, Mapping) and read_server("assistant", (), "", inline).url:
            findings.append(
                Finding(
                    "error",
                    "credentials-withheld",
                    f"{config.source} [receiver] assistant_request_fallback",
                    f"its `{key}` sets a server URL inline: Vapi sends no credential to a URL "
                    "given in an answer or API request, so the receiver "
                    "refuses those messages; use a saved assistant's id",
                )
            )
    findings += _unmentioned(config, objects)
    findings += [
        Finding("warning", "hmac-replay", f"{config.source} {_table(level)}", warning)
        for level, warning in hmac_replay_warnings(config)
    ]
    return findings


def _table(level: Level) -> str:
    """The configuration table of `level`, as the user wrote it: `[tools.lookup_order]`."""
    if level.kind == "org":
        return f"[orgs.{level.key}]" if level.key else "[org]"
    tables = {"tool": "tools", "assistant": "assistants", "phone number": "phone_numbers"}
    return f"[{tables[level.kind]}.{level.key}]"


def _own_secrets_differ(
    config: ReceiverConfig, objects: _Objects, public_url: str | None
) -> list[Finding]:
    """A level configured under the object's own key whose secrets miss the object's."""
    findings = []
    for setting in _every_setting(objects):
        if not setting.secrets or setting.url is None:
            continue
        if public_url is not None and not same_url(setting.url, public_url):
            continue
        entries = _entries(config, setting)
        for where, entry in entries:
            if entry is None:
                continue
            level = Level(setting.kind, "", entry)
            if not any(_accepted(secret, (level,)) for secret in setting.secrets):
                findings.append(
                    Finding(
                        "error",
                        "secret-differs",
                        setting.label,
                        f"its secret differs from {config.source} {where}",
                    )
                )
    return findings


def _unmentioned(config: ReceiverConfig, objects: _Objects) -> list[Finding]:
    """Configured entries that none of the given objects of that kind is."""
    findings = []
    mentioned_phones = set(nonempty_strings(*(k for s in objects.phones for k in s.keys)))
    mentioned_assistants = set(
        nonempty_strings(
            *(k for s in objects.assistants for k in s.keys),
            *(s.raw.get("assistantId") for s in objects.phones),
        )
    )
    mentioned_tools = set(nonempty_strings(*(k for s in objects.tools for k in s.keys)))
    for setting in objects.assistants:
        inline = (k for tool in inline_tools(setting) for k in tool.keys)
        mentioned_tools.update(nonempty_strings(*inline))
        model = setting.raw.get("model")
        tool_ids = model.get("toolIds") if isinstance(model, Mapping) else None
        mentioned_tools.update(nonempty_strings(*(tool_ids if isinstance(tool_ids, list) else ())))
    checks: list[tuple[str, str, Mapping[str, LevelConfig], bool, set[str]]] = [
        (
            "phone_numbers",
            "phone number",
            config.phone_numbers,
            bool(objects.phones),
            mentioned_phones,
        ),
        (
            "assistants",
            "assistant",
            config.assistants,
            bool(objects.assistants),
            mentioned_assistants,
        ),
        ("tools", "tool", config.tools, bool(objects.tools), mentioned_tools),
    ]
    for table, kind, configured, given, mentioned in checks:
        if not given:
            continue
        for key in configured:
            if key not in mentioned:
                findings.append(
                    Finding(
                        "warning",
                        "not-mentioned",
                        f"{config.source} [{table}.{key}]",
                        f"no {kind} given mentions it: a stale entry, or pass its object too",
                    )
                )
    return findings
