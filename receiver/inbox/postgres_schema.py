"""The inbox's tables in PostgreSQL, in their own schema, and their versioned migrations.

Each migration is one transaction, taken under an advisory lock, so replicas starting
together apply it once. A database whose schema is newer than this package is refused: the
code would not know what the new columns mean.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol

from receiver.inbox.backend import IncompatibleSchema


class Connection(Protocol):
    """What the inbox uses of an asyncpg connection (asyncpg ships no type information)."""

    async def execute(self, query: str, *args: Any) -> str: ...
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...
    async def fetchrow(self, query: str, *args: Any) -> Any: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


SCHEMA: Final = "vapi_inbox"
#: Any number: the advisory lock's key, shared by every process that migrates.
MIGRATION_LOCK: Final = 0x7661_7069  # "vapi"

#: Migration n brings the schema from version n-1 to n.
MIGRATIONS: Final[tuple[str, ...]] = (
    f"""
    CREATE TABLE {SCHEMA}.deliveries (
        id              bigserial PRIMARY KEY,
        key             text        NOT NULL UNIQUE,
        type            text        NOT NULL,
        call_id         text,
        body            bytea       NOT NULL,
        status          text        NOT NULL DEFAULT 'pending'
                                    CHECK (status IN ('pending', 'done', 'failed')),
        attempts        integer     NOT NULL DEFAULT 0,
        error           text,
        handlers_done   jsonb       NOT NULL DEFAULT '[]',
        duplicates      integer     NOT NULL DEFAULT 0,
        received_at     timestamptz NOT NULL DEFAULT now(),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        finished_at     timestamptz,
        lease_owner     text,
        lease_until     timestamptz NOT NULL DEFAULT '-infinity'
    );
    CREATE INDEX deliveries_due ON {SCHEMA}.deliveries (next_attempt_at, id)
        WHERE status = 'pending';
    CREATE INDEX deliveries_finished ON {SCHEMA}.deliveries (finished_at)
        WHERE status <> 'pending';
    CREATE TABLE {SCHEMA}.tool_results (
        key       text        PRIMARY KEY,
        result    text        NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX tool_results_age ON {SCHEMA}.tool_results (stored_at);
    """,
    f"""
    CREATE TABLE {SCHEMA}.replay_keys (
        key        text        PRIMARY KEY,     -- a signed request's replay key (HMAC)
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX replay_keys_expiry ON {SCHEMA}.replay_keys (expires_at);
    """,
)
VERSION: Final = len(MIGRATIONS)


async def schema_version(connection: Connection) -> int:
    """The applied version: 0 for a database that has no inbox yet."""
    exists = await connection.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{SCHEMA}.schema_version"
    )
    if not exists:
        return 0
    version = await connection.fetchval(f"SELECT version FROM {SCHEMA}.schema_version")
    return int(version or 0)


async def migrate(connection: Connection) -> tuple[int, int]:
    """Apply what is missing; `(version before, version after)`.

    Raises:
        IncompatibleSchema: the database is newer than this package.
    """
    db = connection
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await db.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        await db.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version integer NOT NULL)"
        )
        before = await db.fetchval(f"SELECT version FROM {SCHEMA}.schema_version")
        if before is None:
            await db.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES (0)")
            before = 0
        refuse_newer(before)
        for script in MIGRATIONS[before:]:
            await db.execute(script)
        await db.execute(f"UPDATE {SCHEMA}.schema_version SET version = $1", VERSION)
    return int(before), VERSION


def refuse_newer(version: int) -> None:
    if version > VERSION:
        raise IncompatibleSchema(
            f"the inbox schema in this database is version {version}, newer than this "
            f"package's {VERSION}: upgrade vapi-receiver (a newer replica migrated it)"
        )
