"""A fresh PostgreSQL database per test, on the machine's server, dropped afterwards.

The server is the one at `$VAPI_RECEIVER_TEST_POSTGRES_URL` (default: the local one at
127.0.0.1:5432, trust authentication). Without it the tests that need it skip, saying how
to enable them; with `VAPI_RECEIVER_REQUIRE_POSTGRES=1` (CI sets it) they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

ADMIN_URL = os.environ.get(
    "VAPI_RECEIVER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _unreachable() -> str | None:
    try:
        import asyncpg
    except ImportError:
        return 'asyncpg is missing: pip install -e ".[dev]"'

    async def probe() -> None:
        db = await asyncpg.connect(ADMIN_URL, timeout=3)
        await db.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def admin(sql: str, *args: Any, database: str | None = None) -> Any:
    """Run one statement as the administrator (on `database`, else the admin URL's)."""
    import asyncpg

    url = ADMIN_URL if database is None else database_url(database)

    async def run() -> Any:
        db = await asyncpg.connect(url, timeout=5)
        try:
            return await db.fetch(sql, *args)
        finally:
            await db.close()

    return asyncio.run(run())


def database_url(name: str, user: str | None = None) -> str:
    scheme, rest = ADMIN_URL.split("://", 1)
    credentials, host_and_db = rest.rsplit("@", 1) if "@" in rest else ("", rest)
    host = host_and_db.split("/", 1)[0]
    who = user or credentials
    return f"{scheme}://{who + '@' if who else ''}{host}/{name}"


@contextlib.contextmanager
def fresh_database(owner: str | None = None) -> Iterator[str]:
    """A new, empty database; its name. Dropped at the end, connections and all."""
    if (problem := _unreachable()) is not None:
        if os.environ.get("VAPI_RECEIVER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (VAPI_RECEIVER_REQUIRE_POSTGRES=1): {problem}")
        pytest.skip(
            f"no PostgreSQL at {ADMIN_URL} ({problem}): start one there, or point "
            "VAPI_RECEIVER_TEST_POSTGRES_URL at one, to run the PostgreSQL inbox tests"
        )
    name = f"vapi_test_{secrets.token_hex(6)}"
    admin(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
    try:
        yield name
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh database."""
    with fresh_database() as name:
        yield database_url(name)


def table_rows(name: str, table: str) -> list[dict[str, Any]]:
    """The rows of one of the inbox's tables in database `name`, oldest first; none before
    the schema exists. Safe to call from inside a running event loop (it uses a thread)."""
    import asyncpg

    async def read() -> list[dict[str, Any]]:
        db = await asyncpg.connect(database_url(name), timeout=5)
        try:
            if not await db.fetchval("SELECT to_regclass($1) IS NOT NULL", f"vapi_inbox.{table}"):
                return []
            order = "id" if table == "deliveries" else "key"
            return [
                dict(row)
                for row in await db.fetch(f"SELECT * FROM vapi_inbox.{table} ORDER BY {order}")
            ]
        finally:
            await db.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()
