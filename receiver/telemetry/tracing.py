"""OpenTelemetry spans of the receiver, with the OpenTelemetry API only.

Installed with `pip install "vapi-receiver[otel]"`; the application sets up the SDK and its
exporter. Until a tracer provider is set (`opentelemetry.trace.set_tracer_provider`, or the
`tracer_provider` given to the receiver), nothing is recorded and each delivery costs one
look-up of the global provider.

One span per delivery, with children for verification, parsing and each handler or tool
run. The delivery's context is current inside handlers and tools, in worker threads too
(anyio copies it there) and in the informational handlers run after the answer
(`carry`), so a handler's own instrumented HTTP calls join the delivery's trace. Incoming
`traceparent` headers are not read: Vapi sends none, and a stranger could pick the trace
a delivery joins. An HTTP server instrumentation in front (opentelemetry-instrumentation-
asgi) makes the delivery span its child.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from receiver.telemetry import Run

TRACER_NAME: Final = "vapi_receiver"
#: Seconds between two look-ups of the global tracer provider while none is set: one set
#: while the server runs is used from the next delivery a second later.
PROVIDER_RECHECK: Final = 1.0


class Tracing:
    """Starts and ends the receiver's spans.

    Args:
        provider: The tracer provider to use; `None` uses the global one, looked up per
            delivery so that one set after the receiver was built is used.
    """

    def __init__(self, provider: object = None) -> None:
        if provider is not None and not isinstance(provider, TracerProvider):
            raise TypeError(f"tracer_provider must be a TracerProvider, not {provider!r}")
        self._provider = provider
        self._cached: tuple[object, Tracer | None] = (None, None)
        self._tracer: Tracer | None = None
        self._recheck_at = 0.0

    def active(self) -> bool:
        """Whether spans are recorded now: a real tracer provider is set. Call before `open_*`.

        The global provider is looked up at most once per `PROVIDER_RECHECK` seconds (the
        look-up reads the environment, which costs more than the rest of a delivery's
        telemetry when nothing is recorded).
        """
        if self._provider is None and self._tracer is None:
            now = time.monotonic()
            if now < self._recheck_at:
                return False
            self._recheck_at = now + PROVIDER_RECHECK
        provider = self._provider or trace.get_tracer_provider()
        if provider is not self._cached[0]:  # rarely: once, and when the SDK is set up
            tracer = None
            if not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider):
                assert isinstance(provider, TracerProvider)
                tracer = provider.get_tracer(TRACER_NAME)
            self._cached = (provider, tracer)
        self._tracer = self._cached[1]
        return self._tracer is not None

    def open_delivery(self) -> tuple[Span, object]:
        assert self._tracer is not None
        parent = trace.get_current_span().get_span_context().is_valid
        span = self._tracer.start_span(
            "vapi delivery", kind=SpanKind.INTERNAL if parent else SpanKind.SERVER
        )
        return span, otel_context.attach(trace.set_span_in_context(span))

    def close_delivery(
        self,
        scope: tuple[Span, object],
        message_type: str,
        call_id: str | None,
        level: str,
        outcome: str,
        status: int | None,
        reason: str | None,
        error: BaseException | None,
    ) -> None:
        span, token = scope
        otel_context.detach(token)  # type: ignore[arg-type]
        span.update_name(f"vapi {message_type}")
        attributes: dict[str, str | int] = {"vapi.message.type": message_type}
        if call_id is not None:
            attributes["vapi.call.id"] = call_id
        attributes["vapi.level.kind"] = level
        attributes["vapi.outcome"] = outcome
        if status is not None:
            attributes["http.response.status_code"] = status
        if reason is not None:
            attributes["vapi.refusal.reason"] = reason
        span.set_attributes(attributes)
        if isinstance(error, Exception):
            span.record_exception(error)
        if status is None or status >= 500:
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()

    def carry(self, work: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """`work` run in the current context: the delivery's, for work after its answer."""
        context = otel_context.get_current()

        async def in_context() -> None:
            token = otel_context.attach(context)
            try:
                await work()
            finally:
                otel_context.detach(token)

        return in_context

    def step(self, name: str) -> Run:
        assert self._tracer is not None
        return _Step(self._tracer, f"vapi {name}")

    def open_run(self, kind: str, name: str) -> tuple[Span, object]:
        assert self._tracer is not None
        span = self._tracer.start_span(f"{kind} {name}", attributes={f"vapi.{kind}.name": name})
        return span, otel_context.attach(trace.set_span_in_context(span))

    def close_run(
        self, scope: tuple[Span, object], outcome: str, error: BaseException | None
    ) -> None:
        span, token = scope
        otel_context.detach(token)  # type: ignore[arg-type]
        span.set_attribute("vapi.outcome", outcome)
        if outcome in ("failed", "cancelled"):
            if isinstance(error, Exception):
                span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()


class _Step(Run):
    __slots__ = ("name", "scope", "tracer")

    def __init__(self, tracer: Tracer, name: str) -> None:
        self.tracer = tracer
        self.name = name
        self.scope: Any = None

    def __enter__(self) -> Run:
        span = self.tracer.start_span(self.name)
        self.scope = (span, otel_context.attach(trace.set_span_in_context(span)))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span, token = self.scope
        otel_context.detach(token)
        if error is not None:
            span.set_attribute(
                "vapi.outcome", "refused" if isinstance(error, Exception) else "cancelled"
            )
        span.end()
