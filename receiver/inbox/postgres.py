"""The inbox of a fleet: PostgreSQL, shared by every replica, behind the `InboxBackend` seam.

The same promises as the SQLite file, across hosts:

- A delivery is committed before its `200`. The deliveries that arrive during one turn of
  a worker's event loop go in one `INSERT ... SELECT FROM unnest(...)`: one round trip and
  one commit for a burst (group commit).
- Repeats are dropped by the unique key, whichever replica got the first copy; a stored
  tool result answers a retried tool call on any replica.
- Claims are `FOR UPDATE SKIP LOCKED` with leases measured by the database's clock, never a
  host's, so replicas with drifting clocks never take each other's running deliveries.

Any driver or connection error is a `StoreUnavailable`: an informational delivery is then
answered `503` (Vapi sends it again), readiness says why, and tool calls run without replay.
The pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any, Final

from receiver.errors import ReceiverError
from receiver.inbox.backend import IncompatibleSchema, StoreUnavailable
from receiver.inbox.postgres_schema import (
    SCHEMA,
    VERSION,
    migrate,
    refuse_newer,
    schema_version,
)
from receiver.inbox.settings import InboxConfig, masked_url
from receiver.inbox.store import (
    STATUSES,
    Accepted,
    Counts,
    Delivery,
    Purged,
    Stats,
    Status,
    delivery_from_row,
    error_text,
    next_state,
)
from receiver.log import logger

#: `vapi-receiver inbox retry` notifies it: every replica's sweep wakes at once.
WAKE_CHANNEL: Final = "vapi_inbox_work"
#: Replay keys longer than this are stored as their digest.
_LONGEST_KEY: Final = 200
#: Seconds to wait for a connection, and for a statement: past them the database is "down".
CONNECT_TIMEOUT: Final = 5.0
COMMAND_TIMEOUT: Final = 10.0

_COLUMNS: Final = (
    "id, key, type, call_id, status, attempts, error, handlers_done, duplicates, "
    "extract(epoch FROM received_at)::float8, extract(epoch FROM next_attempt_at)::float8, "
    "extract(epoch FROM finished_at)::float8, lease_owner, "
    "greatest(extract(epoch FROM lease_until), 0)::float8"
)
_ADD: Final = f"""
INSERT INTO {SCHEMA}.deliveries AS d (key, type, call_id, body, lease_owner, lease_until)
SELECT key, type, call_id, body, $5, now() + make_interval(secs => $6)
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) AS t(key, type, call_id, body)
ON CONFLICT (key) DO UPDATE SET duplicates = d.duplicates + 1
RETURNING key, id, duplicates
"""


#: A queued `add`: key, type, call id, body, owner, lease, and the caller's future.
_Add = tuple[str, str, str | None, bytes, str, float, "asyncio.Future[Accepted]"]


class PostgresBackend:
    """`InboxBackend` on the PostgreSQL database at `config.url`.

    Args:
        config: The `[inbox]` settings (`url`, `pool_size`).
    """

    def __init__(self, config: InboxConfig, *, migrate: bool = True) -> None:
        assert config.url is not None
        self._migrate = migrate
        self._url = config.url
        self._pool_size = config.pool_size
        self._pool: Any = None
        self._pid = os.getpid()
        self._opening: asyncio.Lock | None = None
        self._queued: list[_Add] = []
        self._behind: set[asyncio.Future[Any]] = set()
        self._listener: Any = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None

    # -- intake and running ----------------------------------------------------------------

    async def add(
        self, *, key: str, kind: str, call_id: str | None, body: bytes, owner: str, lease: float
    ) -> Accepted:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Accepted] = loop.create_future()
        self._queued.append((key, kind, call_id, body, owner, lease, future))
        if len(self._queued) == 1:
            loop.call_soon(self._commit_queued)
        return await future

    def _commit_queued(self) -> None:
        batch, self._queued = self._queued, []
        by_claim: dict[tuple[str, float], list[Any]] = {}
        for item in batch:  # one owner and lease per worker: one statement in practice
            by_claim.setdefault((item[4], item[5]), []).append(item)
        for (owner, lease), items in by_claim.items():
            task = asyncio.ensure_future(self._add_many(owner, lease, items))
            self._behind.add(task)
            task.add_done_callback(self._behind.discard)

    async def _add_many(self, owner: str, lease: float, items: list[Any]) -> None:
        first: dict[str, Any] = {}
        repeats = []
        for item in items:  # a key twice in one statement would be an error: once, then repeats
            if item[0] in first:
                repeats.append(item)
            else:
                first[item[0]] = item
        unique = list(first.values())
        try:
            async with self._connection() as db:
                rows = await db.fetch(
                    _ADD,
                    [i[0] for i in unique],
                    [i[1] for i in unique],
                    [i[2] for i in unique],
                    [i[3] for i in unique],
                    owner,
                    lease,
                )
                if repeats:
                    await db.execute(
                        f"UPDATE {SCHEMA}.deliveries SET duplicates = duplicates + 1 "
                        "WHERE key = ANY($1::text[])",
                        [i[0] for i in repeats],
                    )
        except Exception as exc:  # every caller hears of it, whatever it was
            for item in items:
                if not item[6].done():
                    failure = exc if isinstance(exc, ReceiverError) else _unavailable(exc)
                    item[6].set_exception(failure)
            return
        found = {row[0]: Accepted(id=row[1], duplicate=row[2] > 0) for row in rows}
        for item in unique:
            if not item[6].done():
                item[6].set_result(found[item[0]])
        for item in repeats:
            if not item[6].done():
                item[6].set_result(Accepted(id=found[item[0]].id, duplicate=True))

    async def claim_due(self, owner: str, *, lease: float, limit: int) -> list[Delivery]:
        async with self._connection() as db:
            rows = await db.fetch(
                f"UPDATE {SCHEMA}.deliveries SET lease_owner = $1, "
                "lease_until = now() + make_interval(secs => $2) WHERE id IN ("
                f"SELECT id FROM {SCHEMA}.deliveries WHERE status = 'pending' "
                "AND next_attempt_at <= now() AND lease_until <= now() "
                "ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {_COLUMNS}, body",
                owner,
                lease,
                limit,
            )
        return sorted((delivery_from_row(row) for row in rows), key=lambda d: d.id)

    async def renew(self, owner: str, ids: Collection[int], *, lease: float) -> int:
        if not ids:
            return 0
        async with self._connection() as db:
            status = await db.execute(
                f"UPDATE {SCHEMA}.deliveries SET lease_until = now() + make_interval(secs => $1) "
                "WHERE lease_owner = $2 AND status = 'pending' AND id = ANY($3::bigint[])",
                lease,
                owner,
                list(ids),
            )
        return int(status.rsplit(" ", 1)[-1])

    async def finish(
        self,
        delivery_id: int,
        owner: str,
        *,
        succeeded: Collection[str],
        errors: Mapping[str, str],
        max_attempts: int,
        backoff: Callable[[int], float],
        park: bool = False,
    ) -> Status | None:
        async with self._connection() as db, db.transaction():
            row = await db.fetchrow(
                f"SELECT attempts, handlers_done FROM {SCHEMA}.deliveries "
                "WHERE id = $1 AND lease_owner = $2 AND status = 'pending' FOR UPDATE",
                delivery_id,
                owner,
            )
            if row is None:
                return None
            attempts = row[0] + 1
            done = sorted(set(json.loads(row[1])) | set(succeeded))
            status, wait = next_state(attempts, errors, max_attempts, backoff, park=park)
            await db.execute(
                f"UPDATE {SCHEMA}.deliveries SET status = $2, attempts = $3, error = $4, "
                "handlers_done = $5::jsonb, next_attempt_at = now() + make_interval(secs => $6), "
                "finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END, "
                "lease_owner = NULL, lease_until = '-infinity' WHERE id = $1",
                delivery_id,
                status,
                attempts,
                error_text(errors),
                json.dumps(done),
                wait,
            )
        return status

    # -- tool results ----------------------------------------------------------------------

    async def tool_result(self, key: str, *, window: float) -> str | None:
        async with self._connection() as db:
            result: str | None = await db.fetchval(
                f"SELECT result FROM {SCHEMA}.tool_results WHERE key = $1 "
                "AND stored_at >= now() - make_interval(secs => $2)",
                key,
                window,
            )
        return result

    def save_tool_result(self, key: str, result: str) -> None:
        task = asyncio.ensure_future(self._save_tool_result(key, result))
        self._behind.add(task)
        task.add_done_callback(self._behind.discard)

    async def _save_tool_result(self, key: str, result: str) -> None:
        try:
            async with self._connection() as db:
                await db.execute(
                    f"INSERT INTO {SCHEMA}.tool_results (key, result) VALUES ($1, $2) "
                    "ON CONFLICT (key) DO UPDATE SET result = $2, stored_at = now()",
                    key,
                    result,
                )
        except StoreUnavailable as exc:
            logger.error("could not store a tool result; a retry runs the tool again: %s", exc)

    async def first_sight(self, key: str, *, ttl: float) -> bool:
        if len(key) > _LONGEST_KEY:  # an index entry has a size limit; a digest stays unique
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        async with self._connection() as db:
            inserted = await db.fetchval(
                f"INSERT INTO {SCHEMA}.replay_keys AS r (key, expires_at) "
                "VALUES ($1, now() + make_interval(secs => $2)) "
                "ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at "
                "WHERE r.expires_at <= now() RETURNING true",
                key,
                ttl,
            )
        return bool(inserted)

    # -- for operators and the serving loop ------------------------------------------------

    async def counts(self) -> Counts:
        async with self._connection() as db:
            row = await db.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'pending'), "
                "count(*) FILTER (WHERE status = 'pending' AND lease_until > now()), "
                "count(*) FILTER (WHERE status = 'pending' AND attempts > 0), "
                "count(*) FILTER (WHERE status = 'failed') "
                f"FROM {SCHEMA}.deliveries WHERE status <> 'done'"
            )
        return Counts(pending=row[0], running=row[1], retrying=row[2], failed=row[3])

    async def probe(self) -> None:
        async with self._connection() as db:
            # A write that changes nothing: what storing a delivery needs (a revoked
            # privilege or a read-only database shows here, not only on the next delivery).
            await db.execute(f"UPDATE {SCHEMA}.schema_version SET version = version")

    async def purge(self, *, older_than: float, tool_result_window: float) -> Purged:
        return await self.purge_finished(
            older_than=older_than, tool_result_window=tool_result_window, include_failed=False
        )

    async def maintain(self) -> None:
        return None  # autovacuum keeps the tables

    wakes_on_work = True

    async def wait_for_work(self, timeout: float) -> None:
        """Sleep, unless a `NOTIFY` on `WAKE_CHANNEL` (sent by `retry`) comes first.

        One extra connection per worker listens; if it cannot be opened or is lost, this
        only sleeps, and listening starts again on a later call.
        """
        if self._woken is None:
            self._woken = asyncio.Event()
        if self._listener is None or self._listener.is_closed():
            await self._listen(self._woken)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout)
        self._woken.clear()

    async def _listen(self, woken: asyncio.Event) -> None:
        import asyncpg

        self._listener = None
        try:
            listener = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
            await listener.add_listener(WAKE_CHANNEL, lambda *_: woken.set())
        except Exception:  # the database is down: the sweep's own calls report it
            return
        self._listener = listener

    async def close(self) -> None:
        if self._behind:
            await asyncio.wait(set(self._behind))
        if self._listener is not None and self._pid == os.getpid():
            listener, self._listener = self._listener, None
            with contextlib.suppress(Exception):
                await listener.close(timeout=CONNECT_TIMEOUT)
        if self._pool is not None and self._pid == os.getpid():
            pool, self._pool = self._pool, None
            await pool.close()

    # -- for `vapi-receiver inbox` -----------------------------------------------------------

    async def stats(self) -> Stats:
        async with self._connection() as db:
            grouped = await db.fetch(
                f"SELECT status, type, count(*) FROM {SCHEMA}.deliveries "
                "GROUP BY status, type ORDER BY type"
            )
            totals = await db.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'pending' AND lease_until > now()), "
                "count(*) FILTER (WHERE status = 'pending' AND attempts > 0), "
                f"coalesce(sum(duplicates), 0) FROM {SCHEMA}.deliveries"
            )
            tool_results = await db.fetchval(f"SELECT count(*) FROM {SCHEMA}.tool_results")
        by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
        by_type: dict[str, dict[str, int]] = {}
        for status, kind, count in grouped:
            by_status[status] += count
            by_type.setdefault(kind, dict.fromkeys(STATUSES, 0))[status] = count
        return Stats(by_status, by_type, totals[0], totals[1], int(totals[2]), tool_results)

    async def deliveries(
        self, *, status: Status | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        async with self._connection() as db:
            rows = await db.fetch(
                f"SELECT {_COLUMNS} FROM {SCHEMA}.deliveries "
                "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR type = $2) "
                "ORDER BY id DESC LIMIT $3",
                status,
                kind,
                limit,
            )
        return [delivery_from_row(row) for row in rows]

    async def get(self, delivery_id: int) -> Delivery | None:
        async with self._connection() as db:
            row = await db.fetchrow(
                f"SELECT {_COLUMNS} FROM {SCHEMA}.deliveries WHERE id = $1", delivery_id
            )
        return None if row is None else delivery_from_row(row)

    async def retry(self, delivery_id: int | None = None) -> int:
        """Failed deliveries back to pending (all, or one), and every replica woken."""
        async with self._connection() as db:
            status = await db.execute(
                f"UPDATE {SCHEMA}.deliveries SET status = 'pending', attempts = 0, "
                "next_attempt_at = now(), finished_at = NULL, lease_owner = NULL, "
                "lease_until = '-infinity' "
                "WHERE status = 'failed' AND ($1::bigint IS NULL OR id = $1)",
                delivery_id,
            )
            await db.execute(f"NOTIFY {WAKE_CHANNEL}")
        return _count(status)

    async def purge_finished(
        self, *, older_than: float, tool_result_window: float, include_failed: bool
    ) -> Purged:
        statuses = ["done", "failed"] if include_failed else ["done"]
        async with self._connection() as db:
            deliveries = await db.execute(
                f"DELETE FROM {SCHEMA}.deliveries WHERE status = ANY($2::text[]) "
                "AND finished_at < now() - make_interval(secs => $1)",
                older_than,
                statuses,
            )
            tool_results = await db.execute(
                f"DELETE FROM {SCHEMA}.tool_results "
                "WHERE stored_at < now() - make_interval(secs => $1)",
                tool_result_window,
            )
            await db.execute(f"DELETE FROM {SCHEMA}.replay_keys WHERE expires_at <= now()")
        return Purged(_count(deliveries), _count(tool_results))

    # -- connections -----------------------------------------------------------------------

    def _connection(self) -> _Acquired:
        return _Acquired(self)

    @contextlib.asynccontextmanager
    async def raw_connection(self) -> AsyncIterator[Any]:
        """One connection, schema unchecked: for `inbox migrate` itself."""
        import asyncpg

        try:
            db = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            raise _unavailable(exc) from None
        try:
            yield db
        finally:
            await db.close()

    async def pool(self) -> Any:
        """The pool, created on first use (and again in a forked worker), schema checked."""
        loop = asyncio.get_running_loop()
        if self._pid != os.getpid() or self._pool_loop is not loop:
            # Forked, or another event loop (a test client's per-request loop): the pool's
            # connections belong to the old one and cannot be used here.
            self._pid, self._pool, self._opening, self._pool_loop = os.getpid(), None, None, loop
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                self._pool = await _open_pool(self._url, self._pool_size, self._migrate)
        return self._pool


class _Acquired:
    """`async with backend._connection() as db`: a pooled connection, errors translated.

    A connection that saw any error (the server went away, a statement was cancelled by a
    timeout) is closed rather than handed back: the pool opens a fresh one when it needs
    it, so a broken connection never reaches the next caller.
    """

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend
        self._pool: Any = None
        self._db: Any = None

    async def __aenter__(self) -> Any:
        try:
            self._pool = await self._backend.pool()
            self._db = await self._pool.acquire(timeout=CONNECT_TIMEOUT)
        except IncompatibleSchema:
            raise
        except Exception as exc:
            raise _unavailable(exc) from None
        return self._db

    async def __aexit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if error is not None:
            self._db.terminate()
        with contextlib.suppress(Exception):  # the connection is gone; the pool replaces it
            await self._pool.release(self._db)
        if isinstance(error, Exception) and _is_database_error(error):
            raise _unavailable(error) from None


async def _open_pool(url: str, size: int, migrate_schema: bool) -> Any:
    import asyncpg  # the postgres extra; loaded only for a PostgreSQL inbox

    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=size,
        timeout=CONNECT_TIMEOUT,
        command_timeout=COMMAND_TIMEOUT,
    )
    try:
        async with pool.acquire() as db:
            version = await schema_version(db)
            refuse_newer(version)
            if version < VERSION and not migrate_schema:
                raise IncompatibleSchema(
                    f"the inbox schema in {masked_url(url)} is version {version}, older than "
                    f"this package's {VERSION}: run `vapi-receiver inbox migrate` (a receiver "
                    "starting on it migrates it too)"
                )
            if version < VERSION:
                before, after = await migrate(db)
                logger.info(
                    "inbox schema in %s migrated from version %d to %d",
                    masked_url(url),
                    before,
                    after,
                )
    except BaseException:
        await pool.close()
        raise
    return pool


def _is_database_error(error: Exception) -> bool:
    """Whatever the driver or the network raised (asyncpg's own errors include some that
    derive from neither of its base classes, such as a protocol state error)."""
    return isinstance(error, OSError | TimeoutError) or type(error).__module__.startswith("asyncpg")


def _unavailable(error: Exception) -> StoreUnavailable:
    text = str(error) or type(error).__name__
    return StoreUnavailable(f"PostgreSQL: {text}")


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
