"""Would Vapi accept this reply? The checks `send` and `replay` apply to every answer.

A request type must be answered 200 (2xx for the non-tool types) with the JSON object its
`RESPONSE_MODELS` model accepts, a tool-calls answer must have one result per `toolCallId`
that was sent, voice-request must be raw 16-bit PCM, and an informational type only needs
a 2xx. Anything else is a failure with the reason, the way Vapi would experience it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from receiver.cli._http import Reply
from receiver.jsontext import decode_json
from receiver.message_types import REQUEST_TYPES
from receiver.models.tool_calls import normalise_tool_calls
from receiver.responses import RESPONSE_MODELS, describe_errors, unknown_keys

#: Vapi's deadline for answers, where it is shorter than any timeout we would use anyway.
DEADLINES_S: Final = {"assistant-request": 7.5}

#: Types whose answer Vapi ignores unless the status is exactly 200.
_EXACTLY_200: Final = frozenset({"tool-calls", "function-call"})


@dataclass(frozen=True)
class Verdict:
    """`ok` and one line saying why; `notes` are worth reading but not failures."""

    ok: bool
    reason: str
    notes: tuple[str, ...] = field(default=())


def judge(message: Mapping[str, Any] | None, reply: Reply) -> Verdict:
    """Check `reply` as the answer to `message` (the `message` object, or `None` if unknown)."""
    kind = str((message or {}).get("type", ""))
    if not 200 <= reply.status < 300:
        return Verdict(False, _refusal(reply))
    if kind not in REQUEST_TYPES:
        return Verdict(True, f"acknowledged ({reply.status})")
    deadline = DEADLINES_S.get(kind)
    if deadline is not None and reply.latency_ms > deadline * 1000:
        return Verdict(False, f"too slow: Vapi gives up on {kind} after {deadline:g} s")
    if kind in _EXACTLY_200 and reply.status != 200:
        return Verdict(False, f"status {reply.status}: Vapi ignores a {kind} answer unless 200")
    if kind == "voice-request":
        return _judge_audio(reply)
    return _judge_json(kind, message or {}, reply)


def _refusal(reply: Reply) -> str:
    if 300 <= reply.status < 400:
        where = reply.headers.get("location", "elsewhere")
        return f"redirected ({reply.status}) to {where}: give Vapi the final URL"
    error = ""
    try:
        body = decode_json(reply.body)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            error = body["error"]
    except ValueError:
        error = reply.body[:200].decode("utf-8", errors="replace")
    word = "refused" if reply.status in (401, 403) else "failed"
    return f"{word} with {reply.status} {reply.reason}" + (f": {error}" if error else "")


def _judge_audio(reply: Reply) -> Verdict:
    if reply.content_type == "application/json" or reply.content_type.endswith("+json"):
        return Verdict(False, "voice-request must be answered with raw PCM audio, not JSON")
    size = len(reply.body)
    if size % 2:
        return Verdict(False, f"{size} bytes is not whole 16-bit samples")
    if not size:
        return Verdict(True, "empty audio (silence: no handler, or it failed)")
    return Verdict(True, f"{size} bytes of 16-bit PCM audio")


def _judge_json(kind: str, message: Mapping[str, Any], reply: Reply) -> Verdict:
    try:
        body = decode_json(reply.body)
    except ValueError:
        return Verdict(False, f"the {kind} answer is not JSON")
    if not isinstance(body, dict):
        return Verdict(False, f"the {kind} answer must be a JSON object")
    try:
        answer = RESPONSE_MODELS[kind].model_validate(body)
    except ValidationError as exc:
        return Verdict(False, describe_errors(kind, exc))
    notes = []
    if keys := unknown_keys(answer):
        notes.append(f"keys this receiver's models do not know: {', '.join(keys)}")
    if isinstance(body.get("error"), str):
        notes.append(f"the answer carries an error: {body['error']}")
    if kind == "tool-calls":
        problem = _match_tool_calls(message, body, notes)
        if problem:
            return Verdict(False, problem, tuple(notes))
    return Verdict(True, f"a valid {kind} answer", tuple(notes))


def _match_tool_calls(message: Mapping[str, Any], body: Mapping[str, Any], notes: list[str]) -> str:
    sent = [call.id for call in normalise_tool_calls(message)]
    results = body.get("results") or []
    answered = [str(r.get("toolCallId")) for r in results if isinstance(r, dict)]
    missing = [i for i in sent if i not in answered]
    if missing:
        return f"no result for toolCallId {', '.join(missing)}: Vapi would wait, then fail"
    extra = [i for i in answered if i not in sent]
    if extra:
        return f"result for toolCallId {', '.join(extra)}, which was not sent"
    for result in results:
        if isinstance(result, dict) and result.get("error") is not None:
            notes.append(f"tool {result.get('name')!r} answered an error: {result['error']}")
    return ""
