"""Receiver configuration from the objects Vapi's API returns.

What a user set in the dashboard (a phone number's server URL and secret, an assistant's
`server`, a tool's `server`, the org's server URL) is exactly what the receiver must accept.
Reading those objects instead of retyping them removes a whole class of 401s, and reading
them is also how `vapi-receiver doctor` finds what is wrong before a call is placed.

Each level is read from the current `server: {url, secret?, credentialId?, headers?}` or
from the legacy flat `serverUrl`/`serverUrlSecret` (docs/protocol.md#server-object and
#phone-number). Only levels whose server URL points at this receiver are registered when its
public URL is given.
What cannot be configured from an object alone is reported as a `Finding`, never guessed:
a Custom Credential (`credentialId`, whose secret the API never returns), a secret the API
returned as `"[REDACTED]"`, a level that sends no credential at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from receiver.config import LevelConfig, ReceiverConfig
from receiver.errors import ConfigError
from receiver.verification import SECRET_HEADER, LevelKind

__all__ = [
    "REDACTED",
    "Finding",
    "ServerSetting",
    "config_from_vapi_objects",
    "display_url",
    "inline_tools",
    "read_assistant",
    "read_org",
    "read_phone_number",
    "read_server",
    "read_tool",
    "same_url",
]

#: What Vapi puts in place of a credential it will not show (protocol.md#credential-level).
REDACTED: Final = "[REDACTED]"

Severity = Literal["error", "warning"]

#: Words in a static header name that make it a credential the receiver cannot check yet.
_AUTH_LIKE: Final = ("authorization", "signature", "token", "secret", "api-key", "apikey")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Finding:
    """Something wrong or risky about a configuration, for people and for scripts.

    Attributes:
        severity: `"error"` when deliveries will fail or be accepted without a credential,
            `"warning"` when something needs a person's attention.
        code: A stable kind, e.g. `"redacted-secret"`, for scripts and tests.
        subject: What it is about, e.g. `phone number "pn-7a1e0c52"`.
        message: What is wrong and what to do; never contains a secret.
    """

    severity: Severity
    code: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class ServerSetting:
    """Where one Vapi object sends its messages, and with which credential.

    Attributes:
        kind: The level: tool, assistant, phone number or org.
        keys: The configuration key it is found under: the phone number's or assistant's
            id, the tool's function name; empty for the org, for a transient assistant and
            for a tool without a function (Vapi sends it no tool-calls).
        label: How to name it to a person.
        url: Its server URL, or None when it has none (Vapi then uses the next level).
        secrets: Usable secrets, sent as `x-vapi-secret`.
        credential_id: A Custom Credential's id; its secret is not in the object.
        redacted: The fields whose value was `"[REDACTED]"`.
        auth_headers: Names of static `server.headers` that carry some other credential.
        transient: An assistant without an id: given inline in an API request.
        raw: The object as given.
    """

    kind: LevelKind
    keys: tuple[str, ...]
    label: str
    url: str | None
    secrets: tuple[str, ...] = ()
    credential_id: str | None = None
    redacted: tuple[str, ...] = ()
    auth_headers: tuple[str, ...] = ()
    transient: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_credential(self) -> bool:
        """Whether Vapi attaches anything that could authenticate it."""
        return bool(self.secrets or self.credential_id or self.redacted or self.auth_headers)


def same_url(a: str, b: str) -> bool:
    """Whether two URLs name the same endpoint: scheme, host and path.

    Host case, a default port and trailing slashes do not matter; query and fragment are
    ignored. A URL without scheme or host equals nothing.
    """
    key_a, key_b = _url_key(a), _url_key(b)
    return key_a is not None and key_a == key_b


def display_url(url: str) -> str:
    """`url` safe to print: a password in it and its query (which may hold a token) hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":...@", 1)
    query = "?..." if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}" if parts.scheme else url


def read_phone_number(obj: Any) -> ServerSetting:
    """The server setting of a phone number (current `server`, or legacy `serverUrl`).

    Its top-level `credentialId` is the telephony provider's (Vonage, Telnyx, BYO), not a
    webhook credential, so only `server.credentialId` counts.

    Raises:
        ConfigError: the object has no `id`, the only field a request identifies it by.
    """
    data = _object(obj, "phone number")
    keys = nonempty_strings(data.get("id"))
    if not keys:
        raise ConfigError("a phone number object needs an `id` (its number is no identity)")
    extra = ", ".join(nonempty_strings(data.get("name"), data.get("number")))
    return read_server("phone number", keys, _label("phone number", keys[0], extra), data)


def read_assistant(obj: Any) -> ServerSetting:
    """The server setting of an assistant; one without `id` is transient (inline)."""
    data = _object(obj, "assistant")
    keys = nonempty_strings(data.get("id"))
    name = nonempty_strings(data.get("name"))
    if keys:
        label = _label("assistant", keys[0], ", ".join(name))
    else:
        label = f'inline assistant "{name[0]}"' if name else "inline assistant (no id)"
    return read_server("assistant", keys, label, data, transient=not keys)


def read_tool(obj: Any, *, inline_in: str | None = None) -> ServerSetting:
    """The server setting of a tool, found by its function name (its id is no identity).

    Raises:
        ConfigError: the tool has neither a function name nor an id to name it by.
    """
    data = _object(obj, "tool")
    function = data.get("function")
    keys = nonempty_strings(function.get("name") if isinstance(function, Mapping) else None)
    tool_id = nonempty_strings(data.get("id"))
    if not keys and not tool_id:
        raise ConfigError("a tool object needs `function.name` or an `id`")
    extra = f"inline in {inline_in}" if inline_in else ", ".join(tool_id if keys else [])
    return read_server("tool", keys, _label("tool", (keys or tool_id)[0], extra), data)


def read_org(obj: Any) -> ServerSetting:
    """The server setting of the org (the fallback for every message)."""
    data = _object(obj, "org")
    extra = ", ".join(nonempty_strings(data.get("name"), data.get("id")))
    return read_server("org", (), f"org ({extra})" if extra else "org", data)


def read_server(
    kind: LevelKind,
    keys: tuple[str, ...] | list[str],
    label: str,
    data: Mapping[str, Any],
    *,
    transient: bool = False,
) -> ServerSetting:
    """The server setting of any object that has `server` (or legacy `serverUrl`).

    For the objects `read_*` do not cover: an assistant's `voice`, its
    `startSpeakingPlan.smartEndpointingPlan`, a custom knowledge base.

    Args:
        kind: The level it counts as.
        keys: The configuration keys it is found under.
        label: How to name it to a person.
        data: The object holding `server` / `serverUrl` / `serverUrlSecret`.
        transient: True for an assistant given inline in an API request.

    Returns:
        Its URL and credentials; a `"[REDACTED]"` value is listed, never used.
    """
    server = data.get("server")
    server = server if isinstance(server, Mapping) else {}
    url = _nonblank(server.get("url")) or _nonblank(data.get("serverUrl"))
    url = url.strip() if url else None
    fields = [
        ("server.secret", server.get("secret")),
        ("serverUrlSecret", data.get("serverUrlSecret")),
    ]
    headers = server.get("headers")
    auth_headers = []
    for name, value in headers.items() if isinstance(headers, Mapping) else []:
        if str(name).lower() == SECRET_HEADER:
            fields.append((f"server.headers.{name}", value))
        elif any(word in str(name).lower() for word in _AUTH_LIKE):
            auth_headers.append(str(name))
    secrets: list[str] = []
    redacted: list[str] = []
    for name, value in fields:
        value = _nonblank(value)
        if value == REDACTED:
            redacted.append(name)
        elif value and value not in secrets:
            secrets.append(value)
    return ServerSetting(
        kind=kind,
        keys=tuple(keys),
        label=label,
        url=url,
        secrets=tuple(secrets),
        credential_id=_nonblank(server.get("credentialId")),
        redacted=tuple(redacted),
        auth_headers=tuple(auth_headers),
        transient=transient,
        raw=data,
    )


def config_from_vapi_objects(
    *,
    phone_numbers: Iterable[Any] = (),
    assistants: Iterable[Any] = (),
    tools: Iterable[Any] = (),
    org: Any = None,
    public_url: str | None = None,
    source: str = "Vapi objects",
) -> tuple[ReceiverConfig, list[Finding]]:
    """Build the receiver's configuration from what Vapi's API returns.

    Objects are the JSON dicts of `GET /phone-number/{id}`, `/assistant/{id}`,
    `/tool/{id}`, `/org/{id}` (a Buy Phone Number response works too), or the official
    SDK's models. Tools defined inline in an assistant's `model.tools` are read as well.

    Args:
        phone_numbers: Phone number objects.
        assistants: Assistant objects.
        tools: Tool objects.
        org: The org object, if its server URL should be registered.
        public_url: The URL Vapi reaches this receiver at (e.g. the tunnel's URL plus
            `/vapi`); when given, levels whose server URL points elsewhere are left out.
        source: Named in error messages about the resulting configuration.

    Returns:
        The configuration (ready for `Receiver(config=...)`) and the findings: errors for
        levels that point here but cannot be verified, warnings for what needs a person.

    Raises:
        ConfigError: an object is not a JSON object (mapping), or lacks the id it is found
            by, or `public_url` is not an absolute URL.

    Example:
        >>> config, findings = config_from_vapi_objects(
        ...     phone_numbers=[{"id": "pn-1", "serverUrl": "https://x.example/vapi",
        ...                     "serverUrlSecret": "s3cret-value"}],
        ...     public_url="https://X.example/vapi/")
        >>> sorted(config.phone_numbers), findings
        (['pn-1'], [])
    """
    if public_url is not None and _url_key(public_url) is None:
        raise ConfigError(f"public URL {public_url!r} is not an absolute http(s) URL")
    settings = _read_objects(phone_numbers=phone_numbers, assistants=assistants, tools=tools)
    if org is not None:
        settings.append(read_org(org))
    findings: list[Finding] = []
    registered: dict[LevelKind, dict[str, LevelConfig]] = {
        "tool": {},
        "assistant": {},
        "phone number": {},
        "org": {},
    }
    conflicts: set[tuple[LevelKind, str]] = set()
    for setting in settings:
        findings.extend(_check_setting(setting, public_url))
        if not _registrable(setting, public_url):
            continue
        entry = LevelConfig(setting.secrets)
        for key in setting.keys or ("",):
            known = registered[setting.kind].setdefault(key, entry)
            if known != entry:
                conflicts.add((setting.kind, key))
    for kind, key in sorted(conflicts):
        del registered[kind][key]
        findings.append(_conflict(kind, key, registered))
    if org is not None and not any(s.kind == "org" and s.url for s in settings):
        findings.extend(_unrouted_assistant_requests(settings))
    config = ReceiverConfig(
        org=registered["org"].get(""),
        phone_numbers=registered["phone number"],
        assistants=registered["assistant"],
        tools=registered["tool"],
        source=source,
    )
    return config, findings


def _read_objects(
    *, phone_numbers: Iterable[Any], assistants: Iterable[Any], tools: Iterable[Any]
) -> list[ServerSetting]:
    """The settings of all objects, tools inline in assistants included, in input order."""
    settings = [read_phone_number(p) for p in phone_numbers]
    read = [read_assistant(a) for a in assistants]
    settings += read
    settings += [read_tool(t) for t in tools]
    for assistant in read:
        settings += inline_tools(assistant)
    return settings


def inline_tools(assistant: ServerSetting) -> list[ServerSetting]:
    """The tools defined in an assistant's `model.tools` that have a `server` of their own."""
    model = assistant.raw.get("model")
    inline = model.get("tools") if isinstance(model, Mapping) else None
    return [
        read_tool(tool, inline_in=assistant.label)
        for tool in (inline if isinstance(inline, list) else [])
        if isinstance(tool, Mapping) and isinstance(tool.get("server"), Mapping)
    ]


def _check_setting(setting: ServerSetting, public_url: str | None) -> list[Finding]:
    """What is wrong or risky about one level on its own."""
    if setting.url is None:
        return []
    subject = setting.label
    if _url_key(setting.url) is None:
        return [
            _error(
                "bad-url",
                subject,
                f"server URL {display_url(setting.url)!r} is not an absolute URL",
            )
        ]
    if public_url is not None and not same_url(setting.url, public_url):
        return [
            Finding(
                "warning",
                "elsewhere",
                subject,
                f"its server URL {display_url(setting.url)} is not this receiver "
                f"({display_url(public_url)}): its "
                "messages go there, so it is not registered",
            )
        ]
    findings = []
    if urlsplit(setting.url).scheme.lower() != "https":
        findings.append(
            _error("not-https", subject, f"server URL {display_url(setting.url)} is not https")
        )
    if setting.transient:
        findings.append(
            _error(
                "credentials-withheld",
                subject,
                "a server URL on an assistant given inline in an API request (no id) gets no "
                "credential from Vapi, and its secrets arrive as [REDACTED]; "
                "save the assistant and use its id, or set the URL on the phone number or org",
            )
        )
        return findings
    for name in setting.redacted:
        findings.append(
            _error(
                "redacted-secret",
                subject,
                f"`{name}` is {REDACTED}: the API hid it, so it is not a secret the receiver "
                "can check; copy the real secret into the configuration by hand",
            )
        )
    if setting.credential_id:
        findings.append(
            Finding(
                "warning",
                "credential-by-hand",
                subject,
                f"credential {setting.credential_id} must be configured by hand: the API "
                "never returns a Custom Credential's secret"
                + ("; registered with its secret only" if setting.secrets else ""),
            )
        )
    if setting.auth_headers:
        names = ", ".join(setting.auth_headers)
        findings.append(
            Finding(
                "warning",
                "credential-by-hand",
                subject,
                f"static header(s) {names} must be configured by hand: the receiver checks "
                f"{SECRET_HEADER}",
            )
        )
    if not setting.has_credential:
        findings.append(
            _error(
                "no-credential",
                subject,
                "sends no credential (no secret, no credentialId): anyone who knows the URL "
                "could post to it, and the receiver refuses what it cannot verify; set a "
                "secret or a credential on it",
            )
        )
    return findings


# -- reading one object -----------------------------------------------------------------------


def _object(obj: Any, what: str) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):  # the official SDK's pydantic models
        data = dump(by_alias=True, exclude_none=True)
        if isinstance(data, Mapping):
            return data
    raise ConfigError(f"a {what} must be a JSON object, not {type(obj).__name__}")


def _label(kind: str, key: str, extra: str) -> str:
    return f'{kind} "{key}"' + (f" ({extra})" if extra else "")


def _nonblank(value: object) -> str | None:
    # Not stripped: a secret is compared byte for byte with what Vapi sends.
    return value if isinstance(value, str) and value.strip() else None


def nonempty_strings(*values: object) -> list[str]:
    """The values that are non-empty strings, in order: ids and names read from Vapi's JSON."""
    return [v for v in values if isinstance(v, str) and v]


def _url_key(url: str) -> tuple[str, str, str] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return scheme, host, parts.path.rstrip("/")


# -- findings across objects ------------------------------------------------------------------


def _registrable(setting: ServerSetting, public_url: str | None) -> bool:
    if setting.url is None or setting.transient or not setting.secrets:
        return False
    if setting.kind != "org" and not setting.keys:
        return False  # nothing a request could identify it by
    return public_url is None or same_url(setting.url, public_url)


def _conflict(
    kind: LevelKind, key: str, registered: Mapping[LevelKind, Mapping[str, LevelConfig]]
) -> Finding:
    subject = "org" if kind == "org" else f'{kind} "{key}"'
    if kind == "tool":
        return Finding(
            "warning",
            "conflict",
            subject,
            "several tools with different secrets share this name, so it is not registered "
            "by name; each is still registered by its tool id",
        )
    return _error(
        "conflict",
        subject,
        "given more than once with different secrets; not registered (pass one object each)",
    )


def _unrouted_assistant_requests(settings: Iterable[ServerSetting]) -> list[Finding]:
    """Phone numbers whose calls start with an assistant-request that can go nowhere.

    Only meaningful when the org is known to have no server URL either.
    """
    findings = []
    for setting in settings:
        if setting.kind != "phone number" or setting.url is not None:
            continue
        if any(setting.raw.get(k) for k in ("assistantId", "squadId", "workflowId")):
            continue
        findings.append(
            _error(
                "assistant-request-unrouted",
                setting.label,
                "has no assistant, squad or workflow, so Vapi asks for one with "
                "assistant-request, but neither it nor the org has a server URL: calls fail "
                "with call-start-error-neither-assistant-nor-server-set",
            )
        )
    return findings


def _error(code: str, subject: str, message: str) -> Finding:
    return Finding("error", code, subject, message)
