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
DEFAULT_INBOX_PATH: Final = "./vapi-inbox.sqlite3"

Synchronous = Literal["normal", "full"]


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
        try:
            return InboxConfig(**self.options())
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
