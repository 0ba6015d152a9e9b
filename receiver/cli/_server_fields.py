"""Which fields hold a Vapi object's server URL and secret, and the PATCH bodies that set them.

Objects come in two shapes (docs/protocol.md#server-object): the current `server` object
(`url`, plus `credentialId`, `headers` or the older `server.secret`), and the legacy flat
`serverUrl`/`serverUrlSecret`. A change is written in the shape the object already has, so
Vapi's validation of that object's fields is never surprised:

- legacy fields set: `serverUrl` and `serverUrlSecret`;
- `server.secret` set: `server.url` and `server.secret`;
- otherwise, `server` present or not: `server.url` and the secret as the static header
  `x-vapi-secret` in `server.headers`, which Vapi sends with every message (the receiver
  checks it like the legacy secret);
- `server.credentialId` set: a Custom Credential, whose secret the API never returns and
  which other objects may share. `link` refuses to touch it unless asked to replace it (then
  `credentialId` is dropped from this object only, and the credential itself is unchanged).

`server` is always sent whole (Vapi replaces it, it does not merge it), keeping its other
keys: `timeoutSeconds`, `backoffPlan`, other headers. A phone number's body carries its
`provider`, which Vapi's update schema is discriminated by.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from receiver.cli._credentials import mask
from receiver.cli._vapi_api import ObjectKind
from receiver.errors import ReceiverError
from receiver.vapi_objects import (
    REDACTED,
    ServerSetting,
    read_assistant,
    read_org,
    read_phone_number,
    same_url,
)
from receiver.verification import SECRET_HEADER

Form = Literal["legacy", "server-secret", "server-header", "credential"]

#: An id the configuration accepts as a table key, and that is safe in a file name and a URL.
ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


@dataclass(frozen=True)
class Kind:
    """What `link` needs to know about one kind of object.

    Attributes:
        path: Its API path segment: `phone-number`, `assistant`, `org`.
        label: How to name it to a person.
        option: The `link` option that names one.
        table: Its table in the receiver's configuration.
        read: Reads its server setting (as `doctor` does).
    """

    path: ObjectKind
    label: str
    option: str
    table: str
    read: Callable[[Any], ServerSetting]


KINDS: Final[dict[ObjectKind, Kind]] = {
    "phone-number": Kind(
        "phone-number", "phone number", "--phone-number", "phone_numbers", read_phone_number
    ),
    "assistant": Kind("assistant", "assistant", "--assistant", "assistants", read_assistant),
    "org": Kind("org", "org", "--org", "orgs", read_org),
}


class CredentialInUse(ReceiverError):
    """The object authenticates with a Custom Credential (`server.credentialId`), or a
    credential the object keeps is hidden by the API: changing it would break it."""


def form_of(obj: Mapping[str, Any]) -> Form:
    """The shape the object's server setting is written in."""
    server = obj.get("server")
    if isinstance(server, Mapping):
        if _text(server.get("credentialId")):
            return "credential"
        return "server-secret" if _text(server.get("secret")) else "server-header"
    if _text(obj.get("serverUrl")) or _text(obj.get("serverUrlSecret")):
        return "legacy"
    return "server-header"


def link_body(
    kind: Kind,
    obj: Mapping[str, Any],
    url: str,
    secret: str,
    *,
    replace_credential: bool = False,
) -> dict[str, Any]:
    """The PATCH body that points `obj` at `url` with `secret`, in the object's own shape.

    Raises:
        CredentialInUse: the object uses `server.credentialId` and `replace_credential` is
            false, or a credential it keeps is `[REDACTED]` (sending it back would break it).
    """
    form = form_of(obj)
    if form == "credential" and not replace_credential:
        raise CredentialInUse(_credential_message(kind, obj))
    replaced = {"legacy": "serverurlsecret", "server-secret": "server.secret"}.get(
        form, f"server.headers.{SECRET_HEADER}"
    )
    kept = [name for name in hidden_fields(obj) if name.lower() != replaced]
    if kept:
        raise CredentialInUse(
            f"the API hides {', '.join(kept)} of {kind.label} {obj.get('id', '')} as "
            f"{REDACTED}; `server` is sent whole, so that text would replace the real value. "
            "Set the URL and secret in the dashboard instead"
        )
    body: dict[str, Any]
    if form == "legacy":
        body = {"serverUrl": url, "serverUrlSecret": secret}
    else:
        server = dict(_mapping(obj.get("server")))
        server["url"] = url
        if form == "server-secret":
            server["secret"] = secret
        else:
            server.pop("credentialId", None)
            headers = {
                name: value
                for name, value in _mapping(server.get("headers")).items()
                if str(name).lower() != SECRET_HEADER
            }
            server["headers"] = {**headers, SECRET_HEADER: secret}
        body = {"server": server}
    return _with_provider(kind, obj, body)


def restore_body(kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body that puts `obj`'s server setting back as it is now (`null` clears)."""
    if form_of(obj) == "legacy":
        body = {"serverUrl": obj.get("serverUrl"), "serverUrlSecret": obj.get("serverUrlSecret")}
    else:
        server = obj.get("server")
        body = {"server": dict(server) if isinstance(server, Mapping) else None}
    return _with_provider(kind, obj, body)


def hidden_fields(obj: Mapping[str, Any]) -> list[str]:
    """The server fields whose value the API hid as `"[REDACTED]"`: they cannot be put back."""
    found = ["serverUrlSecret"] if obj.get("serverUrlSecret") == REDACTED else []
    server = _mapping(obj.get("server"))
    if server.get("secret") == REDACTED:
        found.append("server.secret")
    found += [
        f"server.headers.{name}"
        for name, value in _mapping(server.get("headers")).items()
        if value == REDACTED
    ]
    return found


def carries(obj: Mapping[str, Any], kind: Kind, url: str, secret: str) -> bool:
    """Whether `obj` points at `url` with `secret` (compared in constant time)."""
    setting = kind.read(obj)
    if setting.url is None or not same_url(setting.url, url):
        return False
    return any(hmac.compare_digest(s.encode(), secret.encode()) for s in setting.secrets)


def shown(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` safe to print: secrets and header values masked."""
    masked: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("secret", "serverUrlSecret") and isinstance(value, str):
            masked[key] = mask(value)
        elif key == "headers" and isinstance(value, Mapping):
            masked[key] = {name: mask(str(v)) for name, v in value.items()}
        elif isinstance(value, Mapping):
            masked[key] = shown(value)
        else:
            masked[key] = value
    return masked


def _credential_message(kind: Kind, obj: Mapping[str, Any]) -> str:
    credential = _mapping(obj.get("server")).get("credentialId")
    return (
        f"{kind.label} {obj.get('id', '')} authenticates its messages with credential "
        f"{credential} (server.credentialId), a Custom Credential: the API never returns its "
        "secret and other objects may share it, so link leaves it alone. Either configure "
        "that credential in the receiver by hand (docs: configuration.md#credentials) and "
        "set the URL in the dashboard, or pass --replace-credential to drop credentialId "
        f"from this {kind.label} and send a new {SECRET_HEADER} instead (the credential "
        "itself is not changed or deleted)"
    )


def _with_provider(kind: Kind, obj: Mapping[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    if kind.path == "phone-number" and _text(obj.get("provider")):
        return {"provider": obj["provider"], **body}
    return body


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
