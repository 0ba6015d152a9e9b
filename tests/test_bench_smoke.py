"""The benchmark's machinery still works: apps answer correctly, figures come out.

Tiny runs only, in this environment (no `.bench-venv`, no installs, no timing assertions):
the real numbers come from `python -m bench`, which CI does not run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench import report
from bench.inprocess import measure_costs, measure_memory
from bench.load import run_load
from bench.servers import SERVERS, UvicornSettings, post, running
from bench.workloads import HEADERS, PATH, workloads

pytestmark = pytest.mark.slow  # the benchmark servers and load generator

TEMPLATES = {w.name: w.template for w in workloads()}
SPECS = {s.name: s for s in SERVERS}


@pytest.fixture(autouse=True)
def _inbox_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VAPI_INBOX_PATH", str(tmp_path / "inbox.sqlite3"))


def test_every_request_body_is_a_distinct_delivery() -> None:
    template = TEMPLATES["tool-calls"]
    first, second = json.loads(template.render(1)), json.loads(template.render(2))
    assert first["message"]["timestamp"] != second["message"]["timestamp"]
    ids = [m["message"]["toolCallList"][0]["id"] for m in (first, second)]
    assert ids[0] != ids[1]
    assert len(template.render(1)) == len(template.render(99_999)) == template.size


@pytest.mark.parametrize("server", ["floor", "receiver"])
def test_the_app_answers_a_tool_call_over_http(server: str, tmp_path: Path) -> None:
    with running(SPECS[server], UvicornSettings.detect(), tmp_path) as running_server:
        status, body = post(running_server.url + PATH, TEMPLATES["tool-calls"].render(5), HEADERS)
    assert status == 200
    (result,) = json.loads(body)["results"]
    assert result["name"] == "lookup_order"
    assert json.loads(result["result"])["status"] == "shipped"


def test_the_receiver_acknowledges_informational_messages_and_checks_the_secret(
    tmp_path: Path,
) -> None:
    body = TEMPLATES["status-update"].render(6)
    with running(SPECS["receiver"], UvicornSettings.detect(), tmp_path) as server:
        acknowledged = post(server.url + PATH, body, HEADERS)
        refused = post(server.url + PATH, body, {**HEADERS, "x-vapi-secret": "wrong"})
    assert acknowledged == (200, b"{}")
    assert refused[0] == 401


def test_the_python_load_generator_reports_figures(tmp_path: Path) -> None:
    template = TEMPLATES["tool-calls"]
    with running(SPECS["floor"], UvicornSettings.detect(), tmp_path) as server:
        result = run_load("python", server.port, PATH, HEADERS, template, 2, 0.3, tmp_path)
    assert result.requests > 0
    assert result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_in_process_costs_and_memory_come_out_for_every_workload() -> None:
    costs = asyncio.run(measure_costs(count=3, budget=0.05, sdk=False))
    assert set(costs) == set(TEMPLATES)
    for cost in costs.values():
        assert cost["receiver_us"] > 0
        assert cost["json_loads_us"] > 0
    memory = asyncio.run(measure_memory(count=20, traced=10))
    assert memory["messages"] == 20
    assert memory["rss_after_bytes"] > 0


def test_the_report_computes_ratios_against_the_targets() -> None:
    row = {"body_bytes": 2600, "connections": 16, "p50_ms": 1.0, "p99_ms": 2.0}
    results = {
        "http": [
            {
                **row,
                "workload": "tool-calls",
                "server": "floor",
                "server_title": "floor",
                "requests_per_s": 1000.0,
                "peak_rss_bytes": 5e7,
            },
            {
                **row,
                "workload": "tool-calls",
                "server": "receiver",
                "server_title": "receiver",
                "requests_per_s": 900.0,
                "peak_rss_bytes": 5e7,
            },
        ],
        "in_process": {
            "tool-calls": {
                "body_bytes": 2600,
                "receiver_us": 40.0,
                "json_loads_us": 10.0,
                "sdk_us": 200.0,
            },
        },
    }
    results["in_process"]["status-update"] = {
        "body_bytes": 4500,
        "receiver_us": 60.0,
        "json_loads_us": 10.0,
        "sdk_us": 200.0,
    }
    by_name = {r.name: r for r in report.ratios(results)}
    assert by_name["throughput receiver/floor, tool-calls"].met is True  # 0.9 >= 0.5
    assert by_name["p99 ms, tool-calls, 16 connections"].met is True  # 2 ms <= 15
    assert by_name["in-process CPU µs, tool-calls"].met is True  # 40 <= 80
    assert by_name["in-process CPU µs, status-update"].met is False  # 60 > 50
    assert "throughput receiver/fastapi, tool-calls" not in by_name  # no FastAPI figure
    assert "| tool-calls (2.6 KB, 16 conn.) | floor | 1,000 |" in report.markdown(results)
