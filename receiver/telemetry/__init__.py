"""What the receiver reports about its work: Prometheus metrics and OpenTelemetry spans.

The core and the dispatcher report at a few points only: a delivery (`delivery`), its
verification and parsing (`step`), each handler or tool (`run`), a refusal, a budget
overrun, a fallback answer, a repeated delivery. `Telemetry` itself reports nothing and
hands out shared no-op objects, so a receiver without metrics and without an OpenTelemetry
SDK pays a method call at each point and nothing else. `build_telemetry` returns a
`Reporting` instead when `[receiver] metrics` is on, or when the OpenTelemetry API is
installed (whether spans are recorded is then decided per delivery: only once an SDK's
tracer provider is set).

Nothing here reads a secret, and every label value comes from a fixed set or from what the
application registered (`receiver.telemetry.labels`): no payload can add a time series.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from receiver.errors import ConfigError, RequestError
from receiver.telemetry.labels import level_label, type_label

if TYPE_CHECKING:
    from receiver.config import ReceiverConfig
    from receiver.telemetry.metrics import Metrics
    from receiver.telemetry.tracing import Tracing

__all__ = ["Delivery", "Reporting", "Run", "Telemetry", "build_telemetry"]

METRICS_EXTRA: Final = 'pip install "vapi-receiver[metrics]"'
OTEL_EXTRA: Final = 'pip install "vapi-receiver[otel]"'


class _Answer(Protocol):
    """What `Delivery.answered` reads of the core's `Outcome`."""

    @property
    def status(self) -> int: ...
    @property
    def background(self) -> Callable[[], Awaitable[None]] | None: ...


A = TypeVar("A", bound=_Answer)


class _Level(Protocol):
    @property
    def kind(self) -> str: ...


class Delivery:
    """One delivery's report; this one records nothing. Use as `with telemetry.delivery():`."""

    __slots__ = ()

    def __enter__(self) -> Delivery:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def verified(self, message: Mapping[str, Any], levels: Sequence[_Level]) -> None:
        """The delivery passed verification: its type, call id and winning level are known."""

    def answered(self, outcome: A) -> A:
        """The outcome sent; returned with its background work run in this delivery's trace."""
        return outcome


class Run:
    """One handler or tool run, or one step of a delivery; this one records nothing."""

    __slots__ = ()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


_NO_DELIVERY: Final = Delivery()
_NO_RUN: Final = Run()


class Telemetry:
    """Reports nothing: what a receiver without metrics or OpenTelemetry uses."""

    #: Serves `/metrics` when set.
    metrics: Metrics | None = None

    def delivery(self) -> Delivery:
        """The report of one delivery, from its first byte to its answer."""
        return _NO_DELIVERY

    def step(self, name: str) -> Run:
        """A step of the delivery (`verify`, `parse`) as a child span."""
        return _NO_RUN

    def run(self, kind: str, name: str) -> Run:
        """A handler (`kind` "handler") or tool (`kind` "tool") run: a span and its latency."""
        return _NO_RUN

    def refused(self, error: RequestError) -> None:
        """A request was refused with `error`."""

    def overran(self, message_type: str, name: str) -> None:
        """A handler or tool overran its budget."""

    def fallback(self, message_type: str) -> None:
        """A request type was answered with its fallback."""

    def unknown_tool(self) -> None:
        """A tool call named no registered tool."""

    def duplicate(self) -> None:
        """A repeated delivery was acknowledged and not run again."""


_CURRENT: ContextVar[_Delivery | None] = ContextVar("vapi_receiver_delivery", default=None)


class Reporting(Telemetry):
    """Reports to Prometheus metrics, OpenTelemetry spans, or both.

    Args:
        metrics: The receiver's metrics, or `None`.
        tracing: Spans, or `None` when the OpenTelemetry API is not installed.
    """

    def __init__(self, metrics: Metrics | None, tracing: Tracing | None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def delivery(self) -> Delivery:
        if self.metrics is None and (self.tracing is None or not self.tracing.active()):
            return _NO_DELIVERY  # nothing records: the usual case without an SDK
        return _Delivery(self)

    def step(self, name: str) -> Run:
        tracing = self._tracing()
        return _NO_RUN if tracing is None else tracing.step(name)

    def run(self, kind: str, name: str) -> Run:
        tracing = self._tracing()
        if tracing is None and self.metrics is None:
            return _NO_RUN
        return _Run(self.metrics, tracing, kind, name)

    def _tracing(self) -> Tracing | None:
        """The tracing to record with now: the delivery's decision, taken once for it."""
        current = _CURRENT.get()
        if current is not None and current.owner is self:
            return self.tracing if current.scope is not None else None
        tracing = self.tracing  # outside a delivery: handlers run after the answer, retries
        return tracing if tracing is not None and tracing.active() else None

    def refused(self, error: RequestError) -> None:
        if self.metrics is not None:
            self.metrics.refused(level_label(error.level_kind), error.reason)
        current = _CURRENT.get()
        if current is not None and current.owner is self:
            current.refusal = error
            return
        refused = self.delivery()  # by the HTTP layer, before any delivery began
        if isinstance(refused, _Delivery):
            refused.refusal = error
            with refused:
                pass

    def overran(self, message_type: str, name: str) -> None:
        if self.metrics is not None:
            self.metrics.overran(type_label(message_type), name)

    def fallback(self, message_type: str) -> None:
        if self.metrics is not None:
            self.metrics.fallback(type_label(message_type))

    def unknown_tool(self) -> None:
        if self.metrics is not None:
            self.metrics.unknown_tool()

    def duplicate(self) -> None:
        if self.metrics is not None:
            self.metrics.duplicate()


class _Delivery(Delivery):
    __slots__ = (
        "call_id",
        "level",
        "owner",
        "refusal",
        "scope",
        "started",
        "status",
        "token",
        "type",
    )

    def __init__(self, owner: Reporting) -> None:
        self.owner = owner
        self.started = 0.0
        self.type: str | None = None
        self.call_id: str | None = None
        self.level: str | None = None
        self.status: int | None = None
        self.refusal: RequestError | None = None
        self.scope: Any = None  # the span and its context token, while tracing
        self.token: Any = None

    def __enter__(self) -> Delivery:
        self.started = time.perf_counter()
        self.token = _CURRENT.set(self)
        tracing = self.owner.tracing
        if tracing is not None and tracing.active():
            self.scope = tracing.open_delivery()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _CURRENT.reset(self.token)
        refusal = self.refusal
        if refusal is not None and self.type is None:
            self.type = refusal.message_type
            self.level = refusal.level_kind
        status = self.status or (refusal.status if refusal is not None else None)
        if status is None or error is not None:  # no answer: the client went away, or a bug
            status, outcome = None, "aborted"
        else:
            outcome = "answered" if status < 300 else "unavailable" if status == 503 else "refused"
        kind_label = type_label(self.type)
        if (metrics := self.owner.metrics) is not None:
            metrics.delivered(kind_label, outcome, status, time.perf_counter() - self.started)
        if self.scope is not None:
            tracing = self.owner.tracing
            assert tracing is not None
            reason = refusal.reason if refusal is not None else None
            level = level_label(self.level)
            tracing.close_delivery(
                self.scope, kind_label, self.call_id, level, outcome, status, reason, error
            )

    def verified(self, message: Mapping[str, Any], levels: Sequence[_Level]) -> None:
        kind = message.get("type")
        self.type = kind if isinstance(kind, str) else None
        call = message.get("call")
        call_id = call.get("id") if isinstance(call, Mapping) else None
        self.call_id = call_id[:100] if isinstance(call_id, str) else None
        self.level = levels[0].kind if levels else None

    def answered(self, outcome: A) -> A:
        self.status = outcome.status
        if self.scope is None or outcome.background is None:
            return outcome
        tracing = self.owner.tracing
        assert tracing is not None
        background = tracing.carry(outcome.background)
        return dataclasses.replace(outcome, background=background)  # type: ignore[type-var]


class _Run(Run):
    __slots__ = ("kind", "metrics", "name", "scope", "started", "tracing")

    def __init__(
        self, metrics: Metrics | None, tracing: Tracing | None, kind: str, name: str
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.kind = kind
        self.name = name
        self.scope: Any = None

    def __enter__(self) -> Run:
        if self.tracing is not None:
            self.scope = self.tracing.open_run(self.kind, self.name)
        self.started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        seconds = time.perf_counter() - self.started
        outcome = _run_outcome(error)
        if self.metrics is not None:
            self.metrics.ran(self.kind, self.name, outcome, seconds)
        if self.tracing is not None:
            self.tracing.close_run(self.scope, outcome, error)


def _run_outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if not isinstance(error, Exception):
        return "cancelled"  # the budget ran out (or the server is stopping)
    from receiver.tools import ToolError

    return "tool_error" if isinstance(error, ToolError) else "failed"


def build_telemetry(config: ReceiverConfig, *, tracer_provider: object = None) -> Telemetry:
    """What the receiver reports to, from `[receiver] metrics` and what is installed.

    Args:
        config: `metrics` turns Prometheus metrics on.
        tracer_provider: An OpenTelemetry `TracerProvider` for the receiver's spans; by
            default the global one (`opentelemetry.trace.set_tracer_provider`).

    Raises:
        ConfigError: metrics are on but prometheus-client is not installed, or a tracer
            provider is given but the OpenTelemetry API is not installed.
    """
    metrics = None
    if config.metrics:
        try:
            from receiver.telemetry.metrics import Metrics
        except ImportError:
            raise ConfigError(
                f"{config.source}: metrics are on ([receiver] metrics = true) but "
                f"prometheus-client is not installed: {METRICS_EXTRA}"
            ) from None
        metrics = Metrics()
    try:
        from receiver.telemetry.tracing import Tracing
    except ImportError:
        if tracer_provider is not None:
            raise ConfigError(
                f"a tracer_provider was given but opentelemetry-api is not installed: {OTEL_EXTRA}"
            ) from None
        tracing = None
    else:
        tracing = Tracing(tracer_provider)
    if metrics is None and tracing is None:
        return Telemetry()
    return Reporting(metrics, tracing)
