"""One `ToolCall` shape for the several ways Vapi has spelled a tool call.

Vapi's schema, its documentation and its real payloads disagree (docs/protocol.md#tool-calls and
Ambiguities 3): arguments arrive as a JSON string or as an object, under `function.arguments`,
`arguments` or `parameters`; the call list is `toolCallList`, or only `toolWithToolCallList`,
or (in some third-party code) `toolCalls`. Tools and the verifier should not care, so this
module turns all of them into `ToolCall` objects, and never raises on junk input:

- An item that is not an object is skipped: it has no id to answer.
- An object with neither an id nor a name is skipped: nothing can route or answer it.
- An object without a name is kept with `name=""` and `arguments_error` set, so the dispatcher
  can still answer an error result for its id instead of leaving Vapi waiting.
- Arguments that are not an object (invalid JSON, a JSON array, a number...) give
  `arguments={}` and `arguments_error` saying why. Missing, null or empty-string arguments
  are simply `{}` (a function without parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from receiver.jsontext import decode_json, json_kind

#: The id of a legacy `function-call`, which has none; its answer (`{"result": ...}`) needs none.
FUNCTION_CALL_ID: Final = ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A single tool invocation, normalised.

    Attributes:
        id: `toolCallId` to answer with (`""` for a legacy function call).
        name: function name the tool is registered under; `""` if the payload had none.
        arguments: decoded arguments; `{}` when absent or when `arguments_error` is set.
        arguments_error: why the arguments (or the name) could not be used, else None.
        tool: the matching `toolWithToolCallList` entry, which carries the tool's `id`,
            `server`, `async` and `messages`; None if Vapi sent no matching entry.
        raw: the tool-call object exactly as it arrived.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)
    arguments_error: str | None = None
    # Provenance, not identity: two calls are equal when id, name and arguments are.
    tool: dict[str, Any] | None = field(default=None, hash=False, compare=False, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)


def normalise_tool_calls(
    message: Mapping[str, Any], *, decode_arguments: bool = True
) -> list[ToolCall]:
    """The tool calls of a `tool-calls` message, whatever shape they arrived in.

    The first non-empty list of `toolCallList`, `toolWithToolCallList` (using each entry's
    `toolCall`) and legacy `toolCalls` is read. Each call is paired with the
    `toolWithToolCallList` entry whose `toolCall.id` matches, so a tool's id and server are at
    hand even when the calls themselves come from `toolCallList`.

    Args:
        message: the `message` object of the webhook body, camelCase keys.
        decode_arguments: False leaves `arguments` empty, for callers that need only names
            and ids (verification), sparing a JSON decode per call.

    Returns:
        The calls in payload order; see the module docstring for what is skipped.
    """
    if not isinstance(message, Mapping):
        return []
    entries = _list(message.get("toolWithToolCallList"))
    tools_by_id: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and (call_id := _id_of(entry.get("toolCall"))):
            tools_by_id.setdefault(call_id, _dict(entry))
    if items := _list(message.get("toolCallList")):
        pairs = [(item, tools_by_id.get(_id_of(item))) for item in items]
    elif entries:
        pairs = [
            (entry.get("toolCall") or {}, _dict(entry))
            for entry in entries
            if isinstance(entry, Mapping)
        ]
    else:
        pairs = [(item, tools_by_id.get(_id_of(item))) for item in _list(message.get("toolCalls"))]
    return [
        call
        for item, tool in pairs
        if (call := _tool_call(item, tool, decode_arguments)) is not None
    ]


def from_function_call(function_call: Mapping[str, Any]) -> ToolCall:
    """The `ToolCall` of a legacy `function-call` message (`{"name", "parameters"}`).

    Args:
        function_call: the message's `functionCall` object; `parameters` is an object or a
            JSON string (`arguments` is read when `parameters` is absent).

    Returns:
        A call with id `FUNCTION_CALL_ID` (unless the object has a string `id`). Never raises:
        junk gives a call with `arguments_error` set.
    """
    if not isinstance(function_call, Mapping):
        error = f"functionCall must be an object, got {json_kind(function_call)}"
        return ToolCall(FUNCTION_CALL_ID, "", {}, error)
    name = _first_str(function_call.get("name"))
    key = "parameters" if "parameters" in function_call else "arguments"
    arguments, error = decode_arguments(function_call.get(key))
    if not name:
        error = "function call has no name"
    return ToolCall(
        _id_of(function_call) or FUNCTION_CALL_ID,
        name,
        arguments,
        error,
        None,
        _dict(function_call),
    )


def decode_arguments(value: object) -> tuple[dict[str, Any], str | None]:
    """Tool arguments as a dict, from an object or a JSON string.

    Args:
        value: what the payload holds in `arguments` / `parameters`.

    Returns:
        `(arguments, None)` on success, else `({}, reason)`.
    """
    if value is None:
        return {}, None
    if isinstance(value, Mapping):
        return _dict(value), None
    if isinstance(value, str):
        if not value.strip():
            return {}, None
        try:
            decoded = decode_json(value)
        except ValueError as exc:
            return {}, f"arguments are not valid JSON: {exc}"
        if isinstance(decoded, dict):
            return decoded, None
        value = decoded
    return {}, f"arguments must be a JSON object, got {json_kind(value)}"


def _tool_call(item: object, tool: dict[str, Any] | None, decode: bool) -> ToolCall | None:
    if not isinstance(item, Mapping):
        return None
    function = item.get("function")
    if not isinstance(function, Mapping):
        function = {}
    tool_function = (tool or {}).get("function")
    if not isinstance(tool_function, Mapping):
        tool_function = {}
    name = _first_str(
        function.get("name"),
        item.get("name"),
        tool_function.get("name"),
        (tool or {}).get("name"),
    )
    call_id = _id_of(item)
    if not name and not call_id:
        return None
    arguments, error = decode_arguments(_first_present(function, item)) if decode else ({}, None)
    if not name:
        error = "tool call has no function name"
    return ToolCall(call_id, name, arguments, error, tool, _dict(item))


def _first_present(*sources: Mapping[str, Any]) -> object:
    # `function.arguments` (schema), then `arguments` / `parameters` on the item (docs shapes).
    for source in sources:
        for key in ("arguments", "parameters"):
            if key in source:
                return source[key]
    return None


def _id_of(item: object) -> str:
    if not isinstance(item, Mapping):
        return ""
    value = item.get("id")
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _first_str(*values: object) -> str:
    return next((v for v in values if isinstance(v, str) and v), "")


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(value)
