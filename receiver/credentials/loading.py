"""`[[<level>.credentials]]` entries of the TOML file, read into credential objects.

Entries use the field names of Vapi's own authentication plans, in snake_case or in
camelCase as the dashboard and API show them (`header_name` or `headerName`), so a user can
copy a plan across. `type` picks the model of the entry; the model checks each key's type
and refuses unknown ones, the credential class checks what the values mean (an algorithm it
knows, a payload format with `{body}`). Every mistake names the file, the entry and the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from receiver.credentials.base import Credential
from receiver.credentials.bearer import BearerCredential
from receiver.credentials.hmac_plan import HmacCredential
from receiver.credentials.oauth2 import OAuth2Credential
from receiver.errors import ConfigError
from receiver.toml_tables import Table, Text, describe

_TEXT: Final = "a non-empty string"
_FLAG: Final = "true or false"


class _Entry(Table):
    """One credential table; `builds` is the class its keys are passed to."""

    builds: ClassVar[Callable[..., Credential]]

    def credential(self, where: str) -> Credential:
        """The credential object, whose own checks of the values name `where` and the type.

        Raises:
            ConfigError: e.g. "vapi.toml: [[org.credentials]] #1 (hmac): `algorithm`
                must be one of sha256, sha512, sha1".
        """
        options = self.options()
        kind = options.pop("type")
        try:
            return self.builds(**options)
        except ConfigError as exc:
            raise ConfigError(f"{where} ({kind}): {exc}") from None


class BearerEntry(_Entry):
    """`type = "bearer"`: a static token (`receiver.credentials.BearerCredential`)."""

    builds = BearerCredential
    type: Literal["bearer"]
    token: Text = Field(description=_TEXT)
    header_name: Text | None = Field(None, description=_TEXT)
    bearer_prefix_enabled: bool | None = Field(None, description=_FLAG)


class HmacEntry(_Entry):
    """`type = "hmac"`: a signature over the body (`receiver.credentials.HmacCredential`)."""

    builds = HmacCredential
    type: Literal["hmac"]
    secret_key: Text = Field(description=_TEXT)
    algorithm: Text = Field(description=_TEXT)
    signature_header: Text | None = Field(None, description=_TEXT)
    timestamp_header: Text | None = Field(None, description=_TEXT)
    include_timestamp: bool | None = Field(None, description=_FLAG)
    payload_format: Text | None = Field(None, description=_TEXT)
    signature_encoding: Text | None = Field(None, description=_TEXT)
    signature_prefix: str | None = Field(None, description="a string")
    message_id_header: Text | None = Field(None, description=_TEXT)
    secret_is_base64: bool | None = Field(None, description=_FLAG)
    tolerance_seconds: float | None = Field(None, description="a positive number of seconds")


class OAuth2Entry(_Entry):
    """`type = "oauth2"`: tokens issued here (`receiver.credentials.OAuth2Credential`)."""

    builds = OAuth2Credential
    type: Literal["oauth2"]
    client_id: Text = Field(description=_TEXT)
    client_secret: Text = Field(description=_TEXT)
    scope: str | None = Field(None, description="a string")
    url: Text | None = Field(None, description=_TEXT)
    token_lifetime_seconds: int | None = Field(None, description="a positive integer")
    # Not strict: TOML gives a list, the credential keeps a tuple.
    signing_keys: tuple[Text, ...] | None = Field(
        None, min_length=1, strict=False, description="a list of non-empty strings"
    )


_CAMEL_HUMP: Final = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _snake_keys(entry: object) -> object:
    """The entry with camelCase keys in snake_case; a key given in both is refused."""
    if not isinstance(entry, Mapping):
        return entry  # the model says it must be a table
    options: dict[str, Any] = {}
    for key, value in entry.items():
        name = _CAMEL_HUMP.sub(r"_\1", str(key)).lower()
        if name in options:
            raise ValueError(f"`{key}` is given twice (in snake_case and camelCase)")
        options[name] = value
    return options


CredentialEntry = Annotated[
    Annotated[BearerEntry | HmacEntry | OAuth2Entry, Field(discriminator="type")],
    BeforeValidator(_snake_keys),
]
"""One `[[...credentials]]` table, of the model its `type` names."""

_ENTRY: Final[TypeAdapter[BearerEntry | HmacEntry | OAuth2Entry]] = TypeAdapter(CredentialEntry)


def credential_from_mapping(entry: Mapping[str, Any], where: str) -> Credential:
    """One credential table; keys in snake_case or camelCase, `type` picks the scheme.

    Raises:
        ConfigError: naming `where`, the type and the key that is wrong.
    """
    try:
        model = _ENTRY.validate_python(entry)
    except ValidationError as exc:
        raise ConfigError(describe(exc, CredentialEntry, prefix=where, top="")) from None
    return model.credential(where)
