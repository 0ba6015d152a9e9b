"""`vapi-receiver tools APP`: the app's tools as Vapi's function tool definitions.

A tool's parameters in Vapi and the arguments the receiver validates drift apart when both
are written by hand; printed from the registered functions, they cannot.
"""

from __future__ import annotations

import argparse
import json
import sys

from receiver.cli import EXIT_OK, EXIT_USAGE
from receiver.locate import locate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tools",
        help="print the app's tools as Vapi function tool definitions (JSON)",
        description="Print a JSON list with one Vapi function tool definition per tool that "
        "APP registers: name, description (the docstring) and the JSON schema of its "
        "arguments. Create each with Vapi's tool API, or put them in an assistant's "
        "model.tools.",
    )
    parser.add_argument(
        "app", metavar="APP", help="module:attribute of a Receiver (my_app:receiver)"
    )
    parser.add_argument(
        "--server-url",
        metavar="URL",
        help="this receiver's public webhook URL, set as each tool's server",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    located = locate(args.app)
    if located.receiver is None:
        print(
            f"vapi-receiver tools: {args.app} is not a Receiver, nor an app built by one",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(json.dumps(located.receiver.vapi_tools(args.server_url), indent=2))
    return EXIT_OK
