"""Prometheus metrics of the receiver, served at `/metrics` when `[receiver] metrics = true`.

Needs prometheus-client (`pip install "vapi-receiver[metrics]"`). Under several worker
processes, prometheus-client's multiprocess mode keeps each worker's values in files under
`$PROMETHEUS_MULTIPROC_DIR`, and a scrape of any worker adds them up. The inbox's gauges are
read from the inbox at scrape time, which every worker shares.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final, Protocol

import anyio.to_thread
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from receiver.errors import ConfigError
from receiver.telemetry.labels import UNREGISTERED_TOOL, reason_label

MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Longest label value: a handler's qualified name is rarely a tenth of it.
MAX_LABEL_CHARS: Final = 200
#: Seconds, from a millisecond (most deliveries) to Vapi's 20 s default tool timeout.
BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0,
)  # fmt: skip
#: Seconds the inbox's counts are reused across scrapes: counting is a query on the inbox's
#: thread, shared with the deliveries it stores.
INBOX_COUNTS_TTL: Final = 5.0
#: Seconds a scrape waits for the inbox's counts before it leaves them out.
INBOX_COUNTS_TIMEOUT: Final = 2.0


class InboxCounts(Protocol):
    """What `scrape` reads of the inbox (`receiver.inbox.runner.Inbox`)."""

    async def counts(self) -> Any: ...


class Metrics:
    """The receiver's counters and histograms, and their exposition for a scrape.

    Raises:
        ConfigError: `$PROMETHEUS_MULTIPROC_DIR` is set but is not a directory.
    """

    def __init__(self) -> None:
        directory = os.environ.get(MULTIPROCESS_ENV)
        if directory is not None and not os.path.isdir(directory):
            raise ConfigError(
                f"${MULTIPROCESS_ENV} is {directory!r}, which is not a directory: create it "
                "(empty) before the workers start, or unset it for a single process"
            )
        # prometheus-client chose where values live when it was imported; a directory set
        # or unset since would make every scrape read the other place, and show nothing.
        self.multiprocess = bool(getattr(values.ValueClass, "_multiprocess", False))
        if self.multiprocess != (directory is not None):
            raise ConfigError(
                f"${MULTIPROCESS_ENV} was {'un' if directory is None else ''}set after "
                "prometheus_client was imported: set it in the environment the server starts in"
            )
        self.registry = registry = CollectorRegistry()
        self._deliveries = Counter(
            "vapi_receiver_deliveries",
            "Deliveries answered or refused, by message type, outcome and HTTP status",
            ["type", "outcome", "status"],
            registry=registry,
        )
        self._delivery_seconds = Histogram(
            "vapi_receiver_delivery_duration_seconds",
            "Time from the body read to the answer, by message type",
            ["type"],
            buckets=BUCKETS,
            registry=registry,
        )
        self._refusals = Counter(
            "vapi_receiver_refusals",
            "Refused requests, by the level kind the payload named and the reason",
            ["level", "reason"],
            registry=registry,
        )
        self._handler_seconds = Histogram(
            "vapi_receiver_handler_duration_seconds",
            "Handler run time, by handler (module and qualified name)",
            ["handler"],
            buckets=BUCKETS,
            registry=registry,
        )
        self._handler_calls = Counter(
            "vapi_receiver_handler_calls",
            "Handler runs, by handler and outcome (ok, failed, cancelled)",
            ["handler", "outcome"],
            registry=registry,
        )
        self._tool_seconds = Histogram(
            "vapi_receiver_tool_duration_seconds",
            "Tool run time, by tool name",
            ["tool"],
            buckets=BUCKETS,
            registry=registry,
        )
        self._tool_calls = Counter(
            "vapi_receiver_tool_calls",
            "Tool calls, by tool and outcome (ok, tool_error, failed, cancelled, unknown_tool)",
            ["tool", "outcome"],
            registry=registry,
        )
        self._overruns = Counter(
            "vapi_receiver_budget_overruns",
            "Handlers and tools that overran their budget, by message type and name",
            ["type", "handler"],
            registry=registry,
        )
        self._fallbacks = Counter(
            "vapi_receiver_fallback_answers",
            "Request types answered with their fallback, by message type",
            ["type"],
            registry=registry,
        )
        self._duplicates = Counter(
            "vapi_receiver_inbox_duplicates_dropped",
            "Repeated deliveries acknowledged and not run again",
            registry=registry,
        )
        self._children: dict[tuple[object, ...], Any] = {}
        self._inbox_counts: tuple[float, list[Metric]] = (-INBOX_COUNTS_TTL, [])
        self._scraping = asyncio.Lock()

    # -- recording: label children are looked up once, then reused -------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*map(_stable, labels))
        return child

    def delivered(self, kind: str, outcome: str, status: int | None, seconds: float) -> None:
        shown = "none" if status is None else str(status)
        self._child(self._deliveries, kind, outcome, shown).inc()
        self._child(self._delivery_seconds, kind).observe(seconds)

    def refused(self, level: str, reason: str) -> None:
        self._child(self._refusals, level, reason_label(reason)).inc()

    def ran(self, kind: str, name: str, outcome: str, seconds: float) -> None:
        if kind == "tool":
            self._child(self._tool_seconds, name).observe(seconds)
            self._child(self._tool_calls, name, outcome).inc()
        else:
            self._child(self._handler_seconds, name).observe(seconds)
            self._child(self._handler_calls, name, outcome).inc()

    def unknown_tool(self) -> None:
        self._child(self._tool_calls, UNREGISTERED_TOOL, "unknown_tool").inc()

    def overran(self, kind: str, name: str) -> None:
        self._child(self._overruns, kind, name).inc()

    def fallback(self, kind: str) -> None:
        self._child(self._fallbacks, kind).inc()

    def duplicate(self) -> None:
        self._duplicates.inc()

    # -- exposition ------------------------------------------------------------------------

    async def scrape(self, inbox: InboxCounts | None, accept: str | None) -> tuple[bytes, str]:
        """The exposition text for a scrape, and its content type (from `accept`).

        Every worker's values under multiprocess mode, else this process's: the receiver's
        metrics, and whatever else is registered in prometheus-client's default registry
        (the process and garbage collector collectors, the application's own metrics).
        """
        async with self._scraping:  # one at a time: a flood of scrapes costs one thread
            return await self._scrape(inbox, accept)

    async def _scrape(self, inbox: InboxCounts | None, accept: str | None) -> tuple[bytes, str]:
        registry = CollectorRegistry(auto_describe=False)
        if self.multiprocess:
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Families(REGISTRY.collect))
            registry.register(_Families(self.registry.collect))
        gauges = await self._inbox_gauges(inbox) if inbox is not None else []
        registry.register(_Families(lambda: iter(gauges)))
        encoder, content_type = choose_encoder(accept or "")
        body: bytes = await anyio.to_thread.run_sync(encoder, registry)
        return body, content_type

    async def _inbox_gauges(self, inbox: InboxCounts) -> list[Metric]:
        read_at, gauges = self._inbox_counts
        if time.monotonic() - read_at < INBOX_COUNTS_TTL:
            return gauges
        try:
            counts = await asyncio.wait_for(inbox.counts(), INBOX_COUNTS_TIMEOUT)
        except Exception:  # readiness reports and logs what is wrong with the inbox
            return []
        gauges = [
            _gauge("pending", "Deliveries not done yet: new, running, or waiting for a retry",
                   counts.pending),
            _gauge("running", "Pending deliveries a worker is running now", counts.running),
            _gauge("retrying", "Pending deliveries that failed before and wait for a retry",
                   counts.retrying),
            _gauge("failed", "Deliveries parked as failed after their last attempt",
                   counts.failed),
        ]  # fmt: skip
        self._inbox_counts = (time.monotonic(), gauges)
        return gauges


def _stable(label: str) -> str:
    """`label` bounded in length (handler names never hold an address: see the registry)."""
    return label[:MAX_LABEL_CHARS]


def _gauge(state: str, documentation: str, value: int) -> Metric:
    return GaugeMetricFamily(f"vapi_receiver_inbox_{state}", documentation, value=value)


class _Families:
    """A collector that yields what `collect` returns, for a registry built per scrape."""

    def __init__(self, collect: Any) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        families: Iterable[Metric] = self._collect()
        yield from families
