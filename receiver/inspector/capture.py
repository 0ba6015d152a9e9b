"""What the receiver decided about a delivery, caught from its telemetry for the inspector.

The receiver reports each delivery's verification (its winning levels) and each refusal
(status, reason, the explanation that went to the log) to its telemetry. `Capturing` wraps
the receiver's telemetry, passes everything on unchanged, and notes those two facts on the
exchange that the inspector's ASGI wrapper is answering, found through a context variable:
the receiver answers within the request's own task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from receiver.errors import RequestError
from receiver.inspector.journal import Exchange
from receiver.log import message_fields
from receiver.telemetry import Delivery, Run, Telemetry

CURRENT: ContextVar[Exchange | None] = ContextVar("vapi_receiver_inspected", default=None)


class Capturing(Telemetry):
    """The receiver's telemetry, plus notes on the inspected exchange."""

    def __init__(self, inner: Telemetry) -> None:
        self.inner = inner
        self.metrics = inner.metrics

    def delivery(self) -> Delivery:
        return _CapturingDelivery(self.inner.delivery())

    def step(self, name: str) -> Run:
        return self.inner.step(name)

    def run(self, kind: str, name: str) -> Run:
        return self.inner.run(kind, name)

    def refused(self, error: RequestError) -> None:
        if (exchange := CURRENT.get()) is not None:
            exchange.reason = f"{error.reason}: {error.message}"
            exchange.level = exchange.level or error.level_kind
            exchange.message_type = exchange.message_type or error.message_type
        self.inner.refused(error)

    def overran(self, message_type: str, name: str) -> None:
        self.inner.overran(message_type, name)

    def fallback(self, message_type: str) -> None:
        self.inner.fallback(message_type)

    def unknown_tool(self) -> None:
        self.inner.unknown_tool()

    def duplicate(self) -> None:
        if (exchange := CURRENT.get()) is not None:
            exchange.reason = "repeated delivery: acknowledged, not run again"
        self.inner.duplicate()


class _CapturingDelivery(Delivery):
    __slots__ = ("inner",)

    def __init__(self, inner: Delivery) -> None:
        self.inner = inner

    def __enter__(self) -> Delivery:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.inner.__exit__(kind, error, traceback)

    def verified(self, message: Mapping[str, Any], levels: Sequence[Any]) -> None:
        if (exchange := CURRENT.get()) is not None:
            fields = message_fields(message)
            exchange.verified = True
            exchange.message_type = fields["message_type"]
            exchange.call_id = fields["call_id"]
            exchange.level = ", ".join(dict.fromkeys(level.kind for level in levels)) or None
        self.inner.verified(message, levels)

    def answered(self, outcome: Any) -> Any:
        return self.inner.answered(outcome)
