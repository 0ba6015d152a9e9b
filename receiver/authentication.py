"""`authenticate`: the whole pre-dispatch sequence, sans I/O, for any web framework.

`(headers, body, config)` in, the verified message out, or a `RequestError` carrying the
HTTP status to answer. The receiver's own endpoint runs this same function, so a Flask or
Django view built on it refuses exactly what the receiver refuses. The order matters: the
envelope is read only far enough to find the winning level, the credential is checked, and
only then is the message handed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from receiver.config import ReceiverConfig
from receiver.credentials import RequestView
from receiver.errors import BadRequest, RequestError, Unauthorized
from receiver.jsontext import decode_json, json_kind
from receiver.log import describe, logger, message_fields
from receiver.verification import (
    Level,
    expected_schemes,
    lower_headers,
    quiet_refusal,
    single_valued_headers,
    verify,
    verify_any,
    winning_levels,
)

__all__ = [
    "Verified",
    "authenticate",
    "check_tool_call_ids",
    "limit_tool_calls",
    "read_envelope",
    "screen",
]


@dataclass(frozen=True)
class Verified:
    """A delivery whose credential the winning level accepted.

    Attributes:
        message: The envelope's `message` object as sent (its `type` is a non-empty
            string), ready for `receiver.models.parse_message` or your own code.
        levels: The winning levels whose credential the request carried, in precedence
            order: usually one; several for tool calls that resolve to different levels;
            none in insecure mode.
    """

    message: dict[str, Any]
    levels: tuple[Level, ...]

    @property
    def type(self) -> str:
        """The message type, e.g. `"tool-calls"`."""
        kind: str = self.message["type"]
        return kind


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    config: ReceiverConfig,
    *,
    method: str = "POST",
    url: str = "",
) -> Verified:
    """Verify one delivery as the receiver does, with no web framework and no handlers.

    In order: the header screen (`screen`), the bound on parsing before verification
    (`max_unverified_parse_bytes`), the envelope (`read_envelope`), the tool-call cap
    (`max_tool_calls`), the winning level and its credential. HMAC credentials remember
    what they accepted (the replay cache lives in the credential objects of `config`), so
    the same signed request is refused the second time: share one `config` across calls.

    `[tools.X]` tables are trusted as written: a tool-calls message naming `X` needs the
    credential of `[tools.X]`. `authenticate` knows no registered tools, so a misspelt table
    would leave the real tool on a broader level; check your tool names once at start-up
    with `receiver.config.check_tool_tables(config, names)`.

    Each refusal is logged at WARNING with its full explanation (which names configured
    levels); the error's `answer` is what may be sent back to anyone.

    Args:
        headers: Request headers; names are matched case-insensitively. A multi-mapping
            whose `items()` repeats a name (Starlette's `Headers`) shows duplicates,
            which are refused for credential headers.
        body: The raw request body, exactly as received.
        config: The receiver's configuration (`receiver.load_config`).
        method: The HTTP method, for HMAC payload formats that sign `{method}`.
        url: The full request URL, for HMAC payload formats that sign `{url}`.

    Returns:
        The verified message and its winning levels.

    Raises:
        BadRequest: the body is not a Vapi envelope, or carries too many tool calls (400).
        Unauthorized: a duplicate credential header, ids that disagree, or a credential
            missing or wrong for the winning level (401).
    """
    fields: dict[str, Any] = {}
    levels: list[Level] = []
    try:
        request = None
        if not config.insecure:
            request = RequestView(screen(headers, config), body, method, url)
            if len(body) > config.max_unverified_parse_bytes:
                verify_any(request, config)  # parsing costs ~25x the body
        message = read_envelope(body)
        fields = message_fields(message)
        limit_tool_calls(message, config.max_tool_calls)
        check_tool_call_ids(message)
        levels = winning_levels(message, config) if request is not None else []
        if request is not None:
            verify(request, levels)
    except RequestError as error:
        error.message_type = fields.get("message_type")
        error.level_kind = levels[0].kind if levels else None
        if isinstance(error, Unauthorized) and error.public is None:
            error.public = quiet_refusal(headers.keys(), expected_schemes(config))
        shown = (error.status, error.message, describe(fields))
        logger.warning("refused with %d: %s %s", *shown, extra=fields)
        raise
    if config.insecure:
        logger.warning("INSECURE mode: accepted without a credential %s", describe(fields))
    return Verified(message, tuple(levels))


def screen(headers: Mapping[str, str], config: ReceiverConfig) -> dict[str, str]:
    """The headers by lower-case name, once they may still carry a valid credential.

    The step before the body is read, so that a stranger costs no memory: a second value
    of a credential header is refused, and so is a request that no credential of any
    configured level can accept on its headers alone. Secrets, Bearer and OAuth2 are
    decided in full; an HMAC credential only refuses a missing header or a stale
    timestamp here, its signature needs the body. `authenticate` screens again, so a
    server may skip this; calling it first is what keeps a large body unread.

    Raises:
        Unauthorized: a duplicate credential header, or no credential can accept these.
    """
    if config.insecure:
        return {name.lower(): value for name, value in headers.items()}
    lowered = lower_headers(headers, single_valued_headers(config))
    verify_any(RequestView(lowered), config, headers_only=True)
    return lowered


def read_envelope(body: bytes) -> dict[str, Any]:
    """The `message` object of a Vapi envelope, with its `type` guaranteed to be a string.

    Raises:
        BadRequest: saying exactly what is wrong with the body.
    """
    try:
        envelope = decode_json(body)
    except ValueError as exc:
        try:  # the decoder checks UTF-8 too, but does not say where it fails
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise BadRequest(f"body is not valid UTF-8 (byte {bad.start})") from None
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise BadRequest(f"body must be a JSON object, not {json_kind(envelope)}")
    message = envelope.get("message")
    if not isinstance(message, dict):
        found = "missing" if message is None else json_kind(message)
        raise BadRequest(f'body must have a "message" object ({found})')
    kind = message.get("type")
    if kind is None and ("toolCallList" in message or "toolWithToolCallList" in message):
        # The SDK marks `type` optional on tool-calls only; a list of tool calls says it all.
        message["type"] = kind = "tool-calls"
    if not isinstance(kind, str) or not kind:
        raise BadRequest('"message.type" must be a non-empty string')
    return message


def limit_tool_calls(message: Mapping[str, Any], limit: int) -> None:
    """Refuse a tool-calls message with more than `limit` calls, before any work per call.

    Verification, dispatch and the answer each walk the calls; a list of 100,000 held the
    event loop for a minute. The longest of the lists Vapi may send is counted.

    Raises:
        BadRequest: naming the count and the limit.
    """
    if message.get("type") != "tool-calls":
        return
    lists = (message.get(key) for key in ("toolCallList", "toolWithToolCallList", "toolCalls"))
    count = max((len(calls) for calls in lists if isinstance(calls, list)), default=0)
    if count > limit:
        raise BadRequest(
            f"tool-calls carries {count} tool calls; this receiver accepts at most {limit} "
            "per request ([receiver] max_tool_calls)",
            reason="too_many_tool_calls",
        )


def check_tool_call_ids(message: Mapping[str, Any]) -> None:
    """Refuse a tool call whose `id` is there but is not a string (a number such as `1.5`).

    Such an id cannot be answered: the result's `toolCallId` would be empty, so Vapi could
    not match it, and the stored results, which are kept by id, would be skipped. Integer
    ids are read as their digits, as before.

    Raises:
        BadRequest: naming the field, e.g. `message.toolCallList[0].id`.
    """
    if message.get("type") != "tool-calls":
        return
    for key in ("toolCallList", "toolWithToolCallList", "toolCalls"):
        items = message.get(key)
        for index, item in enumerate(items if isinstance(items, list) else ()):
            field = f"message.{key}[{index}]"
            if key == "toolWithToolCallList" and isinstance(item, Mapping):
                item, field = item.get("toolCall"), f"{field}.toolCall"
            tool_call_id = item.get("id") if isinstance(item, Mapping) else None
            if tool_call_id is None or (
                isinstance(tool_call_id, str | int) and not isinstance(tool_call_id, bool)
            ):
                continue
            raise BadRequest(
                f"{field}.id must be a string, not {json_kind(tool_call_id)}: "
                "a tool call is answered by its id",
                reason="bad_tool_call_id",
            )
