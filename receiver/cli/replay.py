"""`vapi-receiver replay FILE`: post captured deliveries again, and check every answer.

The `stripe events resend` of this package. FILE holds deliveries in any of the forms
people keep them in:

- a JSON file with one envelope `{"message": {...}}` or a list of them;
- JSON Lines, one envelope per line;
- a recording (`[receiver] record_to`), one `{"received_at", "headers", "body"}` per line,
  whose `body` is re-sent byte for byte with the recorded headers.

Each delivery gets the credential Vapi would attach (as for `send`), one output line, and
the same check of its answer; exit 1 if any failed. A recorded delivery keeps its HMAC
message id and is signed afresh, as when Vapi retries a delivery.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from receiver.authentication import read_envelope
from receiver.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from receiver.cli._credentials import Signer, TokenUnavailable, add_credential_options
from receiver.cli._http import Unreachable, check_url, post
from receiver.cli._judge import judge
from receiver.cli.send import DEFAULT_TIMEOUT_S, DEFAULT_URL
from receiver.errors import BadRequest

#: Recorded headers that describe the original connection, not the delivery.
_TRANSPORT_HEADERS: Final = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "accept-encoding",
    }
)


class ReplayFileError(ValueError):
    """FILE cannot be read as deliveries; says where and why."""


@dataclass(frozen=True)
class Delivery:
    """One delivery to re-post: the exact body, and the headers recorded with it."""

    label: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def message(self) -> dict[str, Any] | None:
        try:
            return read_envelope(self.body)
        except BadRequest:
            return None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="post captured or recorded deliveries again",
        description="Post the deliveries in FILE (a JSON envelope or list of them, JSON "
        "Lines of envelopes, or a record_to recording) with the credential Vapi would "
        "attach, print one line per delivery and a summary. Exit 1 if any failed.",
    )
    parser.add_argument("file", metavar="FILE", help="the deliveries")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"receiver URL (default {DEFAULT_URL})")
    add_credential_options(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per delivery (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if problem := check_url(args.url):
        print(f"vapi-receiver replay: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        deliveries = read_deliveries(args.file)
    except (OSError, ReplayFileError) as exc:
        print(f"vapi-receiver replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    signer = Signer.from_args(args)
    failed = 0
    for delivery in deliveries:
        message = delivery.message
        credential = signer.credential(message)
        kind = str(message.get("type")) if message else "(not an envelope)"
        try:
            headers = signer.headers(credential, delivery.body, original=delivery.headers)
            reply = post(args.url, delivery.body, delivery.headers | headers, args.timeout)
        except (TokenUnavailable, Unreachable) as exc:
            failed += 1
            reason = exc if isinstance(exc, TokenUnavailable) else f"unreachable: {exc}"
            print(f"{delivery.label:>8}  {kind:<30}  ---  FAILED: {reason}")
            continue
        verdict = judge(message, reply)
        failed += not verdict.ok
        outcome = f"ok: {verdict.reason}" if verdict.ok else f"FAILED: {verdict.reason}"
        timing = f"{reply.status}  {reply.latency_ms:7.1f} ms"
        print(f"{delivery.label:>8}  {kind:<30}  {timing}  {outcome}")
    total = len(deliveries)
    print(f"replayed {total} deliveries to {args.url}: {total - failed} ok, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def read_deliveries(path: str) -> list[Delivery]:
    """Every delivery in the file, in order, labelled by item or line number.

    Raises:
        OSError: the file cannot be read.
        ReplayFileError: a line or item is neither an envelope nor a recorded delivery.
    """
    with open(path, "rb") as file:
        data = file.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReplayFileError(f"{path}: not UTF-8 (byte {exc.start})") from None
    try:
        whole: Any = json.loads(text)
    except ValueError:
        whole = None  # not one JSON document: JSON Lines
    if whole is not None:
        items = whole if isinstance(whole, list) else [whole]
        deliveries = [_delivery(item, f"#{i}", path) for i, item in enumerate(items, 1)]
    else:
        deliveries = list(_json_lines(text, path))
    if not deliveries:
        raise ReplayFileError(f"{path}: no deliveries in the file")
    return deliveries


def _json_lines(text: str, path: str) -> Iterator[Delivery]:
    # Split on "\n" only: str.splitlines() would also split on U+2028 inside a JSON string.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ReplayFileError(f"{path}: line {number} is not JSON: {exc}") from None
        yield _delivery(item, f"line {number}", path)


def _delivery(item: object, label: str, path: str) -> Delivery:
    if isinstance(item, Mapping) and isinstance(item.get("message"), Mapping):
        return Delivery(label, json.dumps(item, ensure_ascii=False).encode())
    if isinstance(item, Mapping) and isinstance(item.get("body"), str):
        headers = item.get("headers")
        kept = {
            str(name).lower(): str(value)
            for name, value in (headers.items() if isinstance(headers, Mapping) else ())
            if str(name).lower() not in _TRANSPORT_HEADERS
        }
        return Delivery(label, item["body"].encode(), kept)
    raise ReplayFileError(
        f'{path}: {label} is neither an envelope {{"message": ...}} nor a recorded delivery '
        '{"body": "..."}'
    )
