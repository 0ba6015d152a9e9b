"""asyncpg against psycopg 3 on the inbox's own statements: `python -m bench.pg_drivers`.

Run on demand against a PostgreSQL server (`--url`, default the local one); not part of
`python -m bench`. Both drivers run the same SQL on the same table, one client process, one
connection each: a lone delivery's insert (`INSERT ... ON CONFLICT ... RETURNING`, a 4.5 KB
body, its own transaction), the same for 32 deliveries in one statement (group commit), and
a stored tool result's lookup. Prints client CPU µs and wall µs per delivery, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

BODY = os.urandom(2250).hex().encode()
TABLE = """
CREATE TABLE IF NOT EXISTS bench_deliveries (
    id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, type text NOT NULL, body bytea NOT NULL,
    duplicates integer NOT NULL DEFAULT 0, received_at timestamptz NOT NULL DEFAULT now())
"""
ONE = (
    "INSERT INTO bench_deliveries (key, type, body) VALUES ($1, $2, $3) "
    "ON CONFLICT (key) DO UPDATE SET duplicates = bench_deliveries.duplicates + 1 "
    "RETURNING id, duplicates"
)
MANY = (
    "INSERT INTO bench_deliveries (key, type, body) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) "
    "ON CONFLICT (key) DO UPDATE SET duplicates = bench_deliveries.duplicates + 1 "
    "RETURNING id, duplicates"
)
LOOKUP = "SELECT id FROM bench_deliveries WHERE key = $1"


async def _timed(count: int, step: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(count):
        await step(n)
    return {
        "cpu_us": round((time.process_time() - cpu) / count * 1e6, 1),
        "wall_us": round((time.perf_counter() - wall) / count * 1e6, 1),
    }


async def with_asyncpg(url: str, count: int) -> dict[str, Any]:
    import asyncpg

    db = await asyncpg.connect(url)
    try:
        await db.execute(TABLE)
        await db.execute("TRUNCATE bench_deliveries")
        one = await _timed(count, lambda n: db.fetchrow(ONE, f"a{n}", "status-update", BODY))
        keys = [[f"b{n}-{i}" for i in range(32)] for n in range(count // 32)]
        many = await _timed(
            len(keys), lambda n: db.fetch(MANY, keys[n], ["status-update"] * 32, [BODY] * 32)
        )
        lookup = await _timed(count, lambda n: db.fetchval(LOOKUP, f"a{n}"))
        await db.execute("DROP TABLE bench_deliveries")
    finally:
        await db.close()
    return {"one": one, "per_delivery_in_32": _per(many, 32), "lookup": lookup}


async def with_psycopg(url: str, count: int) -> dict[str, Any]:
    import psycopg

    def pg(sql: str) -> str:  # psycopg's placeholders
        for n in range(3, 0, -1):
            sql = sql.replace(f"${n}", "%s")
        return sql

    db = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=0)
    try:
        await db.execute(TABLE)
        await db.execute("TRUNCATE bench_deliveries")

        async def one_step(n: int) -> Any:
            cursor = await db.execute(pg(ONE), (f"p{n}", "status-update", BODY))
            return await cursor.fetchone()

        one = await _timed(count, one_step)
        keys = [[f"q{n}-{i}" for i in range(32)] for n in range(count // 32)]

        async def many_step(n: int) -> Any:
            cursor = await db.execute(pg(MANY), (keys[n], ["status-update"] * 32, [BODY] * 32))
            return await cursor.fetchall()

        many = await _timed(len(keys), many_step)

        async def lookup_step(n: int) -> Any:
            cursor = await db.execute(pg(LOOKUP), (f"p{n}",))
            return await cursor.fetchone()

        lookup = await _timed(count, lookup_step)
        await db.execute("DROP TABLE bench_deliveries")
    finally:
        await db.close()
    return {"one": one, "per_delivery_in_32": _per(many, 32), "lookup": lookup}


def _per(timing: dict[str, float], size: int) -> dict[str, float]:
    return {name: round(value / size, 1) for name, value in timing.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_drivers", description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    results = {
        "asyncpg": asyncio.run(with_asyncpg(args.url, args.count)),
        "psycopg": asyncio.run(with_psycopg(args.url, args.count)),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
