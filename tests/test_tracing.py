"""OpenTelemetry spans: one per delivery, children per step, handler and tool, context current."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.telemetry import Reporting, Telemetry, build_telemetry
from receiver.testing import make_message
from tests.helpers import SECRET, make_receiver, post

ASSISTANT_SECRET = "assistant-secret-for-tracing"


class Seen:
    """What each handler saw of the current span and the headers its HTTP call would send."""

    def __init__(self) -> None:
        self.spans: dict[str, trace.SpanContext] = {}
        self.headers: dict[str, dict[str, str]] = {}

    def note(self, name: str) -> None:
        self.spans[name] = trace.get_current_span().get_span_context()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # what an instrumented HTTP client adds to its request
        self.headers[name] = carrier


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def client(exporter: InMemorySpanExporter, seen: Seen) -> Iterator[TestClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    receiver = Receiver(
        config={
            "org": {"secret": SECRET},
            "assistants": {"asst-1": {"secret": ASSISTANT_SECRET}},
        },
        tracer_provider=provider,
    )

    @receiver.tool
    def lookup_order(order_id: str) -> str:  # sync: runs in a worker thread
        seen.note("lookup_order")
        return order_id

    @receiver.tool
    async def check_stock(sku: str) -> str:
        seen.note("check_stock")
        return "in stock"

    @receiver.on("assistant-request")
    async def route(message: Any) -> dict[str, str]:
        seen.note("route")
        return {"assistantId": "asst-1"}

    @receiver.on("status-update")
    def on_status(message: Any, call: Any) -> None:  # run after the answer, in a thread
        seen.note("on_status")

    @receiver.on("end-of-call-report")
    async def on_report(message: Any, call: Any) -> None:
        seen.note("on_report")
        raise RuntimeError("report store down")

    with TestClient(receiver.app) as client:
        yield client


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def children(spans: dict[str, ReadableSpan], parent: ReadableSpan) -> set[str]:
    return {
        name
        for name, span in spans.items()
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    }


def test_a_tool_call_delivery_has_verify_parse_and_tool_children(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:
    envelope = make_message(
        "tool-calls",
        tool_calls=[("lookup_order", {"order_id": "A"}), ("check_stock", {"sku": "S"})],
    )
    assert post(client, envelope).status_code == 200

    spans = by_name(exporter)
    delivery = spans["vapi tool-calls"]
    assert delivery.parent is None
    assert delivery.kind == trace.SpanKind.SERVER
    assert children(spans, delivery) == {
        "vapi verify",
        "vapi parse",
        "tool lookup_order",
        "tool check_stock",
    }
    assert dict(delivery.attributes or {}) == {
        "vapi.message.type": "tool-calls",
        "vapi.call.id": envelope["message"]["call"]["id"],
        "vapi.level.kind": "org",
        "vapi.outcome": "answered",
        "http.response.status_code": 200,
    }
    tool = spans["tool lookup_order"]
    assert tool.attributes == {"vapi.tool.name": "lookup_order", "vapi.outcome": "ok"}


def test_the_span_is_current_in_tools_and_handlers_so_their_http_calls_join_the_trace(
    client: TestClient, exporter: InMemorySpanExporter, seen: Seen
) -> None:
    post(client, make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "A"})]))
    post(client, make_message("tool-calls", tool_calls=[("check_stock", {"sku": "S"})]))
    post(client, make_message("assistant-request"))
    post(client, make_message("status-update"))  # its handler runs after the 200

    finished = exporter.get_finished_spans()
    for name, span_name in [
        ("lookup_order", "tool lookup_order"),  # sync, in a worker thread
        ("check_stock", "tool check_stock"),
        ("route", f"handler {__name__}.client.<locals>.route"),
        ("on_status", f"handler {__name__}.client.<locals>.on_status"),  # after the answer
    ]:
        span = next(s for s in finished if s.name == span_name)
        assert seen.spans[name] == span.context, name
        trace_id = f"{span.context.trace_id:032x}"
        assert trace_id in seen.headers[name]["traceparent"], name
        delivery = next(s for s in finished if s.context.span_id == span.parent.span_id)  # type: ignore[union-attr]
        assert delivery.name.startswith("vapi ") and delivery.parent is None


def test_an_informational_delivery_is_answered_before_its_handler_span_starts(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:
    post(client, make_message("status-update"))
    spans = by_name(exporter)
    delivery = spans["vapi status-update"]
    handler = spans[f"handler {__name__}.client.<locals>.on_status"]
    assert delivery.attributes is not None and delivery.attributes["vapi.outcome"] == "answered"
    assert handler.parent is not None and handler.parent.span_id == delivery.context.span_id
    assert delivery.end_time is not None and handler.start_time is not None
    assert handler.start_time >= delivery.end_time  # the 200 went first
    assert children(spans, delivery) == {"vapi verify", "vapi parse", handler.name}


def test_a_failing_handler_span_records_the_error(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:
    post(client, make_message("end-of-call-report"))
    span = by_name(exporter)[f"handler {__name__}.client.<locals>.on_report"]
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.attributes is not None and span.attributes["vapi.outcome"] == "failed"
    assert [event.name for event in span.events] == ["exception"]


def test_refusals_have_a_span_with_the_reason_and_no_secret(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:
    guess = "a-guessed-secret-value"
    wrong_level = make_message("status-update", call__assistant_id="asst-1", assistant__id="asst-1")
    assert post(client, wrong_level).status_code == 401  # the org's secret, the assistant's call
    assert post(client, make_message("status-update"), secret=guess).status_code == 401
    assert (
        client.post("/vapi", content=b"{}", headers={"content-type": "text/xml"}).status_code == 415
    )

    refused = [span for span in exporter.get_finished_spans() if span.parent is None]
    assert [dict(span.attributes or {}) for span in refused] == [
        {
            "vapi.message.type": "status-update",
            "vapi.level.kind": "assistant",
            "vapi.outcome": "refused",
            "http.response.status_code": 401,
            "vapi.refusal.reason": "invalid_credential",
        },
        {
            "vapi.message.type": "none",
            "vapi.level.kind": "none",
            "vapi.outcome": "refused",
            "http.response.status_code": 401,
            "vapi.refusal.reason": "invalid_credential",
        },
        {
            "vapi.message.type": "none",
            "vapi.level.kind": "none",
            "vapi.outcome": "refused",
            "http.response.status_code": 415,
            "vapi.refusal.reason": "unsupported_media_type",
        },
    ]
    everything = json.dumps(
        [
            [
                span.name,
                dict(span.attributes or {}),
                [dict(e.attributes or {}) for e in span.events],
            ]
            for span in exporter.get_finished_spans()
        ]
    )
    for secret in (SECRET, ASSISTANT_SECRET, guess):
        assert secret not in everything


def test_an_incoming_traceparent_is_not_followed(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:
    """A stranger must not choose which trace a delivery joins."""
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client.post(
        "/vapi",
        content=json.dumps(make_message("status-update")),
        headers={
            "content-type": "application/json",
            "x-vapi-secret": SECRET,
            "traceparent": traceparent,
        },
    )
    delivery = by_name(exporter)["vapi status-update"]
    assert delivery.parent is None
    assert f"{delivery.context.trace_id:032x}" != "0af7651916cd43dd8448eb211c80319c"


def test_a_span_current_around_the_receiver_becomes_the_delivery_parent(
    exporter: InMemorySpanExporter,
) -> None:
    """Under an HTTP server instrumentation, the delivery span is its child."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    receiver = Receiver(config={"org": {"secret": SECRET}}, tracer_provider=provider)
    headers = {"content-type": "application/json", "x-vapi-secret": SECRET}
    body = json.dumps(make_message("hang")).encode()  # no handler: nothing for the inbox
    with provider.get_tracer("host").start_as_current_span("POST /vapi") as outer:
        outcome = asyncio.run(receiver.handle(headers, body))
    assert outcome.status == 200
    spans = by_name(exporter)
    assert spans["vapi hang"].parent is not None
    assert spans["vapi hang"].parent.span_id == outer.get_span_context().span_id
    assert spans["vapi hang"].kind == trace.SpanKind.INTERNAL


def test_without_opentelemetry_nothing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "receiver.telemetry.tracing", None)  # as if not installed
    receiver = make_receiver()
    assert type(receiver.core.telemetry) is Telemetry
    with TestClient(receiver.app) as client:
        assert post(client, make_message("status-update")).status_code == 200
    assert isinstance(build_telemetry(make_receiver(metrics=True).config), Reporting)


@pytest.mark.slow
def test_the_global_tracer_provider_set_after_the_receiver_is_used(tmp_path: Any) -> None:
    """The usual set-up: the application sets the SDK's provider, the receiver finds it."""
    script = textwrap.dedent(
        f"""
        import json
        import time
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from starlette.testclient import TestClient
        from receiver import Receiver
        from receiver.telemetry.tracing import PROVIDER_RECHECK
        from receiver.testing import make_message

        receiver = Receiver(config={{"org": {{"secret": "{SECRET}"}}}})
        exporter = InMemorySpanExporter()
        with TestClient(receiver.app) as client:
            headers = {{"content-type": "application/json", "x-vapi-secret": "{SECRET}"}}
            body = json.dumps(make_message("hang"))
            client.post("/vapi", content=body, headers=headers)  # no SDK yet: no span
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            time.sleep(PROVIDER_RECHECK)  # looked for again within this long
            client.post("/vapi", content=body, headers=headers)
        print(json.dumps(sorted(span.name for span in exporter.get_finished_spans())))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == ["vapi hang", "vapi verify"]
