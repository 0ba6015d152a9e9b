"""Turning measurements into what a reader sees: ratios against the targets, tables, a chart.

The tables are Markdown, so the printed output can be pasted into the README as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

MIB: Final = 1024 * 1024
#: Memory counts as flat when 100k messages grow resident memory by less than this.
FLAT_RSS_GROWTH: Final = 10 * MIB


@dataclass(frozen=True)
class Ratio:
    """One target of issue 5, measured: `value` against `target` in the direction `op`."""

    name: str
    value: float | None
    op: str  # ">=" or "<="
    target: float

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.op == ">=" else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if self.value is None else round(self.value, 3),
            "target": f"{self.op} {self.target:g}",
            "met": self.met,
        }


def ratios(results: Mapping[str, Any]) -> list[Ratio]:
    """The issue's targets, each computed from this run's own figures."""
    rps = {(r["workload"], r["server"]): r["requests_per_s"] for r in results["http"]}
    out: list[Ratio] = []

    def throughput(workload: str, other: str, op: str, target: float) -> None:
        mine, theirs = rps.get((workload, "receiver")), rps.get((workload, other))
        if mine is not None and theirs:
            out.append(Ratio(f"throughput receiver/{other}, {workload}", mine / theirs, op, target))

    for workload in ("tool-calls", "end-of-call-report"):
        throughput(workload, "floor", ">=", 0.8)
    for workload in ("tool-calls", "end-of-call-report", "status-update"):
        throughput(workload, "fastapi", ">=", 1.5)
    throughput("tool-calls", "vapiserve", ">=", 1.5)
    for workload, cost in results.get("in_process", {}).items():
        out.append(
            Ratio(f"in-process cost/json.loads, {workload}", cost["receiver_us"] / cost["json_loads_us"], "<=", 3)
        )
        if cost.get("sdk_us"):
            out.append(Ratio(f"in-process cost/SDK, {workload}", cost["receiver_us"] / cost["sdk_us"], "<=", 1))
    if memory := results.get("memory"):
        growth = memory["rss_growth_bytes"] / MIB
        out.append(Ratio(f"RSS growth over {memory['messages']:,} messages, MiB", growth, "<=", FLAT_RSS_GROWTH / MIB))
    return out


def markdown(results: Mapping[str, Any]) -> str:
    """The whole report: HTTP table, in-process table, memory, targets."""
    lines = ["### Over HTTP (one uvicorn worker each, load from a separate process)", ""]
    lines += _table(
        ["workload", "server", "req/s", "p50 ms", "p99 ms", "peak RSS MB", "receiver ÷ this (req/s)"],
        _http_rows(results["http"]),
    )
    if in_process := results.get("in_process"):
        lines += ["", "### In process, per message (verify + parse + dispatch + handlers)", ""]
        lines += _table(
            ["message", "body", "json.loads µs", "receiver µs", "SDK validation µs", "receiver ÷ json.loads", "receiver ÷ SDK"],
            [
                [
                    name,
                    _size(cost["body_bytes"]),
                    _num(cost["json_loads_us"]),
                    _num(cost["receiver_us"]),
                    _num(cost["sdk_us"]),
                    _ratio(cost["receiver_us"], cost["json_loads_us"]),
                    _ratio(cost["receiver_us"], cost["sdk_us"]),
                ]
                for name, cost in in_process.items()
            ],
        )
    if memory := results.get("memory"):
        lines += [
            "",
            f"Memory over {memory['messages']:,} messages in process (tool calls and status updates): "
            f"RSS {memory['rss_before_bytes'] / MIB:.1f} → {memory['rss_after_bytes'] / MIB:.1f} MiB "
            f"({memory['rss_growth_bytes'] / MIB:+.1f} MiB); tracemalloc over {memory['traced_messages']:,} "
            f"more: peak {memory['tracemalloc_peak_bytes'] / MIB:.2f} MiB, "
            f"retained {memory['tracemalloc_retained_bytes'] / MIB:+.2f} MiB.",
        ]
    lines += ["", "### Targets", ""]
    lines += _table(
        ["target", "measured", "goal", "met"],
        [
            [r.name, _num(r.value), f"{r.op} {r.target:g}", {True: "yes", False: "**no**", None: "—"}[r.met]]
            for r in ratios(results)
        ],
    )
    return "\n".join(lines)


def _http_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    mine = {r["workload"]: r["requests_per_s"] for r in rows if r["server"] == "receiver"}
    table = []
    for r in rows:
        title = f"{r['workload']} ({_size(r['body_bytes'])}, {r['connections']} conn.)"
        ratio = "" if r["server"] == "receiver" else _ratio(mine.get(r["workload"]), r["requests_per_s"])
        server = r["server_title"] + (f" [{r['note']}]" if r.get("note") else "")
        table.append(
            [title, server, _num(r["requests_per_s"]), _num(r["p50_ms"]), _num(r["p99_ms"]),
             _num(r["peak_rss_bytes"] / 1e6), ratio]
        )  # fmt: skip
    return table


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def _ratio(mine: float | None, theirs: float | None) -> str:
    return f"{mine / theirs:.2f}x" if mine and theirs else "—"


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB"


def chart(results: Mapping[str, Any], path: Path) -> None:
    """A PNG: requests/s per server for each workload, and the in-process cost per message."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r["workload"] for r in results["http"]))
    panels = len(workloads) + (1 if results.get("in_process") else 0)
    columns = 2
    figure, axes = plt.subplots(math.ceil(panels / columns), columns, figsize=(11, 7.5), squeeze=False)
    colours = {"floor": "#9e9e9e", "receiver": "#1f77b4", "fastapi": "#ff7f0e", "vapiserve": "#8c564b"}
    flat = [ax for row in axes for ax in row]
    for ax, workload in zip(flat, workloads, strict=False):
        rows = [r for r in results["http"] if r["workload"] == workload]
        names = [r["server"] for r in rows]
        values = [r["requests_per_s"] for r in rows]
        bars = ax.bar(names, values, color=[colours.get(n, "#777") for n in names])
        ax.bar_label(bars, labels=[f"{v:,.0f}\np99 {r['p99_ms']:.3g} ms" for v, r in zip(values, rows, strict=True)], fontsize=8)
        ax.set_title(f"{workload} ({_size(rows[0]['body_bytes'])}, {rows[0]['connections']} connections)", fontsize=10)
        ax.set_ylabel("requests/s (higher is better)")
        ax.set_ylim(0, max(values) * 1.3)
        ax.tick_params(axis="x", labelsize=9)
    if in_process := results.get("in_process"):
        ax = flat[len(workloads)]
        kinds = [("json_loads_us", "json.loads", "#9e9e9e"), ("receiver_us", "receiver", "#1f77b4"), ("sdk_us", "SDK validation", "#2ca02c")]
        names = list(in_process)
        width = 0.27
        for i, (key, label, colour) in enumerate(kinds):
            xs = [j + (i - 1) * width for j in range(len(names))]
            ys = [in_process[n][key] or 0 for n in names]
            ax.bar(xs, ys, width, label=label, color=colour)
        ax.set_xticks(range(len(names)), names, fontsize=9)
        ax.set_yscale("log")
        ax.set_ylabel("µs per message, log scale (lower is better)")
        ax.set_title("in-process cost per message", fontsize=10)
        ax.legend(fontsize=8)
    for ax in flat[panels:]:
        ax.set_visible(False)
    machine = results["machine"]
    figure.suptitle(
        f"vapi-receiver benchmark: {machine['cpus']} × {machine['cpu_model']}, Python {machine['python']}, "
        f"load by {results['settings']['load_generator']}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
