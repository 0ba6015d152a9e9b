"""Turning measurements into what a reader sees: ratios against the targets, and tables.

The tables are Markdown, so the printed output can be pasted into the README as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

MIB: Final = 1024 * 1024
#: Memory counts as flat when 100k messages grow resident memory by less than this.
FLAT_RSS_GROWTH: Final = 10 * MIB


@dataclass(frozen=True)
class Ratio:
    """One target, measured: `value` against `target` in the direction `op`."""

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
    """The targets, each computed from this run's own figures (receiver as configured)."""
    rows = {(r["workload"], r["server"]): r for r in results["http"]}
    out: list[Ratio] = []

    def throughput(workload: str, other: str, target: float) -> None:
        mine, theirs = rows.get((workload, "receiver")), rows.get((workload, other))
        if mine is not None and theirs and theirs["requests_per_s"]:
            value = mine["requests_per_s"] / theirs["requests_per_s"]
            out.append(Ratio(f"throughput receiver/{other}, {workload}", value, ">=", target))

    throughput("tool-calls", "fastapi", 1.2)
    throughput("tool-calls", "vapiserve", 1.2)
    throughput("tool-calls", "floor", 0.5)
    if (tool_calls := rows.get(("tool-calls", "receiver"))) is not None:
        out.append(Ratio("p99 ms, tool-calls, 16 connections", tool_calls["p99_ms"], "<=", 15))
    throughput("status-update", "fastapi", 1.2)
    throughput("status-update", "floor", 0.5)
    throughput("end-of-call-report", "floor", 0.8)
    in_process = results.get("in_process", {})
    for workload, target in (("tool-calls", 80), ("status-update", 50)):
        if (cost := in_process.get(workload)) is not None:
            out.append(Ratio(f"in-process CPU µs, {workload}", cost["receiver_us"], "<=", target))
    if memory := results.get("memory"):
        growth = memory["rss_growth_bytes"] / MIB
        out.append(
            Ratio(
                f"RSS growth over {memory['messages']:,} messages, MiB",
                growth,
                "<=",
                FLAT_RSS_GROWTH / MIB,
            )
        )
    return out


def markdown(results: Mapping[str, Any]) -> str:
    """The whole report: HTTP table, in-process table, memory, targets."""
    lines = ["### Over HTTP (one uvicorn worker each, load from a separate process)", ""]
    lines += _table(
        [
            "workload",
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "peak RSS MB",
            "receiver ÷ this (req/s)",
        ],
        _http_rows(results["http"]),
    )
    if in_process := results.get("in_process"):
        lines += [
            "",
            "### In process, CPU µs per message (verify + parse + dispatch + handlers)",
            "",
        ]
        lines += _table(
            [
                "message",
                "body",
                "json.loads",
                "receiver",
                "receiver, inbox off",
                "SDK validation",
                "receiver ÷ json.loads",
                "receiver ÷ SDK",
            ],
            [
                [
                    name,
                    size_label(cost["body_bytes"]),
                    _num(cost["json_loads_us"]),
                    _num(cost["receiver_us"]),
                    _num(cost.get("receiver_no_inbox_us")),
                    _num(cost["sdk_us"]),
                    _ratio(cost["receiver_us"], cost["json_loads_us"]),
                    _ratio(cost["receiver_us"], cost["sdk_us"]),
                ]
                for name, cost in in_process.items()
            ],
        )
    if memory := results.get("memory"):
        m = {key: value / MIB for key, value in memory.items() if key.endswith("_bytes")}
        lines += [
            "",
            f"Memory over {memory['messages']:,} messages in process (tool calls and status "
            f"updates alternating): RSS {m['rss_before_bytes']:.1f} → {m['rss_after_bytes']:.1f} "
            f"MiB ({m['rss_growth_bytes']:+.1f} MiB); tracemalloc over "
            f"{memory['traced_messages']:,} more: peak {m['tracemalloc_peak_bytes']:.2f} MiB, "
            f"retained {m['tracemalloc_retained_bytes']:+.2f} MiB.",
        ]
    lines += ["", "### Targets", ""]
    lines += _table(
        ["target", "measured", "goal", "met"],
        [
            [
                r.name,
                _num(r.value),
                f"{r.op} {r.target:g}",
                {True: "yes", False: "**no**", None: "—"}[r.met],
            ]
            for r in ratios(results)
        ],
    )
    return "\n".join(lines)


def _http_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    mine = {r["workload"]: r["requests_per_s"] for r in rows if r["server"] == "receiver"}
    table = []
    for r in rows:
        title = f"{r['workload']} ({size_label(r['body_bytes'])}, {r['connections']} conn.)"
        ratio = (
            ""
            if r["server"] == "receiver"
            else _ratio(mine.get(r["workload"]), r["requests_per_s"])
        )
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


def size_label(size: int) -> str:
    """`2.6 KB`, `1.0 MB`."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB"
