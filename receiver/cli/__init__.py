"""`vapi-receiver`: develop and operate a receiver from the shell.

Each command lives in its own module with a `register(subparsers)` function that adds its
parser and sets `run` (a function of the parsed arguments returning the exit code).
Exit codes: 0 success, 1 the thing checked is wrong (refused, malformed, doctor errors),
2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from receiver.errors import ReceiverError
from receiver.inbox.backend import StoreUnavailable

#: Modules of `receiver.cli` that provide a command, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "serve",
    "send",
    "replay",
    "doctor",
    "link",
    "inbox",
    "tool_definitions",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vapi-receiver",
        description="Serve, exercise and inspect a Vapi server-URL receiver.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"receiver.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except StoreUnavailable as exc:  # the database is down, not the command wrong
        print(f"vapi-receiver {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ReceiverError as exc:
        print(f"vapi-receiver {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code
