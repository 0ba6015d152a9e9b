"""Registration: every mistake visible without a call is refused when it is made."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from receiver import CallHandler, RegistrationError, tool
from receiver.registry import HandlerRegistry


def test_decorator_and_class_styles_land_in_one_registry() -> None:
    registry = HandlerRegistry()

    class Support(CallHandler):
        def on_end_of_call_report(self, message: Any, call: Any) -> None: ...

        async def on_assistant_request(self, message: Any) -> dict[str, str]:
            return {"assistantId": "a"}

        def on_assistant_speech_started(self, message: Any) -> None: ...

        def on_call_endpointing_request(self, message: Any) -> dict[str, float]:
            return {"timeoutSeconds": 1}

        @tool
        async def lookup_order(self, order_id: str) -> str:
            return order_id

        @tool("renamed", timeout=3)
        def something(self) -> str:
            return "x"

        def helper_not_a_handler(self) -> None: ...

    registry.include(Support())

    @registry.on("status-update", "end-of-call-report")
    def track(message: Any) -> None: ...

    assert registry.responder("assistant-request") is not None
    assert registry.responder("call.endpointing.request") is not None
    assert [e.name for e in registry.listeners("end-of-call-report")] == [
        "test_decorator_and_class_styles_land_in_one_registry.<locals>.Support.on_end_of_call_report",
        "test_decorator_and_class_styles_land_in_one_registry.<locals>.track",
    ]
    assert len(registry.listeners("assistant.speechStarted")) == 1
    assert set(registry.tools) == {"lookup_order", "renamed"}
    assert registry.tools["renamed"].timeout == 3
    assert registry.listeners("end-of-call-report")[0].takes_call
    assert not registry.listeners("status-update")[0].takes_call


def test_unknown_type_is_refused_with_a_suggestion() -> None:
    registry = HandlerRegistry()
    with pytest.raises(RegistrationError, match="did you mean 'status-update'"):
        registry.on("status-updte")(lambda message: None)
    registry.on("brand-new-type", allow_unknown=True)(lambda message: None)
    assert registry.listeners("brand-new-type")


def test_misspelt_handler_method_is_refused() -> None:
    class Typo(CallHandler):
        def on_end_of_call_reprot(self, message: Any) -> None: ...

    with pytest.raises(RegistrationError, match="did you mean 'on_end_of_call_report'"):
        HandlerRegistry().include(Typo())


def test_two_responders_for_one_request_type_are_refused() -> None:
    registry = HandlerRegistry()
    registry.on("assistant-request")(lambda message: {})
    with pytest.raises(RegistrationError, match="already has a handler"):
        registry.on("assistant-request")(lambda message: {})


def test_informational_types_take_many_handlers() -> None:
    registry = HandlerRegistry()
    registry.on("status-update")(lambda message: None)
    registry.on("status-update")(lambda message, call: None)
    assert len(registry.listeners("status-update")) == 2


def test_tool_registered_twice_is_refused() -> None:
    registry = HandlerRegistry()
    registry.tool("lookup_order")(lambda order_id: order_id)
    with pytest.raises(RegistrationError, match="tool 'lookup_order' is already registered"):

        @registry.tool
        def lookup_order(order_id: str) -> str:
            return order_id


def test_tools_and_a_tool_calls_responder_are_exclusive() -> None:
    registry = HandlerRegistry()
    registry.tool("a")(lambda: "x")
    with pytest.raises(RegistrationError, match="not both"):
        registry.on("tool-calls")(lambda message: {})
    other = HandlerRegistry()
    other.on("tool-calls")(lambda message: {})
    with pytest.raises(RegistrationError, match="not both"):
        other.tool("a")(lambda: "x")


@pytest.mark.parametrize(
    "func",
    [lambda: None, lambda a, b, c: None],
    ids=["no arguments", "three arguments"],
)
def test_handler_signature_is_checked(func: Any) -> None:
    with pytest.raises(RegistrationError, match=r"must accept \(message\) or \(message, call\)"):
        HandlerRegistry().on("status-update")(func)


def test_tool_with_positional_only_parameter_is_refused() -> None:
    def bad(order_id: str, /) -> str:
        return order_id

    with pytest.raises(RegistrationError, match="must be passable by keyword"):
        HandlerRegistry().add_tool(bad)


def test_passing_the_class_instead_of_an_instance_is_explained() -> None:
    class Support(CallHandler):
        pass

    with pytest.raises(RegistrationError, match="did you pass the class"):
        HandlerRegistry().include(Support)  # type: ignore[arg-type]


def test_static_and_class_methods_of_a_call_handler_are_registered() -> None:
    registry = HandlerRegistry()

    class Support(CallHandler):
        @classmethod
        def on_end_of_call_report(cls, message: Any) -> None: ...

        @staticmethod
        def on_hang(message: Any) -> None: ...

        @staticmethod
        @tool
        def below(x: int) -> int:
            return x

        @tool
        @staticmethod
        def above(x: int) -> int:
            return x

    registry.include(Support())
    assert [e.name for e in registry.listeners("end-of-call-report")] == [
        Support.on_end_of_call_report.__qualname__
    ]
    assert len(registry.listeners("hang")) == 1
    assert set(registry.tools) == {"below", "above"}


def test_on_attribute_that_is_not_a_method_is_refused() -> None:
    class Support(CallHandler):
        @property
        def on_transcript(self) -> Any:
            return lambda message: None

    with pytest.raises(RegistrationError, match="on_transcript"):
        HandlerRegistry().include(Support())


def test_handler_with_a_required_keyword_only_parameter_is_refused() -> None:
    def needs_call(message: Any, *, call: Any) -> None: ...

    def optional_call(message: Any, *, call: Any = None) -> None: ...

    registry = HandlerRegistry()
    with pytest.raises(RegistrationError, match="keyword-only"):
        registry.on("status-update")(needs_call)
    with pytest.raises(RegistrationError, match="keyword-only"):
        registry.on_error(lambda error, message, *, extra: None)
    registry.on("status-update")(optional_call)


def test_on_error_needs_a_callable() -> None:
    with pytest.raises(RegistrationError, match="not callable"):
        HandlerRegistry().on_error(42)  # type: ignore[type-var]


def test_tool_whose_signature_cannot_be_read_is_refused() -> None:
    def unresolved(x: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    registry = HandlerRegistry()
    with pytest.raises(RegistrationError, match="NoSuchType"):
        registry.add_tool(unresolved)
    with pytest.raises(RegistrationError, match="name="):
        registry.add_tool(functools.partial(lambda x: x, 1))
    with pytest.raises(RegistrationError, match="type hints cannot be read"):
        registry.add_tool(functools.partial(lambda x: x, 1), name="partial")
    with pytest.raises(RegistrationError, match="signature"):
        registry.add_tool(max, name="biggest")


def _report(message: Any, call: Any, *, target: str) -> None: ...


class _Sink:
    def __call__(self, message: Any) -> None: ...


def test_handler_names_are_the_same_in_every_process() -> None:
    """The inbox skips, after a restart, the handlers that already succeeded, by name: a name
    holding a memory address would differ in the new process and run them again."""
    registry = HandlerRegistry()
    registry.on("end-of-call-report")(functools.partial(_report, target="crm"))
    registry.on("end-of-call-report")(_Sink())
    names = [entry.qualified_name for entry in registry.listeners("end-of-call-report")]
    assert names == [f"{__name__}.partial(_report)", f"{__name__}._Sink"]
    assert all(" at 0x" not in name for name in names)
