"""The `[inbox]` table: where deliveries are kept, how failures are retried, how long it lasts.

Kept apart from `receiver.config` (which only reads `InboxTable`) so that the
inbox's knobs, their defaults and their reasons live next to the code that uses them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import Field, model_validator

from receiver.errors import ConfigError
from receiver.toml_tables import Table

INBOX_PATH_ENV: Final = "VAPI_INBOX_PATH"
INBOX_URL_ENV: Final = "VAPI_RECEIVER_INBOX_URL"
DEFAULT_INBOX_PATH: Final = "./vapi-inbox.sqlite3"
_POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")

Synchronous = Literal["normal", "full"]


def _default_url() -> str | None:
    return os.environ.get(INBOX_URL_ENV) or None


def masked_url(url: str) -> str:
    """`url` without its password, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:****@{host}"


def _default_path() -> str:
    # An environment-only deployment (`$VAPI_SERVER_SECRET`, no TOML) still needs to put the
    # inbox on a volume; an explicit `path` in the configuration always wins.
    return os.environ.get(INBOX_PATH_ENV) or DEFAULT_INBOX_PATH


@dataclass(frozen=True)
class InboxConfig:
    """How the durable inbox behaves; every field has a default, so `InboxConfig()` works.

    Args:
        enabled: Keep informational deliveries in the inbox before acknowledging them.
            `False` runs handlers from memory, as before: a crash loses them.
        path: The SQLite file; relative paths are relative to the working directory.
            Defaults to `$VAPI_INBOX_PATH`, else `./vapi-inbox.sqlite3`.
        synchronous: SQLite's `synchronous` pragma in WAL mode. `"normal"` survives a
            killed process (the commit is in the OS before the 200 is sent) but can lose the
            last commits if the machine itself crashes; `"full"` syncs every commit to disk
            and survives both, at the cost of one fsync per delivery.
        max_attempts: Runs of a delivery's handlers before it is parked as failed.
        retry_backoff: Seconds before the first retry; doubled for each further one.
        retry_backoff_max: The longest wait between two retries, in seconds.
        retention_days: Done deliveries are purged after this many days; a repeated
            delivery is recognised for as long as it is kept.
        tool_result_window: Seconds a tool result is replayed for a repeated `toolCallId`;
            `0` turns the replay off.
        lease_seconds: How long a worker's claim on a delivery lasts without renewal; a
            delivery whose worker died is run again once its lease runs out.
        url: A PostgreSQL URL (`postgresql://user@host/db`): the inbox of a fleet, shared by
            every replica, instead of the SQLite file at `path`. Defaults to
            `$VAPI_RECEIVER_INBOX_URL`.
        pool_size: Connections each worker process keeps to PostgreSQL at most.
    """

    enabled: bool = True
    path: str = field(default_factory=_default_path)
    synchronous: Synchronous = "normal"
    max_attempts: int = 8
    retry_backoff: float = 10.0
    retry_backoff_max: float = 900.0
    retention_days: float = 7.0
    tool_result_window: float = 3600.0
    lease_seconds: float = 30.0
    url: str | None = field(default_factory=_default_url)
    pool_size: int = 10

    def __post_init__(self) -> None:
        if self.synchronous not in ("normal", "full"):
            raise ConfigError('[inbox]: `synchronous` must be "normal" or "full"')
        if not self.path:
            raise ConfigError("[inbox]: `path` must be a non-empty string")
        if self.max_attempts < 1:
            raise ConfigError("[inbox]: `max_attempts` must be at least 1")
        for name in ("retry_backoff", "retry_backoff_max", "retention_days", "lease_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"[inbox]: `{name}` must be a positive number")
        if self.tool_result_window < 0:
            raise ConfigError("[inbox]: `tool_result_window` must be 0 (off) or positive")
        if self.url is not None and not self.url.startswith(_POSTGRES_SCHEMES):
            raise ConfigError(
                f"[inbox]: `url` must be a PostgreSQL URL (postgresql://user@host:5432/db), "
                f"not {masked_url(self.url)!r}; for a SQLite file use `path`"
            )
        if self.pool_size < 1:
            raise ConfigError("[inbox]: `pool_size` must be at least 1")

    @property
    def where(self) -> str:
        """Where the deliveries are kept, for logs: the file, or the database without password."""
        return masked_url(self.url) if self.url else self.path

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed run."""
        return float(min(self.retry_backoff * 2 ** max(attempts - 1, 0), self.retry_backoff_max))


_SECONDS: Final = "a number of seconds"

#: Keys that were dropped, with why and what replaces them, for files written before.
_REMOVED: Final = {
    "message_id_headers": "an unsigned header is no duplicate key (anyone who saw a request "
    "could change it); an HMAC message id is used when the credential signs it ({svix-id} "
    "in payload_format), else the body's digest: remove the key",
}


class InboxTable(Table):
    """The `[inbox]` table: each key's type; `InboxConfig` checks the values and defaults."""

    enabled: bool | None = Field(None, description="true or false")
    path: str | None = Field(None, description="a string")
    synchronous: Synchronous | None = Field(None, description='"normal" or "full"')
    max_attempts: int | None = Field(None, description="an integer")
    retry_backoff: float | None = Field(None, description=_SECONDS)
    retry_backoff_max: float | None = Field(None, description=_SECONDS)
    retention_days: float | None = Field(None, description="a number of days")
    tool_result_window: float | None = Field(None, description=_SECONDS)
    lease_seconds: float | None = Field(None, description=_SECONDS)
    url: str | None = Field(None, description="a PostgreSQL URL")
    pool_size: int | None = Field(None, description="an integer")

    @model_validator(mode="before")
    @classmethod
    def _no_removed_keys(cls, table: object) -> object:
        """Say why a key that older files hold is gone, rather than only "unknown"."""
        for key in table if isinstance(table, Mapping) else ():
            if key in _REMOVED:
                raise ValueError(f"`{key}` is no longer read: {_REMOVED[key]}")
        return table

    def inbox_config(self, source: str) -> InboxConfig:
        """The inbox's settings, from the keys given and `InboxConfig`'s defaults.

        Raises:
            ConfigError: naming the file, `[inbox]` and the key whose value is out of range.
        """
        if self.path is not None and self.url is not None:
            raise ConfigError(
                f"{source}: [inbox]: `path` (a SQLite file) and `url` (PostgreSQL) are both "
                "set; keep the one the inbox should use"
            )
        options = self.options()
        if "path" in options:  # a file named in the configuration beats the environment's URL
            options.setdefault("url", None)
        try:
            return InboxConfig(**options)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
