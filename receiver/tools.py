"""Tools: plain functions whose signature is the argument schema.

The model that calls a tool invents its arguments, so they are validated against the
function's type hints before the function runs, and a mismatch becomes an `error` result
that names the argument, which the model can read and correct on its next turn.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from receiver.models import Call, Message, ToolCall

F = TypeVar("F", bound=Callable[..., Any])

TOOL_MARKER = "__vapi_tool__"

#: Parameters annotated with these types are filled from the request, not from arguments.
_INJECTABLE: tuple[type, ...] = (Call, ToolCall, Message)


class ToolError(Exception):
    """Raise this from a tool to send its message to the model as the `error` result.

    Any other exception is logged and answered with a generic error, so that internal
    details (stack traces, SQL, hostnames) never reach the conversation.
    """


@dataclass(frozen=True)
class ToolOptions:
    """What `@tool` records on a method until its `CallHandler` is registered."""

    name: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A registered tool, ready to be called with a `ToolCall`."""

    name: str
    func: Callable[..., Any]
    timeout: float | None
    arguments_model: type[BaseModel]
    injected: dict[str, type] = field(default_factory=dict)
    accepts_extra: bool = False

    def arguments(self, tool_call: ToolCall, message: Message) -> dict[str, Any]:
        """Validated keyword arguments for the function.

        Raises:
            ToolError: naming each argument that is missing or has the wrong type.
        """
        if tool_call.arguments_error:
            raise ToolError(tool_call.arguments_error)
        try:
            validated = self.arguments_model.model_validate(tool_call.arguments)
        except ValidationError as exc:
            raise ToolError(describe_argument_errors(exc)) from None
        # Fields are stored under safe names; their aliases are the parameter names.
        fields = self.arguments_model.model_fields
        kwargs = {(fields[k].alias if k in fields else None) or k: v for k, v in validated}
        if self.accepts_extra and validated.model_extra:
            kwargs.update(validated.model_extra)
        for name, kind in self.injected.items():
            kwargs[name] = _injection(kind, tool_call, message)
        return kwargs

    def vapi_tool(self, server_url: str | None = None) -> dict[str, Any]:
        """This tool as Vapi's function tool definition, to create it in Vapi.

        The parameters are the JSON schema of the arguments the receiver validates, so the
        model is told exactly what is accepted; injected parameters (`Call`, the message)
        are left out, the model never supplies them. The description is the function's
        docstring, which the model reads to decide when to call the tool.

        Args:
            server_url: Where Vapi sends the tool's calls: this receiver's public URL
                (`https://.../vapi`). Without it, the tool uses the assistant's server URL.
        """
        parameters = _for_vapi(self.arguments_model.model_json_schema(by_alias=True))
        function: dict[str, Any] = {"name": self.name, "parameters": parameters}
        if description := inspect.getdoc(self.func):
            function["description"] = description
        definition: dict[str, Any] = {"type": "function", "function": function}
        if server_url:
            definition["server"] = {"url": server_url}
        return definition


def _for_vapi(schema: Any) -> Any:
    """Pydantic's JSON schema in the shape Vapi's tool parameters take.

    Vapi wants a `type` on every property, so an optional `X | None` (pydantic's
    `anyOf: [X, null]`) becomes plain `X`: the model may leave it out, which is what a
    default of `None` means. Generated `title`s are dropped: they only add noise.
    """
    if isinstance(schema, list):
        return [_for_vapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1 and isinstance(kept[0], dict):
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            schema = {**kept[0], **rest}
    return {
        key: _for_vapi(value)
        for key, value in schema.items()
        if not (key == "title" and isinstance(value, str))
    }


def describe_argument_errors(exc: ValidationError) -> str:
    """One line per problem, e.g. "argument 'order_id': Field required"."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "arguments"
        parts.append(f"argument '{location}': {error['msg']}")
    return "invalid arguments: " + "; ".join(parts)


def build_tool_spec(
    func: Callable[..., Any], *, name: str | None = None, timeout: float | None = None
) -> ToolSpec:
    """Read a function's signature into a `ToolSpec`.

    Raises:
        TypeError: when the signature cannot be called with keyword arguments.
    """
    if timeout is not None and timeout <= 0:
        raise TypeError(f"tool timeout must be positive, got {timeout!r}")
    tool_name = name or func.__name__
    try:
        hints = get_type_hints(func, include_extras=True)
    except TypeError as exc:  # a functools.partial or callable object, say
        raise TypeError(
            f"tool {tool_name!r}: type hints cannot be read ({exc}); register a function"
        ) from None
    fields: dict[str, Any] = {}
    injected: dict[str, type] = {}
    accepts_extra = False
    for param in inspect.signature(func).parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
            raise TypeError(
                f"tool {tool_name!r}: parameter {param.name!r} must be passable by keyword"
            )
        annotation = hints.get(param.name, Any)
        if (kind := _injectable(annotation)) is not None:
            injected[param.name] = kind
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="allow" if accepts_extra else "ignore"),
        **_aliased(fields),
    )
    return ToolSpec(tool_name, func, timeout, model, injected, accepts_extra)


def _injectable(annotation: Any) -> type | None:
    """The request type a parameter receives, seen through `Annotated` and `X | None`.

    Unwrapped so that `call: Call | None = None` is filled from the request too: taken as an
    argument instead, it would be one the model could forge.
    """
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        break
    if isinstance(annotation, type) and issubclass(annotation, _INJECTABLE):
        return annotation
    return None


def _aliased(fields: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Model fields under names pydantic accepts, each taking its parameter's name as alias.

    Pydantic refuses or shadows field names with a leading underscore and those of
    `BaseModel` attributes (`schema`, `json`, `model_config`...), which are fine parameter
    names; the alias keeps both the arguments read and the names in error texts unchanged.
    """
    return {
        f"arg_{index}": (annotation, Field(default, alias=name))
        for index, (name, (annotation, default)) in enumerate(fields.items())
    }


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(name: str | None = None, /, *, timeout: float | None = None) -> Callable[[F], F]: ...
def tool(
    func_or_name: F | str | None = None, /, *, timeout: float | None = None
) -> F | Callable[[F], F]:
    """Mark a `CallHandler` method as a tool; `@tool`, `@tool("name")` or `@tool(timeout=5)`.

    The tool's name is the method name unless given. Arguments are validated against the
    method's type hints; parameters annotated `Call`, `ToolCall` or a message type receive
    the request's objects instead.
    """

    def mark(func: F, name: str | None) -> F:
        setattr(func, TOOL_MARKER, ToolOptions(name=name, timeout=timeout))
        return func

    if callable(func_or_name):
        return mark(func_or_name, None)
    return lambda func: mark(func, func_or_name)


def _injection(kind: type, tool_call: ToolCall, message: Message) -> object:
    if issubclass(kind, ToolCall):
        return tool_call
    if issubclass(kind, Call):
        return message.call
    return message
