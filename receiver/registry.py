"""One table of handlers and tools, whichever way they were registered.

Decorators, `add` calls and `CallHandler` methods all land here, and every mistake that can
be seen without a call (a misspelt type, two answers for one request, a tool named twice)
is refused at registration, when the stack trace still points at the user's line.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar, overload

from receiver.call_handler import CallHandler
from receiver.errors import RegistrationError
from receiver.message_types import KNOWN_TYPES, TOOL_TYPES, TYPE_BY_METHOD_NAME
from receiver.models.catalogue import SPECS
from receiver.tools import TOOL_MARKER, ToolOptions, ToolSpec, build_tool_spec

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class HandlerEntry:
    """A handler with what is needed to call it: `(message)` or `(message, call)`."""

    func: Callable[..., Any]
    takes_call: bool

    @property
    def name(self) -> str:
        return _stable_name(self.func)

    @cached_property
    def qualified_name(self) -> str:
        """Module and qualified name: what the inbox and the metrics call the handler."""
        return f"{getattr(_unwrapped(self.func), '__module__', None) or '?'}.{self.name}"

    @classmethod
    def wrap(cls, func: Callable[..., Any], what: str) -> HandlerEntry:
        _check_callable(func, what)
        positional = _positional_arity(func)
        if positional not in (1, 2):
            raise RegistrationError(
                f"{what}: {getattr(func, '__qualname__', func)!r} must accept (message) or "
                f"(message, call), but takes {positional} positional arguments"
            )
        return cls(func, takes_call=positional == 2)


class HandlerRegistry:
    """Handlers by message type, observers of every type, error hooks and tools."""

    def __init__(self) -> None:
        self._responders: dict[str, HandlerEntry] = {}
        self._listeners: dict[str, list[HandlerEntry]] = {}
        self._any: list[HandlerEntry] = []
        self._error_hooks: list[Callable[..., Any]] = []
        self._tools: dict[str, ToolSpec] = {}

    # -- registration -----------------------------------------------------------------

    def add(
        self, message_type: str, func: Callable[..., Any], *, allow_unknown: bool = False
    ) -> None:
        """Register `func` for `message_type`.

        Request types (assistant-request, transfer-destination-request, ...) take one
        handler, whose return value is the answer. Informational types take any number.

        Raises:
            RegistrationError: for an unknown type (with a suggestion) unless
                `allow_unknown`, a second handler for a request type, or a bad signature.
        """
        self._check_type(message_type, allow_unknown)
        entry = HandlerEntry.wrap(func, f"handler for {message_type!r}")
        spec = SPECS.get(message_type)
        if spec is None or not spec.request:
            self._listeners.setdefault(message_type, []).append(entry)
            return
        if existing := self._responders.get(message_type):
            raise RegistrationError(
                f"{message_type!r} already has a handler ({existing.name}); a request type is "
                f"answered by exactly one handler, so {entry.name} cannot be added"
            )
        if message_type in TOOL_TYPES and self._tools:
            raise RegistrationError(_TOOLS_AND_RESPONDER.format(message_type))
        self._responders[message_type] = entry

    def on(self, *message_types: str, allow_unknown: bool = False) -> Callable[[F], F]:
        """Decorator form of `add`, for one or more types."""
        if not message_types:
            raise RegistrationError("on() needs at least one message type")

        def register(func: F) -> F:
            for message_type in message_types:
                self.add(message_type, func, allow_unknown=allow_unknown)
            return func

        return register

    def on_any(self, func: F) -> F:
        """Observe every verified message (after the answer, like informational handlers)."""
        self._any.append(HandlerEntry.wrap(func, "on_any handler"))
        return func

    def on_error(self, func: F) -> F:
        """Called as `func(error, message)` when a handler or tool raises or overruns."""
        _check_callable(func, "on_error hook")
        if _positional_arity(func) != 2:
            raise RegistrationError("on_error handlers must accept (error, message)")
        self._error_hooks.append(func)
        return func

    def add_tool(
        self, func: Callable[..., Any], *, name: str | None = None, timeout: float | None = None
    ) -> ToolSpec:
        """Register a tool; its name is `name` or the function's name.

        Raises:
            RegistrationError: when the name is taken or the signature is unusable.
        """
        if not callable(func):
            raise RegistrationError(f"tool: {func!r} is not callable")
        if name is None and not isinstance(getattr(func, "__name__", None), str):
            raise RegistrationError(f"tool {func!r} has no __name__; pass name= to register it")
        try:
            spec = build_tool_spec(func, name=name, timeout=timeout)
        except TypeError as exc:
            raise RegistrationError(str(exc)) from None
        except NameError as exc:  # a hint naming what is not importable at module level
            raise RegistrationError(
                f"tool {name or func.__name__!r}: a type hint cannot be resolved: {exc}"
            ) from None
        except (AttributeError, ValueError) as exc:  # builtins, odd callable objects
            raise RegistrationError(
                f"tool {name or func.__name__!r}: its signature cannot be read: {exc}"
            ) from None
        if existing := self._tools.get(spec.name):
            raise RegistrationError(
                f"tool {spec.name!r} is already registered ({existing.func.__qualname__})"
            )
        if taken := TOOL_TYPES & self._responders.keys():
            raise RegistrationError(_TOOLS_AND_RESPONDER.format(min(taken)))
        self._tools[spec.name] = spec
        return spec

    @overload
    def tool(self, name: F, /) -> F: ...
    @overload
    def tool(
        self, name: str | None = None, /, *, timeout: float | None = None
    ) -> Callable[[F], F]: ...
    def tool(
        self, name: F | str | None = None, /, *, timeout: float | None = None
    ) -> F | Callable[[F], F]:
        """Decorator form of `add_tool`: `@r.tool`, `@r.tool("name")`, `@r.tool(timeout=5)`."""
        if callable(name):
            self.add_tool(name, timeout=timeout)
            return name
        tool_name = name

        def register(func: F) -> F:
            self.add_tool(func, name=tool_name, timeout=timeout)
            return func

        return register

    def include(self, handler: CallHandler) -> None:
        """Register every `on_<type>` method and `@tool` method of a `CallHandler`."""
        if not isinstance(handler, CallHandler):
            raise RegistrationError(
                f"{handler!r} is not a CallHandler instance (did you pass the class?)"
            )
        cls = type(handler)
        for attribute in dir(cls):
            raw = inspect.getattr_static(cls, attribute)
            # `@staticmethod`/`@classmethod` wrap the function that `@tool` marked (or not:
            # the marker sits on whichever of the two `@tool` was applied to).
            func = raw.__func__ if isinstance(raw, staticmethod | classmethod) else raw
            options = getattr(raw, TOOL_MARKER, None) or getattr(func, TOOL_MARKER, None)
            if isinstance(options, ToolOptions):
                self.add_tool(
                    getattr(handler, attribute), name=options.name, timeout=options.timeout
                )
            elif attribute.startswith("on_"):
                if not callable(func):
                    raise RegistrationError(
                        f"{cls.__name__}.{attribute} is a {type(raw).__name__}, not a method; "
                        "on_* attributes are registered as handlers"
                    )
                self._include_method(handler, attribute)

    # -- lookups used by the dispatcher ----------------------------------------------------

    def responder(self, message_type: str) -> HandlerEntry | None:
        return self._responders.get(message_type)

    def listeners(self, message_type: str) -> list[HandlerEntry]:
        return self._listeners.get(message_type, [])

    @property
    def any_listeners(self) -> list[HandlerEntry]:
        return self._any

    @property
    def error_hooks(self) -> list[Callable[..., Any]]:
        return self._error_hooks

    @property
    def tools(self) -> dict[str, ToolSpec]:
        return self._tools

    # -- internals -------------------------------------------------------------------------

    def _include_method(self, handler: CallHandler, attribute: str) -> None:
        method = getattr(handler, attribute)
        where = f"{type(handler).__name__}.{attribute}"
        if attribute == "on_any":
            self.on_any(method)
        elif attribute == "on_error":
            self.on_error(method)
        elif message_type := TYPE_BY_METHOD_NAME.get(attribute):
            self.add(message_type, method)
        else:
            known = [*TYPE_BY_METHOD_NAME, "on_any", "on_error"]
            raise RegistrationError(
                f"{where} does not name a Vapi message type{_suggestion(attribute, known)}"
            )

    @staticmethod
    def _check_type(message_type: str, allow_unknown: bool) -> None:
        if message_type in KNOWN_TYPES or allow_unknown:
            return
        raise RegistrationError(
            f"unknown message type {message_type!r}{_suggestion(message_type, KNOWN_TYPES)}"
            " (`vapi-receiver send --list` lists the known ones; pass allow_unknown=True for a "
            "type this version does not know yet)"
        )


_TOOLS_AND_RESPONDER = (
    "{!r} is answered from the registered tools; register tools, or one handler for it, not both"
)


def _suggestion(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_callable(func: object, what: str) -> None:
    """Refuse a handler that is not callable or has a required keyword-only parameter.

    Handlers are called with positional arguments only, so either would register fine and
    then fail every delivery.
    """
    if not callable(func):
        raise RegistrationError(f"{what}: {func!r} is not callable")
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return  # builtins and some C callables: nothing to check
    required = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    if required:
        raise RegistrationError(
            f"{what}: {getattr(func, '__qualname__', func)!r} has required keyword-only "
            f"parameters {required}, which are never passed; give them defaults"
        )


def _positional_arity(func: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = [p.kind for p in parameters]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return 2
    return sum(
        kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for kind in kinds
    )


def _unwrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(func, functools.partial):
        func = func.func
    return func


def _stable_name(func: Callable[..., Any]) -> str:
    """The handler's name, the same in every process: never a memory address.

    The inbox remembers which handlers of a delivery succeeded by this name, so a retry
    after a restart skips them; a `repr` with an address would differ in the new process.
    A `functools.partial` is named after the function it wraps, an instance after its class.
    """
    inner = _unwrapped(func)
    name = getattr(inner, "__qualname__", None)
    if not isinstance(name, str):
        name = type(inner).__qualname__
    return f"partial({name})" if inner is not func else name
