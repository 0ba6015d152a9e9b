"""`vapi-receiver inbox`: look into the durable inbox, retry what failed, purge what is done.

The command works on the store alone (the SQLite file, or the PostgreSQL database of a
fleet), so it runs beside live receivers or with none running. `retry` does not run handlers itself:
the CLI does not have them, and running them here would bypass the receiver's claims. It
sends the deliveries back to pending, and the running receiver picks them up within about
a second (or the next one to start does).

The store is `--url` or `--path`, else the `[inbox] url` or `path` of `--config` (or
`$VAPI_RECEIVER_CONFIG`), else `$VAPI_RECEIVER_INBOX_URL`, else `$VAPI_INBOX_PATH`, else
`./vapi-inbox.sqlite3`. A relative path is relative to the current directory, as it is for
the receiver: run the command where the receiver runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from receiver.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from receiver.config import config_from_env, load_config
from receiver.inbox import Delivery, InboxConfig, InboxStore
from receiver.inbox.settings import masked_url
from receiver.inbox.store import STATUSES, Purged, Stats, Status

T = TypeVar("T")

_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ERROR_COLUMN: Final = 70


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inbox",
        help="inspect, retry and purge the durable inbox",
        description="Inspect the durable inbox of a receiver (a SQLite file, or PostgreSQL "
        "for a fleet), send failed deliveries back to be run again, purge old ones, and "
        "migrate its schema.",
    )
    where = argparse.ArgumentParser(add_help=False)
    location = where.add_mutually_exclusive_group()
    location.add_argument("--config", metavar="FILE", help="the receiver's TOML configuration")
    location.add_argument("--path", metavar="FILE", help="the inbox file itself")
    location.add_argument("--url", metavar="URL", help="the PostgreSQL inbox of a fleet")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    stats = actions.add_parser(
        "stats", parents=[where], help="counts by status and type", description=_doc(_stats)
    )
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(run=_stats)

    listing = actions.add_parser(
        "list", parents=[where], help="list deliveries, newest first", description=_doc(_list)
    )
    listing.add_argument("--status", choices=STATUSES, help="only deliveries in this status")
    listing.add_argument("--type", metavar="TYPE", help="only this message type")
    listing.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="at most N (default 20)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_list)

    retry = actions.add_parser(
        "retry", parents=[where], help="run failed deliveries again", description=_doc(_retry)
    )
    retry.add_argument("ids", nargs="*", type=_positive_int, metavar="ID", help="delivery ids")
    retry.add_argument("--all-failed", action="store_true", help="every failed delivery")
    retry.set_defaults(run=_retry)

    purge = actions.add_parser(
        "purge", parents=[where], help="delete old finished deliveries", description=_doc(_purge)
    )
    purge.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="AGE",
        help="finished longer ago than AGE, such as 7d, 12h, 30m (default: retention_days)",
    )
    purge.add_argument(
        "--include-failed", action="store_true", help="failed deliveries too, not only done"
    )
    purge.set_defaults(run=_purge)

    migrate = actions.add_parser(
        "migrate", parents=[where], help="create or upgrade the schema", description=_doc(_migrate)
    )
    migrate.set_defaults(run=_migrate)


def parse_duration(text: str) -> float:
    """Seconds in `7d`, `12h`, `30m`, `45s` or `2w`.

    Raises:
        argparse.ArgumentTypeError: for anything else, which argparse reports as usage.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 7d, 12h, 30m or 45s, not {text!r}"
        )
    return float(match[1]) * _UNIT_SECONDS[match[2]]


# -- actions ---------------------------------------------------------------------------------


def _stats(args: argparse.Namespace) -> int:
    """Deliveries by status and by type, plus repeats dropped and tool results kept."""
    store, where = _open(args)
    try:
        stats = store.stats()
    finally:
        store.close()
    if args.json:
        print(json.dumps({"path": where, **stats.to_json()}, indent=2))
        return EXIT_OK
    counts = stats.by_status
    print(f"inbox {where}")
    print(
        f"  pending {counts['pending']:>7}  ({stats.running} running, "
        f"{stats.retrying} waiting to be retried)"
    )
    print(f"  done    {counts['done']:>7}")
    print(f"  failed  {counts['failed']:>7}")
    print(f"  repeated deliveries dropped: {stats.duplicates}")
    print(f"  tool results kept for replay: {stats.tool_results}")
    if stats.by_type:
        print("by type:")
        for kind, by_status in stats.by_type.items():
            shown = "  ".join(f"{status} {by_status[status]:>5}" for status in STATUSES)
            print(f"  {kind:<36} {shown}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    """Deliveries, newest first, with their attempts and last error."""
    status: Status | None = args.status
    store, _where = _open(args)
    try:
        deliveries = store.deliveries(status=status, kind=args.type, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps([delivery.to_json() for delivery in deliveries], indent=2))
        return EXIT_OK
    if not deliveries:
        print("no deliveries" + (f" with status {status}" if status else ""))
        return EXIT_OK
    header = f"{'ID':>6}  {'STATUS':<7}  {'TYPE':<24}  {'CALL':<36}  TRIES  RECEIVED (UTC)"
    print(f"{header}       ERROR")
    for delivery in deliveries:
        print(_row(delivery))
    return EXIT_OK


def _retry(args: argparse.Namespace) -> int:
    """Send failed deliveries back to pending, with a fresh set of attempts.

    Handlers that already succeeded for a delivery are not run again. A running receiver
    picks the deliveries up within about a second, else the next receiver to start does.
    """
    if bool(args.ids) == args.all_failed:
        print("vapi-receiver inbox retry: give delivery IDs or --all-failed", file=sys.stderr)
        return EXIT_USAGE
    store, _where = _open(args)
    problems: list[str] = []
    try:
        if args.all_failed:
            retried = store.retry()
        else:
            retried = 0
            for delivery_id in dict.fromkeys(args.ids):
                if store.retry(delivery_id):
                    retried += 1
                    continue
                found = store.get(delivery_id)
                problems.append(
                    f"no delivery {delivery_id}"
                    if found is None
                    else f"delivery {delivery_id} is {found.status}; only failed ones are retried"
                )
    finally:
        store.close()
    for problem in problems:
        print(f"vapi-receiver inbox retry: {problem}", file=sys.stderr)
    print(
        f"{retried} deliveries sent back to pending; a running receiver runs them within "
        "seconds, otherwise the next one to start does"
    )
    return EXIT_FAILED if problems else EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    """Delete deliveries finished longer ago than AGE, and expired tool results."""
    config = _settings(args)
    older_than = args.older_than
    if older_than is None:
        older_than = config.retention_days * 86400
    store, _where = _open(args)
    try:
        purged = store.purge(
            older_than=older_than,
            tool_result_window=config.tool_result_window,
            include_failed=args.include_failed,
        )
    finally:
        store.close()
    which = "done or failed" if args.include_failed else "done"
    print(
        f"purged {purged.deliveries} {which} deliveries finished more than "
        f"{_age(older_than)} ago, and {purged.tool_results} expired tool results"
    )
    return EXIT_OK


# -- plumbing --------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    """Create the inbox's tables, or bring them to this package's schema version.

    A receiver does the same when it starts; run it ahead of a rolling deploy so that no
    replica starts on a schema it has to change. A schema newer than this package is refused.
    """
    config = _settings(args)
    if config.url is None:
        store = InboxStore.open(config.path)  # creates or checks the file's tables
        store.close()
        print(f"inbox {os.path.abspath(config.path)}: schema up to date")
        return EXIT_OK
    from receiver.inbox.postgres import PostgresBackend
    from receiver.inbox.postgres_schema import migrate

    async def run() -> tuple[int, int]:
        backend = PostgresBackend(config, migrate=False)
        try:
            async with backend.raw_connection() as db:
                return await migrate(db)
        finally:
            await backend.close()

    before, after = asyncio.run(run())
    change = "already at" if before == after else f"migrated from version {before} to"
    print(f"inbox {config.where}: schema {change} version {after}")
    return EXIT_OK


class _Store(Protocol):
    """What the actions use: `InboxStore`, or `_PostgresStore`."""

    def stats(self) -> Stats: ...
    def deliveries(
        self, *, status: Status | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Delivery]: ...
    def get(self, delivery_id: int) -> Delivery | None: ...
    def retry(self, delivery_id: int | None = None) -> int: ...
    def purge(
        self, *, older_than: float, tool_result_window: float, include_failed: bool = False
    ) -> Purged: ...
    def close(self) -> None: ...


class _PostgresStore:
    """The PostgreSQL inbox's operator actions, each run to completion on one event loop."""

    def __init__(self, config: InboxConfig) -> None:
        from receiver.inbox.postgres import PostgresBackend

        self._runner = asyncio.Runner()
        self._backend = PostgresBackend(config, migrate=False)

    def _run(self, action: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(action)

    def stats(self) -> Stats:
        return self._run(self._backend.stats())

    def deliveries(
        self, *, status: Status | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        return self._run(self._backend.deliveries(status=status, kind=kind, limit=limit))

    def get(self, delivery_id: int) -> Delivery | None:
        return self._run(self._backend.get(delivery_id))

    def retry(self, delivery_id: int | None = None) -> int:
        return self._run(self._backend.retry(delivery_id))

    def purge(
        self, *, older_than: float, tool_result_window: float, include_failed: bool = False
    ) -> Purged:
        return self._run(
            self._backend.purge_finished(
                older_than=older_than,
                tool_result_window=tool_result_window,
                include_failed=include_failed,
            )
        )

    def close(self) -> None:
        try:
            self._run(self._backend.close())
        finally:
            self._runner.close()


def _settings(args: argparse.Namespace) -> InboxConfig:
    """The inbox's settings: the store named on the command line, else the configuration's."""
    config = load_config(args.config) if args.config else config_from_env()
    inbox = config.inbox if config is not None else InboxConfig()
    if args.url:
        return dataclasses.replace(inbox, url=args.url)
    if args.path:
        return dataclasses.replace(inbox, path=args.path, url=None)
    return inbox


def _open(args: argparse.Namespace) -> tuple[_Store, str]:
    """The store to act on, and where it is (a file's absolute path, a URL without password)."""
    config = _settings(args)
    if config.url is None:
        return InboxStore.open(config.path, create=False), os.path.abspath(config.path)
    return _PostgresStore(config), masked_url(config.url)


def _row(delivery: Delivery) -> str:
    received = datetime.fromtimestamp(delivery.received_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    error = (delivery.error or "").replace("\n", " ")
    if len(error) > _ERROR_COLUMN:
        error = error[: _ERROR_COLUMN - 1] + "…"
    return (
        f"{delivery.id:>6}  {delivery.status:<7}  {delivery.type:<24}  "
        f"{delivery.call_id or '-':<36}  {delivery.attempts:>5}  {received}  {error}"
    )


def _age(seconds: float) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNIT_SECONDS[unit] and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds / _UNIT_SECONDS[unit]:g}{unit}"
    return f"{seconds:g}s"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def _doc(action: object) -> str:
    return (getattr(action, "__doc__", None) or "").strip()
