"""The inbox's operations on one SQLite connection, with no threads and no event loop.

The receiver calls these from its one inbox thread and the CLI calls them directly. Every
write runs in `BEGIN IMMEDIATE`, so a claim (`UPDATE ... WHERE status='pending' AND the lease
ran out`) is atomic across all the processes sharing the file: two workers never run the
same delivery at the same time, however their requests interleave.

A delivery is `pending` (waiting for its first run, running under a lease, or waiting for a
retry), `done` (every handler succeeded) or `failed` (parked after `max_attempts` runs, or
because it cannot be parsed at all). Which handlers already succeeded is recorded, so a
retry runs only the ones that failed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from receiver.inbox.schema import connect

Status = Literal["pending", "done", "failed"]
STATUSES: Final[tuple[Status, ...]] = ("pending", "done", "failed")

_MAX_ERROR_CHARS: Final = 2000
_COLUMNS: Final = (
    "id, key, type, call_id, status, attempts, error, handlers_done, duplicates, "
    "received_at, next_attempt_at, finished_at, lease_owner, lease_until"
)


@dataclass(frozen=True)
class Delivery:
    """One stored delivery; `body` is loaded only when the delivery is claimed to run."""

    id: int
    key: str
    type: str
    call_id: str | None
    status: Status
    attempts: int
    error: str | None
    handlers_done: frozenset[str]
    duplicates: int
    received_at: float
    next_attempt_at: float
    finished_at: float | None
    lease_owner: str | None
    lease_until: float
    body: bytes = field(default=b"", repr=False)

    def to_json(self) -> dict[str, Any]:
        """The fields an operator looks at (never the body, which may hold personal data)."""
        return {
            "id": self.id,
            "type": self.type,
            "call_id": self.call_id,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "handlers_done": sorted(self.handlers_done),
            "duplicates": self.duplicates,
            "received_at": self.received_at,
            "next_attempt_at": self.next_attempt_at if self.status == "pending" else None,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class Accepted:
    """The result of storing a delivery: its id, and whether it had been stored before."""

    id: int
    duplicate: bool


@dataclass(frozen=True)
class Stats:
    """Counts for `inbox stats`."""

    by_status: Mapping[str, int]
    by_type: Mapping[str, Mapping[str, int]]
    running: int
    retrying: int
    duplicates: int
    tool_results: int

    def to_json(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_status.values()),
            "by_status": dict(self.by_status),
            "by_type": {kind: dict(counts) for kind, counts in self.by_type.items()},
            "running": self.running,
            "retrying": self.retrying,
            "duplicates_dropped": self.duplicates,
            "tool_results": self.tool_results,
        }


@dataclass(frozen=True)
class Counts:
    """What is not done yet, for metrics: read through the status index, never the done rows."""

    pending: int
    running: int
    retrying: int
    failed: int


@dataclass(frozen=True)
class Purged:
    deliveries: int
    tool_results: int


class InboxStore:
    """Inbox operations on one connection; use it from one thread at a time.

    Args:
        connection: From `receiver.inbox.schema.connect`.
        clock: Seconds since the epoch; tests pass a fake one to step through backoffs.
    """

    def __init__(
        self, connection: sqlite3.Connection, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = connection
        self._clock = clock

    @classmethod
    def open(
        cls,
        path: str,
        *,
        synchronous: str = "normal",
        create: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> InboxStore:
        """Open (and by default create) the inbox at `path`; see `schema.connect`."""
        return cls(connect(path, synchronous=synchronous, create=create), clock=clock)

    def close(self) -> None:
        self._db.close()

    def tune_for_the_loop(self, busy_timeout_ms: int) -> None:
        """Settings for a connection used on the event loop: wait for another process's lock
        only briefly, and leave checkpoints (which sync the file) to `checkpoint`, elsewhere."""
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._db.execute("PRAGMA wal_autocheckpoint = 0")

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and empty it.

        TRUNCATE waits (up to the busy timeout) for the writers of the moment, and keeps new
        ones out until it is done; a passive checkpoint would never catch up with a loop
        that keeps writing, and the WAL would grow without bound. The event loop's writes
        meanwhile go to this thread, queued behind it, instead of waiting on the loop.
        """
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for several calls (group commit): committed at the end, or not.

        Inside it, the methods write into this transaction instead of committing their own;
        run each in `in_savepoint` so that one that fails leaves the others' writes in.

        Raises:
            sqlite3.Error: when the batch could not begin or commit; nothing was written.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            if not self._db.in_transaction:
                raise sqlite3.OperationalError("the batch's transaction was rolled back")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def in_savepoint(self, job: Callable[[InboxStore], Any]) -> tuple[Any, Exception | None]:
        """Run `job(self)` inside `batch`: its result, or its exception with its writes undone.

        Raises:
            sqlite3.Error: when the batch's transaction itself is gone (SQLite rolls it back
                on some errors, such as a full disk); the whole batch must not commit.
        """
        if not self._db.in_transaction:
            raise sqlite3.OperationalError("the batch's transaction was rolled back")
        self._db.execute("SAVEPOINT job")
        try:
            result = job(self)
        except Exception as exc:  # the job's caller raises it
            self._db.execute("ROLLBACK TO job")
            self._db.execute("RELEASE job")
            return None, exc
        self._db.execute("RELEASE job")
        return result, None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self._db.in_transaction:  # inside `batch`: its savepoint undoes this on error
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def probe(self) -> None:
        """Take the write lock and release it, writing nothing: what storing needs first.

        Raises:
            sqlite3.Error: the file is read-only, or locked by another process for longer
                than the busy timeout, or no longer usable.
        """
        with self._write():
            pass

    # -- intake and running --------------------------------------------------------------

    def add(
        self,
        *,
        key: str,
        kind: str,
        call_id: str | None,
        body: bytes,
        owner: str,
        lease: float,
    ) -> Accepted:
        """Store a delivery, already claimed by `owner`, unless its key is known.

        The claim lets the worker that received it run it at once, while any worker may take
        it over once `lease` seconds pass without renewal (the receiver died).
        """
        now = self._clock()
        with self._write() as db:
            row = db.execute(
                "INSERT INTO deliveries (key, type, call_id, body, received_at, "
                "next_attempt_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET duplicates = duplicates + 1 "
                "RETURNING id, duplicates",
                (key, kind, call_id, body, now, now, owner, now + lease),
            ).fetchone()
        return Accepted(id=row[0], duplicate=row[1] > 0)

    def claim_due(self, owner: str, *, lease: float, limit: int) -> list[Delivery]:
        """Claim up to `limit` pending deliveries that are due and not leased by anyone."""
        now = self._clock()
        with self._write() as db:
            rows = db.execute(
                f"UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id IN ("
                "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
                "AND lease_until <= ? ORDER BY next_attempt_at, id LIMIT ?) "
                f"RETURNING {_COLUMNS}, body",
                (owner, now + lease, now, now, limit),
            ).fetchall()
        return sorted((delivery_from_row(row) for row in rows), key=lambda d: d.id)

    def renew(self, owner: str, ids: Collection[int], *, lease: float) -> int:
        """Extend `owner`'s leases on the deliveries it is still running."""
        if not ids:
            return 0
        until = self._clock() + lease
        renewed = 0
        chunk = list(ids)
        with self._write() as db:
            for start in range(0, len(chunk), 500):
                part = chunk[start : start + 500]
                marks = ",".join("?" * len(part))
                renewed += db.execute(
                    f"UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? "
                    f"AND status = 'pending' AND id IN ({marks})",
                    (until, owner, *part),
                ).rowcount
        return renewed

    def finish(
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
        """Record one run: done, a retry after `backoff(attempts)`, or parked as failed.

        Args:
            delivery_id: The delivery that ran.
            owner: Who ran it; nothing is written if another worker has taken it over.
            succeeded: Handlers that succeeded in this run; they are skipped from now on.
            errors: Handler name to error text, for those that failed.
            max_attempts: Runs after which a failing delivery is parked.
            backoff: Seconds to wait after the n-th failed run.
            park: Give up at once (the delivery cannot run, whatever the number of tries).

        Returns:
            The new status, or `None` when the delivery was no longer ours.
        """
        now = self._clock()
        with self._write() as db:
            row = db.execute(
                "SELECT attempts, handlers_done FROM deliveries "
                "WHERE id = ? AND lease_owner = ? AND status = 'pending'",
                (delivery_id, owner),
            ).fetchone()
            if row is None:
                return None
            attempts = row[0] + 1
            done = sorted(set(json.loads(row[1])) | set(succeeded))
            error = error_text(errors)
            status, wait = next_state(attempts, errors, max_attempts, backoff, park=park)
            next_at, finished = now + wait, (None if status == "pending" else now)
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, error = ?, handlers_done = ?, "
                "next_attempt_at = ?, finished_at = ?, lease_owner = NULL, lease_until = 0 "
                "WHERE id = ?",
                (status, attempts, error, json.dumps(done), next_at, finished, delivery_id),
            )
        return status

    # -- tool results ----------------------------------------------------------------------

    def tool_result(self, key: str, *, window: float) -> str | None:
        """The stored result for a tool call, if stored within the last `window` seconds."""
        row = self._db.execute(
            "SELECT result FROM tool_results WHERE key = ? AND stored_at >= ?",
            (key, self._clock() - window),
        ).fetchone()
        return None if row is None else str(row[0])

    def save_tool_result(self, key: str, result: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO tool_results (key, result, stored_at) VALUES (?, ?, ?)",
                (key, result, self._clock()),
            )

    # -- for operators ---------------------------------------------------------------------

    def stats(self) -> Stats:
        now = self._clock()
        by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
        by_type: dict[str, dict[str, int]] = {}
        for status, kind, count in self._db.execute(
            "SELECT status, type, COUNT(*) FROM deliveries GROUP BY status, type ORDER BY type"
        ):
            by_status[status] = by_status.get(status, 0) + count
            by_type.setdefault(kind, dict.fromkeys(STATUSES, 0))[status] = count
        running, retrying, duplicates = self._db.execute(
            "SELECT COALESCE(SUM(status = 'pending' AND lease_until > ?), 0), "
            "COALESCE(SUM(status = 'pending' AND attempts > 0), 0), "
            "COALESCE(SUM(duplicates), 0) FROM deliveries",
            (now,),
        ).fetchone()
        (tool_results,) = self._db.execute("SELECT COUNT(*) FROM tool_results").fetchone()
        return Stats(by_status, by_type, running, retrying, duplicates, tool_results)

    def counts(self) -> Counts:
        """Pending (and of them running, and waiting for a retry) and failed deliveries.

        Unlike `stats`, which reads every row (0.4 s for 200,000 on a laptop, holding the
        inbox's thread), this reads only the pending and failed ones, through the index.
        """
        pending, running, retrying = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(lease_until > ?), 0), COALESCE(SUM(attempts > 0), 0) "
            "FROM deliveries WHERE status = 'pending'",
            (self._clock(),),
        ).fetchone()
        (failed,) = self._db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'failed'"
        ).fetchone()
        return Counts(pending, running, retrying, failed)

    def deliveries(
        self, *, status: Status | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """The most recent deliveries, newest first, optionally of one status and type."""
        clauses: list[str] = []
        params: list[str] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if kind is not None:
            clauses.append("type = ?")
            params.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [delivery_from_row(row) for row in rows]

    def get(self, delivery_id: int) -> Delivery | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return None if row is None else delivery_from_row(row)

    def retry(self, delivery_id: int | None = None) -> int:
        """Send failed deliveries (one, or all when `delivery_id` is None) back to pending.

        They get a fresh set of `max_attempts` runs, due now; the handlers that already
        succeeded stay skipped. A running receiver picks them up within a second or so;
        otherwise the next one to start does.

        Returns:
            How many deliveries were sent back.
        """
        now = self._clock()
        only = "" if delivery_id is None else "AND id = ?"
        params = (now,) if delivery_id is None else (now, delivery_id)
        with self._write() as db:
            return db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, "
                f"finished_at = NULL, lease_owner = NULL, lease_until = 0 "
                f"WHERE status = 'failed' {only}",
                params,
            ).rowcount

    def purge(
        self, *, older_than: float, tool_result_window: float, include_failed: bool = False
    ) -> Purged:
        """Delete done (and optionally failed) deliveries finished more than `older_than` s ago.

        Tool results older than `tool_result_window` go too: they can no longer be replayed.
        """
        now = self._clock()
        statuses = "('done', 'failed')" if include_failed else "('done')"
        with self._write() as db:
            deliveries = db.execute(
                f"DELETE FROM deliveries WHERE status IN {statuses} AND finished_at < ?",
                (now - older_than,),
            ).rowcount
            tool_results = db.execute(
                "DELETE FROM tool_results WHERE stored_at < ?", (now - tool_result_window,)
            ).rowcount
        return Purged(deliveries, tool_results)


def delivery_from_row(row: Sequence[Any]) -> Delivery:
    """A delivery from its columns in `_COLUMNS` order, then optionally the body (any store)."""
    return Delivery(
        id=row[0],
        key=row[1],
        type=row[2],
        call_id=row[3],
        status=row[4],
        attempts=row[5],
        error=row[6],
        handlers_done=frozenset(json.loads(row[7])),
        duplicates=row[8],
        received_at=row[9],
        next_attempt_at=row[10],
        finished_at=row[11],
        lease_owner=row[12],
        lease_until=row[13],
        body=bytes(row[14]) if len(row) > 14 else b"",
    )


def next_state(
    attempts: int,
    errors: Mapping[str, str],
    max_attempts: int,
    backoff: Callable[[int], float],
    *,
    park: bool,
) -> tuple[Status, float]:
    """After a delivery's `attempts`-th run: done, parked as failed, or pending again, and
    the seconds until it is due (any store)."""
    if not errors and not park:
        return "done", 0.0
    if park or attempts >= max_attempts:
        return "failed", 0.0
    return "pending", backoff(attempts)


def error_text(errors: Mapping[str, str]) -> str | None:
    if not errors:
        return None
    text = "; ".join(f"{name}: {error}" for name, error in errors.items())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"
