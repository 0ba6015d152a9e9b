"""`vapi-receiver send TYPE`: post one realistic message and check the answer like Vapi would.

The `stripe trigger` of this package: the message comes from `make_message`, so every type
can be tried without a call, and the answer is checked against what Vapi accepts for that
type (`_judge`). Exit 0 when Vapi would accept the answer, 1 when it is refused (401...),
unreachable, too slow or malformed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Final

from receiver.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from receiver.cli._credentials import Signer, TokenUnavailable, add_credential_options
from receiver.cli._http import Reply, Unreachable, check_url, post
from receiver.cli._judge import Verdict, judge
from receiver.jsontext import decode_json
from receiver.message_types import REQUEST_TYPES, TYPES_IN_ORDER
from receiver.samples import REMOVE, make_message

DEFAULT_URL: Final = "http://127.0.0.1:8000/vapi"
DEFAULT_TIMEOUT_S: Final = 20.0
"""Vapi's default `server.timeoutSeconds`."""

#: Answers longer than this are cut when printed; the check still reads all of it.
_MAX_PRINTED: Final = 4000

_EXAMPLES: Final = """\
examples:
  vapi-receiver send tool-calls --tool lookup_order --args '{"order_id": "A-1042"}'
  vapi-receiver send assistant-request --phone-number-id pn-1 --customer-number +14155550100
  vapi-receiver send end-of-call-report --set minutes=30 --config vapi.toml
  vapi-receiver send status-update --set status=ended --set call__ended_reason=voicemail
  vapi-receiver send --list
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send",
        help="post a realistic message of any type and check the answer",
        description="Post a realistic message of one type, with the credential Vapi would "
        "attach, then print the status, latency and answer and check the answer's shape "
        "against what Vapi accepts. Exit 1 when refused, unreachable or malformed.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("type", nargs="?", metavar="TYPE", help="message type; see --list")
    parser.add_argument("--list", action="store_true", help="list the message types and exit")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"receiver URL (default {DEFAULT_URL})")
    add_credential_options(parser)
    add_message_options(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up after this long (default {DEFAULT_TIMEOUT_S:g}, Vapi's default)",
    )
    parser.set_defaults(run=run)


def add_message_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape the message; `overrides_from(args)` turns them into keywords."""
    parser.add_argument(
        "--tool",
        action=_ToolCallAction,
        dest="tool_calls",
        metavar="NAME",
        help="tool-calls: a tool call (repeat for several); function-call: the function",
    )
    parser.add_argument(
        "--args",
        action=_ToolCallAction,
        dest="tool_calls",
        metavar="JSON",
        help="the JSON object of arguments of the --tool before it",
    )
    parser.add_argument("--phone-number-id", help="call.phoneNumberId and phoneNumber.id")
    parser.add_argument("--assistant-id", help="call.assistantId and assistant.id")
    parser.add_argument("--customer-number", help="the caller's number, e.g. +14155550100")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="any override, as make_message keywords: call__assistant_id=asst-1, "
        "minutes=30; VALUE is parsed as JSON when it parses, else taken as a string",
    )
    parser.add_argument(
        "--unset", action="append", default=[], metavar="PATH", help="remove a key: assistant"
    )


def run(args: argparse.Namespace) -> int:
    if args.list:
        print_types()
        return EXIT_OK
    if not args.type:
        print("vapi-receiver send: give a message TYPE (see --list)", file=sys.stderr)
        return EXIT_USAGE
    if problem := check_url(args.url):
        print(f"vapi-receiver send: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        envelope = make_message(args.type, **overrides_from(args))
    except (ValueError, TypeError, IndexError) as exc:
        print(f"vapi-receiver send: {exc}", file=sys.stderr)
        return EXIT_USAGE
    signer = Signer.from_args(args)
    message = envelope["message"]
    body = json.dumps(envelope).encode()
    credential = signer.credential(message)
    print(f"POST {args.url}  {args.type}  {signer.describe(credential)}")
    try:
        reply = post(args.url, body, signer.headers(credential, body), args.timeout)
    except TokenUnavailable as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Unreachable as exc:
        print(f"FAILED: {args.url} is unreachable: {exc}", file=sys.stderr)
        return EXIT_FAILED
    verdict = judge(message, reply)
    print(f"{reply.status} {reply.reason}  {reply.latency_ms:.1f} ms")
    print_body(reply)
    return report(verdict)


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """`make_message` keywords from the message options.

    Raises:
        ValueError: a malformed `--set`, or `--tool` on a type that has no tools.
    """
    overrides: dict[str, Any] = {}
    for option, keyword in (
        ("phone_number_id", "phone_number_id"),
        ("assistant_id", "assistant_id"),
        ("customer_number", "customer_number"),
    ):
        if (value := getattr(args, option)) is not None:
            overrides[keyword] = value
    if calls := args.tool_calls:
        overrides |= _tool_keywords(args.type, calls)
    for item in args.set:
        path, equals, text = item.partition("=")
        if not equals or not path:
            raise ValueError(f"--set {item!r} must be PATH=VALUE, e.g. call__status=ended")
        overrides[path] = _parse_value(text)
    for path in args.unset:
        overrides[path] = REMOVE
    return overrides


def print_types() -> None:
    """Every type the receiver knows, in its table order (the same as `doctor`'s)."""
    requests = [t for t in TYPES_IN_ORDER if t in REQUEST_TYPES]
    others = [t for t in TYPES_IN_ORDER if t not in REQUEST_TYPES]
    print("Request types (Vapi waits for the answer and uses it):")
    print("".join(f"  {t}\n" for t in requests), end="")
    print("Informational types (acknowledged with 200, handlers run after):")
    print("".join(f"  {t}\n" for t in others), end="")


def print_body(reply: Reply) -> None:
    if not reply.body:
        return
    if reply.content_type not in ("application/json", "") and not reply.content_type.endswith(
        "+json"
    ):
        print(f"<{len(reply.body)} bytes of {reply.content_type}>")
        return
    try:
        text = json.dumps(json.loads(reply.body), indent=2, ensure_ascii=False)
    except ValueError:
        text = reply.body.decode("utf-8", errors="replace")
    if len(text) > _MAX_PRINTED:
        text = text[:_MAX_PRINTED] + f"\n... ({len(text) - _MAX_PRINTED} more characters)"
    print(text)


def report(verdict: Verdict) -> int:
    """Print the verdict and its notes; the exit code it means."""
    for note in verdict.notes:
        print(f"note: {note}")
    if verdict.ok:
        print(f"ok: {verdict.reason}")
        return EXIT_OK
    print(f"FAILED: {verdict.reason}", file=sys.stderr)
    return EXIT_FAILED


class _ToolCallAction(argparse.Action):
    """`--tool NAME [--args JSON]`, repeatable; pairs each `--args` with its `--tool`."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        calls: list[tuple[str, dict[str, Any]]] = list(getattr(namespace, self.dest) or [])
        if option_string == "--tool":
            calls.append((str(values), {}))
        elif not calls:
            parser.error("--args must follow the --tool it belongs to")
        else:
            try:
                arguments = decode_json(values)
            except ValueError as exc:
                parser.error(f"--args {values!r} is not JSON: {exc}")
            if not isinstance(arguments, dict):
                parser.error(f"--args must be a JSON object, not {values!r}")
            calls[-1] = (calls[-1][0], arguments)
        setattr(namespace, self.dest, calls)


def _tool_keywords(kind: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    if kind == "tool-calls":
        return {"tool_calls": calls}
    if kind == "function-call":
        if len(calls) > 1:
            raise ValueError("function-call carries one function: give --tool once")
        name, arguments = calls[0]
        return {"function_name": name, "parameters": arguments}
    raise ValueError(f"--tool applies to tool-calls and function-call, not {kind}")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
