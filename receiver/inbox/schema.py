"""Opening the inbox file: WAL, the chosen `synchronous` level, and the tables.

WAL lets the CLI and several uvicorn workers read while one of them writes, and with
`synchronous=NORMAL` a commit is in the operating system's hands (the WAL file) before
`commit()` returns: a process killed with `kill -9` right after loses nothing. Only a crash
of the machine can lose the last commits, which `synchronous=FULL` prevents by syncing the
WAL on every commit.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Final

from receiver.errors import ReceiverError

SCHEMA_VERSION: Final = 1

#: Seconds a connection waits for another worker's write lock before giving up.
BUSY_TIMEOUT: Final = 10.0

_TABLES: Final = """
CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE,    -- idempotency key: message id or body digest
    type            TEXT    NOT NULL,
    call_id         TEXT,
    body            BLOB    NOT NULL,           -- the raw request body, exactly as received
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    handlers_done   TEXT    NOT NULL DEFAULT '[]',  -- JSON list of handlers that succeeded
    duplicates      INTEGER NOT NULL DEFAULT 0,     -- repeated deliveries acknowledged
    received_at     REAL    NOT NULL,
    next_attempt_at REAL    NOT NULL,
    finished_at     REAL,
    lease_owner     TEXT,
    lease_until     REAL    NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (status, finished_at);
CREATE TABLE IF NOT EXISTS tool_results (
    key       TEXT PRIMARY KEY,                 -- digest of call, toolCallId, name, levels, args
    result    TEXT NOT NULL,                    -- the ToolCallResult as sent, JSON
    stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tool_results_age ON tool_results (stored_at);
"""


class InboxError(ReceiverError):
    """The inbox file cannot be opened or used (not SQLite, newer schema, missing)."""


def connect(path: str, *, synchronous: str = "normal", create: bool = True) -> sqlite3.Connection:
    """A connection to the inbox at `path`, with its tables, ready for `BEGIN IMMEDIATE`.

    Args:
        path: The SQLite file.
        synchronous: `"normal"` or `"full"`; see the module docstring.
        create: Create the file when missing; the CLI passes `False` so that a typo in a
            path is reported instead of inspecting a new, empty inbox.

    Raises:
        InboxError: naming the path, when the file is missing (and `create` is false), is
            not an SQLite database, or was written by a newer version of this package.
    """
    if not create and not os.path.exists(path):
        raise InboxError(f"no inbox at {path} (check `[inbox] path` or pass --path)")
    try:
        # It holds transcripts and caller numbers: owner-only, like the recording. SQLite
        # gives the -wal and -shm files the mode of the database file. An existing file
        # keeps the mode its owner chose, and is never opened here: closing any descriptor
        # of a file drops every POSIX lock this process holds on it, so another process
        # could then take the last connection's exclusive lock, checkpoint and delete the
        # WAL under the connections still open in this one.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise InboxError(f"cannot open the inbox at {path}: {exc}") from None
    try:
        # Autocommit mode: every write below runs in an explicit BEGIN IMMEDIATE, which
        # takes the write lock up front so that two workers never interleave a claim.
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise InboxError(f"cannot open the inbox at {path}: {exc}") from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise InboxError(
                f"the inbox at {path} has schema version {version}, newer than this "
                f"package's {SCHEMA_VERSION}; upgrade vapi-receiver"
            )
        if version < SCHEMA_VERSION:
            # One script, one transaction: two workers creating the file at once both
            # succeed, the second finding the tables there.
            connection.executescript(
                f"BEGIN IMMEDIATE;{_TABLES}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )
    except sqlite3.Error as exc:
        connection.close()
        raise InboxError(f"cannot use the inbox at {path}: {exc}") from None
    except InboxError:
        connection.close()
        raise
    return connection
