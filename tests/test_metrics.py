"""Prometheus metrics at /metrics: what is counted, with which labels, and what never is."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from receiver import ConfigError, Receiver, ToolError
from receiver.app import build_app, metrics_endpoint
from receiver.errors import REFUSAL_REASONS
from receiver.inbox.store import Counts, InboxStore
from receiver.testing import make_message
from tests.helpers import SECRET, make_receiver, post

ASSISTANT_SECRET = "assistant-secret-value"


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def label_values(samples: dict[Any, float], name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (n, labels), _ in samples.items() if n == name}


@pytest.fixture
def receiver() -> Receiver:
    receiver = Receiver(
        config={
            "org": {"secret": SECRET},
            "assistants": {"asst-1": {"secret": ASSISTANT_SECRET}},
            "receiver": {"metrics": True, "assistant_request_timeout": 0.2},
            "inbox": {"max_attempts": 3},
        }
    )

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        if order_id == "missing":
            raise ToolError("no such order")
        if order_id == "crash":
            raise RuntimeError("database down")
        return {"order": order_id}

    @receiver.tool(timeout=0.1)
    async def slow_tool() -> str:
        await asyncio.sleep(5)
        return "late"

    @receiver.on("assistant-request")
    async def route(message: Any) -> dict[str, str]:
        if message.call and message.call.id == "slow-call":
            await asyncio.sleep(5)
        return {"assistantId": "asst-1"}

    @receiver.on("status-update")
    def on_status(message: Any, call: Any) -> None:
        if call is not None and call.id == "failing-call":
            raise RuntimeError("handler broke")

    return receiver


@pytest.fixture
def client(receiver: Receiver) -> Iterator[TestClient]:
    with TestClient(receiver.app) as client:
        yield client


def test_answered_deliveries_are_counted_by_type_and_outcome(client: TestClient) -> None:
    post(client, make_message("status-update"))
    post(client, make_message("status-update"))
    tool_calls = make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": "A"})])
    assert post(client, tool_calls).status_code == 200

    samples = scrape(client)
    deliveries = "vapi_receiver_deliveries_total"
    assert value(samples, deliveries, type="status-update", outcome="answered", status="200") == 2
    assert value(samples, deliveries, type="tool-calls", outcome="answered", status="200") == 1
    duration = "vapi_receiver_delivery_duration_seconds_count"
    assert value(samples, duration, type="status-update") == 2


def test_refusals_are_counted_by_status_level_kind_and_reason(client: TestClient) -> None:
    # The org's secret on a call of a configured assistant: that assistant's level refuses.
    wrong_level = make_message("status-update", call__assistant_id="asst-1", assistant__id="asst-1")
    assert post(client, wrong_level).status_code == 401
    assert post(client, make_message("status-update"), secret="wrong").status_code == 401
    no_credential = client.post(
        "/vapi",
        content=json.dumps(make_message("hang")),
        headers={"content-type": "application/json"},
    )
    assert no_credential.status_code == 401
    assert post(client, {"message": {"type": 7}}).status_code == 400
    assert (
        client.post("/vapi", content=b"{}", headers={"content-type": "text/plain"}).status_code
        == 415
    )
    assert client.get("/vapi").status_code == 405
    oversized = {"content-type": "application/json", "content-length": str(64 * 1024 * 1024)}
    assert client.post("/vapi", content=b"{}", headers=oversized).status_code == 413

    samples = scrape(client)
    refusals = "vapi_receiver_refusals_total"
    assert value(samples, refusals, level="assistant", reason="invalid_credential") == 1
    assert value(samples, refusals, level="none", reason="invalid_credential") == 1
    assert value(samples, refusals, level="none", reason="missing_credential") == 1
    assert value(samples, refusals, level="none", reason="malformed") == 1
    assert value(samples, refusals, level="none", reason="unsupported_media_type") == 1
    assert value(samples, refusals, level="none", reason="method_not_allowed") == 1
    assert value(samples, refusals, level="none", reason="too_large") == 1
    deliveries = "vapi_receiver_deliveries_total"
    assert value(samples, deliveries, type="status-update", outcome="refused", status="401") == 1
    for status in ("400", "405", "413", "415"):
        assert value(samples, deliveries, type="none", outcome="refused", status=status) == 1


def test_a_delivery_the_inbox_cannot_take_is_counted_as_unavailable(receiver: Receiver) -> None:
    client = TestClient(receiver.app)  # no lifespan: the inbox is not serving
    assert post(client, make_message("status-update")).status_code == 503
    with TestClient(receiver.app) as serving:
        samples = scrape(serving)
    deliveries = "vapi_receiver_deliveries_total"
    assert (
        value(samples, deliveries, type="status-update", outcome="unavailable", status="503") == 1
    )
    assert (
        value(samples, "vapi_receiver_refusals_total", level="none", reason="inbox_unavailable")
        == 1
    )


def test_handlers_and_tools_are_timed_and_counted_by_name_and_outcome(client: TestClient) -> None:
    for order in ("A", "missing", "crash"):
        post(client, make_message("tool-calls", tool_calls=[("lookup_order", {"order_id": order})]))
    post(client, make_message("status-update"))

    samples = scrape(client)
    assert value(samples, "vapi_receiver_tool_duration_seconds_count", tool="lookup_order") == 3
    tool_calls = "vapi_receiver_tool_calls_total"
    for outcome in ("ok", "tool_error", "failed"):
        assert value(samples, tool_calls, tool="lookup_order", outcome=outcome) == 1
    handler = f"{__name__}.receiver.<locals>.on_status"
    assert value(samples, "vapi_receiver_handler_duration_seconds_count", handler=handler) == 1
    assert value(samples, "vapi_receiver_handler_calls_total", handler=handler, outcome="ok") == 1


def test_overruns_and_fallback_answers_are_counted(client: TestClient) -> None:
    answer = post(client, make_message("assistant-request", call_id="slow-call"))
    assert answer.status_code == 200 and "error" in answer.json()  # the fallback
    post(client, make_message("tool-calls", tool_calls=[("slow_tool", {})]))

    samples = scrape(client)
    overruns = "vapi_receiver_budget_overruns_total"
    route = f"{__name__}.receiver.<locals>.route"
    assert value(samples, overruns, type="assistant-request", handler=route) == 1
    assert value(samples, overruns, type="tool-calls", handler="slow_tool") == 1
    assert value(samples, "vapi_receiver_fallback_answers_total", type="assistant-request") == 1
    calls = "vapi_receiver_handler_calls_total"
    assert value(samples, calls, handler=route, outcome="cancelled") == 1


def test_inbox_gauges_and_duplicates_dropped(client: TestClient) -> None:
    failing = make_message("status-update", call_id="failing-call")
    assert post(client, failing).status_code == 200  # stored; its handler fails, retried later
    assert post(client, failing).status_code == 200  # the same body again: dropped

    samples = scrape(client)
    assert value(samples, "vapi_receiver_inbox_pending") == 1
    assert value(samples, "vapi_receiver_inbox_retrying") == 1
    assert value(samples, "vapi_receiver_inbox_failed") == 0
    assert value(samples, "vapi_receiver_inbox_duplicates_dropped_total") == 1
    handler = f"{__name__}.receiver.<locals>.on_status"
    assert (
        value(samples, "vapi_receiver_handler_calls_total", handler=handler, outcome="failed") == 1
    )


def test_hostile_input_adds_no_label_values(client: TestClient) -> None:
    """Made-up types, tool names, ids and huge headers: the label values stay a fixed set."""
    sent = []  # what the payloads and headers carried: none of it may show
    for _ in range(40):
        made_up = f"made-up-{uuid.uuid4()}"
        tool_name = f"tool_{uuid.uuid4().hex}"
        guess = f"guess-{uuid.uuid4()}" * 50
        envelope = make_message("status-update", call__assistant_id=f"asst-{uuid.uuid4()}")
        sent += [made_up, tool_name, guess, envelope["message"]["call"]["id"]]
        post(client, make_message("status-update", type=made_up))
        post(client, make_message("tool-calls", tool_calls=[(tool_name, {})]))
        post(client, envelope, secret=guess)
    client.post(
        "/vapi",
        content=json.dumps(make_message("hang")),
        headers={"content-type": "application/json", "x-vapi-secret": "x" * 60_000},
    )

    samples = scrape(client)
    types = label_values(samples, "vapi_receiver_deliveries_total", "type")
    assert types <= {"unknown", "none", "status-update", "tool-calls", "hang"}
    assert "unknown" in types
    assert label_values(samples, "vapi_receiver_tool_calls_total", "tool") == {"(unregistered)"}
    assert label_values(samples, "vapi_receiver_refusals_total", "reason") <= REFUSAL_REASONS
    text = client.get("/metrics").text
    for value_sent in [SECRET, ASSISTANT_SECRET, *sent]:
        assert value_sent not in text


def test_openmetrics_is_served_when_asked_for(client: TestClient) -> None:
    response = client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_no_metrics_path_unless_asked_for() -> None:
    with TestClient(make_receiver().app) as client:
        assert client.get("/metrics").status_code == 404


def test_the_receiver_option_mirrors_the_configuration_key() -> None:
    assert make_receiver(metrics=True).config.metrics is True
    receiver = Receiver(config={"org": {"secret": SECRET}}, metrics=True)
    assert receiver.config.metrics is True
    with TestClient(receiver.app) as client:
        assert client.get("/metrics").status_code == 200
    off = Receiver(config={"org": {"secret": SECRET}, "receiver": {"metrics": True}}, metrics=False)
    assert off.core.telemetry.metrics is None


def test_a_webhook_at_the_metrics_path_is_refused() -> None:
    receiver = Receiver(config={"org": {"secret": SECRET}}, metrics=True, path="/metrics")
    with pytest.raises(ConfigError, match="both at the path /metrics"):
        _ = receiver.app


def test_metrics_without_prometheus_client_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "receiver.telemetry.metrics", raising=False)
    with pytest.raises(ConfigError, match=r'pip install "vapi-receiver\[metrics\]"'):
        make_receiver(metrics=True)


def test_a_multiprocess_directory_that_does_not_exist_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(missing))
    with pytest.raises(ConfigError, match=r"nowhere.*not a directory"):
        make_receiver(metrics=True)


def test_a_multiprocess_directory_set_too_late_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Set after prometheus_client's import, values would stay in memory and scrapes show none."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="set after prometheus_client was imported"):
        make_receiver(metrics=True)


def test_the_inbox_counts_are_reused_for_a_few_seconds(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scrape every second does not query the inbox every second."""
    scrape(client)
    post(client, make_message("status-update", call_id="failing-call"))
    assert value(scrape(client), "vapi_receiver_inbox_pending") == 0  # still the first count
    monkeypatch.setattr(time, "monotonic", lambda: 1e12)
    assert value(scrape(client), "vapi_receiver_inbox_pending") == 1


def test_a_handler_without_a_name_gets_a_label_that_survives_a_restart() -> None:
    """A `partial`'s repr holds a memory address: a new series at every restart, without care."""
    receiver = make_receiver(metrics=True)
    seen: list[str] = []
    receiver.on("status-update")(functools.partial(lambda tag, message: seen.append(tag), "x"))
    with TestClient(receiver.app) as client:
        post(client, make_message("status-update"))
        handlers = label_values(scrape(client), "vapi_receiver_handler_calls_total", "handler")
    assert seen == ["x"]
    (handler,) = handlers
    assert handler == (
        f"{__name__}.partial(test_a_handler_without_a_name_gets_a_label_that_survives_a_restart"
        ".<locals>.<lambda>)"
    )


def test_metrics_can_be_served_on_an_internal_app_instead() -> None:
    """The webhook app without /metrics, and the metrics on an app only the network reaches."""
    receiver = make_receiver(metrics=True)
    public = build_app(receiver.core, lifespan=receiver.lifespan, metrics_path=None)
    internal = Starlette(routes=[Route("/metrics", metrics_endpoint(receiver.core))])
    with TestClient(public) as client, TestClient(internal) as inside:
        assert post(client, make_message("status-update")).status_code == 200
        assert client.get("/metrics").status_code == 404
        samples = scrape(inside)
    deliveries = "vapi_receiver_deliveries_total"
    assert value(samples, deliveries, type="status-update", outcome="answered", status="200") == 1
    with pytest.raises(ConfigError, match="metrics are off"):
        metrics_endpoint(make_receiver().core)


def test_the_inbox_counts_agree_with_its_stats(tmp_path: Path) -> None:
    """The gauges' query reads only what is not done, and counts as `inbox stats` does."""
    now = [1000.0]
    store = InboxStore.open(str(tmp_path / "inbox.sqlite3"), clock=lambda: now[0])
    add = functools.partial(store.add, kind="status-update", call_id=None, body=b"{}", owner="w")
    ids = [add(key=f"k{n}", lease=30).id for n in range(5)]
    finish = functools.partial(store.finish, owner="w", errors={}, backoff=lambda n: 10.0)
    finish(ids[0], succeeded=["h"], max_attempts=3)  # done
    finish(ids[1], succeeded=[], errors={"h": "boom"}, max_attempts=3)  # waiting for a retry
    finish(ids[2], succeeded=[], errors={"h": "boom"}, max_attempts=1)  # parked as failed
    now[0] += 60  # the other two leases have run out: pending, not running

    counts, stats = store.counts(), store.stats()
    store.close()
    assert counts == Counts(pending=3, running=0, retrying=1, failed=1)
    by_status = stats.by_status
    assert (counts.pending, counts.failed) == (by_status["pending"], by_status["failed"])
    assert (counts.running, counts.retrying) == (stats.running, stats.retrying)
