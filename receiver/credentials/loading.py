"""`[[<level>.credentials]]` entries of the TOML file, read into credential objects.

Entries use the field names of Vapi's own authentication plans, in snake_case or in
camelCase as the dashboard and API show them (`header_name` or `headerName`), so a user can
copy a plan across. Every mistake is reported with the file, the entry and the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from receiver.credentials.base import Credential
from receiver.credentials.bearer import BearerCredential
from receiver.credentials.hmac_plan import HmacCredential
from receiver.credentials.oauth2 import OAuth2Credential
from receiver.errors import ConfigError

_TEXT: Final = ("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))
_ANY_TEXT: Final = ("a string", lambda v: isinstance(v, str))
_FLAG: Final = ("true or false", lambda v: isinstance(v, bool))
_SECONDS: Final = (
    "a positive number of seconds",
    lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
)
_COUNT: Final = (
    "a positive integer",
    lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
)
_TEXTS: Final = (
    "a list of non-empty strings",
    lambda v: isinstance(v, list) and bool(v) and all(isinstance(s, str) and s for s in v),
)

Spec = tuple[str, Callable[[object], bool]]

#: Per `type`: the class, then each key with what its value must be; required keys first.
_SCHEMES: Final[Mapping[str, tuple[type, tuple[str, ...], Mapping[str, Spec]]]] = {
    "bearer": (
        BearerCredential,
        ("token",),
        {"token": _TEXT, "header_name": _TEXT, "bearer_prefix_enabled": _FLAG},
    ),
    "hmac": (
        HmacCredential,
        ("secret_key", "algorithm"),
        {
            "secret_key": _TEXT,
            "algorithm": _TEXT,
            "signature_header": _TEXT,
            "timestamp_header": _TEXT,
            "include_timestamp": _FLAG,
            "payload_format": _TEXT,
            "signature_encoding": _TEXT,
            "signature_prefix": _ANY_TEXT,
            "message_id_header": _TEXT,
            "secret_is_base64": _FLAG,
            "tolerance_seconds": _SECONDS,
        },
    ),
    "oauth2": (
        OAuth2Credential,
        ("client_id", "client_secret"),
        {
            "client_id": _TEXT,
            "client_secret": _TEXT,
            "scope": _ANY_TEXT,
            "url": _TEXT,
            "token_lifetime_seconds": _COUNT,
            "signing_keys": _TEXTS,
        },
    ),
}

_CAMEL_HUMP: Final = re.compile(r"(?<=[a-z0-9])([A-Z])")


def credentials_from_list(value: object, where: str) -> tuple[Credential, ...]:
    """Read the array of credential tables of one level.

    Args:
        value: What the TOML file holds under `credentials`.
        where: How to name the array in errors, e.g. `vapi.toml: [[org.credentials]]`.

    Raises:
        ConfigError: naming the entry (1-based) and the key that is wrong.
    """
    if not isinstance(value, list) or not all(isinstance(e, Mapping) for e in value):
        raise ConfigError(f"{where} must be an array of tables (one [[...credentials]] each)")
    return tuple(credential_from_mapping(e, f"{where} #{n}") for n, e in enumerate(value, 1))


def credential_from_mapping(entry: Mapping[str, Any], where: str) -> Credential:
    """One credential table; keys in snake_case or camelCase, `type` picks the scheme."""
    options: dict[str, Any] = {}
    for key, value in entry.items():
        name = _snake(str(key))
        if name in options:
            raise ConfigError(f"{where}: `{key}` is given twice (in snake_case and camelCase)")
        options[name] = value
    kind = options.pop("type", None)
    if kind not in _SCHEMES:
        shown = "missing" if kind is None else f"got {kind!r}"
        raise ConfigError(f'{where}: `type` must be "bearer", "hmac" or "oauth2" ({shown})')
    cls, required, specs = _SCHEMES[kind]
    for key, value in options.items():
        if key not in specs:
            expected = ", ".join(sorted(specs))
            raise ConfigError(
                f"{where} ({kind}): unknown key `{key}` (expected one of: {expected})"
            )
        words, fits = specs[key]
        if not fits(value):
            raise ConfigError(f"{where} ({kind}): `{key}` must be {words}")
    for key in required:
        if key not in options:
            raise ConfigError(f"{where} ({kind}): `{key}` is required")
    if "signing_keys" in options:
        options["signing_keys"] = tuple(options["signing_keys"])
    try:
        credential: Credential = cls(**options)
    except ConfigError as exc:
        raise ConfigError(f"{where} ({kind}): {exc}") from None
    return credential


def _snake(key: str) -> str:
    return _CAMEL_HUMP.sub(r"_\1", key).lower()
