"""Tool calls as they appear in messages: the call the model makes and the tool it calls.

`tool-calls` carries each call twice (`toolCallList`, and `toolWithToolCallList` next to the
tool's definition) and the assistant carries the definitions too; building all of them from
the same name and arguments keeps them in agreement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["arguments_of", "make_tool_call", "to_tool_calls", "tool_definition"]

Json = dict[str, Any]

TOOL_SERVER_URL: Final = "https://receiver.example.com/vapi/tools"

#: Descriptions for the tools of the sample conversation; other names get a generic one.
TOOL_DESCRIPTIONS: Final = {
    "lookup_order": "Look up an order by its number and return its status and delivery date.",
    "create_return_label": "Email a prepaid return label for an order to the account address.",
}


def make_tool_call(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    id: str | None = None,
    *,
    arguments_as_json: bool = False,
) -> Json:
    """One entry of `toolCallList`: `{id, type: "function", function: {name, arguments}}`.

    Real payloads carry `arguments` as a JSON object, while the SDK schema says string;
    `arguments_as_json=True` produces the schema's form so both can be tested.

    Args:
        name: The function name the model called.
        arguments: The arguments the model supplied (default: none).
        id: The tool call id; default a fresh OpenAI-style `call_...` id.
        arguments_as_json: Encode the arguments as a JSON string instead of an object.

    Returns:
        The tool call as a dict.

    Example:
        >>> make_tool_call("lookup_order", {"order_id": "A-1042"}, id="call_1")["function"]
        {'name': 'lookup_order', 'arguments': {'order_id': 'A-1042'}}
    """
    args = dict(arguments or {})
    return {
        "id": id if id is not None else "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args) if arguments_as_json else args},
    }


def to_tool_calls(items: Iterable[Any], *, arguments_as_json: bool = False) -> list[Json]:
    """Tool calls from the short forms tests write: `(name, arguments)`, a bare name, or a
    `make_tool_call` dict (kept as is, id included).

    Raises:
        TypeError: An item is none of these.
    """
    calls = []
    for item in items:
        if isinstance(item, dict):
            calls.append(item)
        elif isinstance(item, str):
            calls.append(make_tool_call(item, arguments_as_json=arguments_as_json))
        elif isinstance(item, tuple) and len(item) == 2:
            calls.append(make_tool_call(*item, arguments_as_json=arguments_as_json))
        else:
            raise TypeError(
                "tool_calls= takes (name, arguments) pairs, names or make_tool_call() dicts, "
                f"not {item!r}"
            )
    return calls


def arguments_of(call: Json) -> Mapping[str, Any]:
    """The arguments of a tool call as a mapping, whichever form they are in."""
    arguments = call["function"]["arguments"]
    if isinstance(arguments, str):
        arguments = json.loads(arguments) if arguments else {}
    return arguments if isinstance(arguments, Mapping) else {}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def tool_definition(name: str, arguments: Mapping[str, Any]) -> Json:
    """The function tool an assistant defines for `name` (an entry of `model.tools`).

    Its JSON-schema parameters are derived from example arguments, so the definition and
    the calls agree.
    """
    description = TOOL_DESCRIPTIONS.get(name, name.replace("_", " ").capitalize() + ".")
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": _json_type(v)} for k, v in arguments.items()},
                "required": list(arguments),
            },
        },
        "async": False,
        "server": {"url": TOOL_SERVER_URL, "timeoutSeconds": 20},
        "messages": [],
    }
