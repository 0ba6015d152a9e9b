"""The PNG chart of a run: requests/s per server for each workload, in-process cost per message.

Needs matplotlib, which only the benchmark's own environment has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from bench.report import size_label

_LABELS = {
    "receiver-no-inbox": "receiver\n(inbox off)",
    "receiver-postgres": "receiver\n(PostgreSQL)",
    "vapiserve": "vapiserve\n(own format)",
}


def write_chart(results: Mapping[str, Any], path: Path) -> None:
    """Write the chart of `results` to `path`."""
    matplotlib.use("Agg")  # files only, never a window
    workloads = list(dict.fromkeys(r["workload"] for r in results["http"]))
    panels = len(workloads) + (1 if results.get("in_process") else 0)
    columns = 2
    figure, axes = plt.subplots(
        math.ceil(panels / columns), columns, figsize=(11, 7.5), squeeze=False
    )
    colours = {
        "floor": "#9e9e9e",
        "receiver": "#1f77b4",
        "receiver-no-inbox": "#aec7e8",
        "receiver-postgres": "#2ca02c",
        "fastapi": "#ff7f0e",
        "vapiserve": "#8c564b",
    }
    flat = [ax for row in axes for ax in row]
    for ax, workload in zip(flat, workloads, strict=False):
        rows = [r for r in results["http"] if r["workload"] == workload]
        names = [r["server"] for r in rows]
        values = [r["requests_per_s"] for r in rows]
        labels = [_LABELS.get(n, n) for n in names]
        bars = ax.bar(labels, values, color=[colours.get(n, "#777") for n in names])
        ax.bar_label(
            bars,
            labels=[
                f"{v:,.0f}\np99 {r['p99_ms']:.3g} ms" for v, r in zip(values, rows, strict=True)
            ],
            fontsize=8,
        )
        ax.set_title(
            f"{workload} ({size_label(rows[0]['body_bytes'])}, "
            f"{rows[0]['connections']} connections)",
            fontsize=10,
        )
        ax.set_ylabel("requests/s (higher is better)")
        ax.set_ylim(0, max(values) * 1.3)
        ax.tick_params(axis="x", labelsize=8)
    if in_process := results.get("in_process"):
        ax = flat[len(workloads)]
        kinds = [
            ("json_loads_us", "json.loads", "#9e9e9e"),
            ("receiver_us", "receiver", "#1f77b4"),
            ("receiver_no_inbox_us", "receiver, inbox off", "#aec7e8"),
            ("sdk_us", "SDK validation", "#2ca02c"),
        ]
        names = list(in_process)
        width = 0.2
        for i, (key, label, colour) in enumerate(kinds):
            xs = [j + (i - 1.5) * width for j in range(len(names))]
            ys = [in_process[n].get(key) or 0 for n in names]
            ax.bar(xs, ys, width, label=label, color=colour)
        ax.set_xticks(range(len(names)), names, fontsize=9)
        ax.set_yscale("log")
        ax.set_ylabel("CPU µs per message, log scale (lower is better)")
        ax.set_title("in-process cost per message (no HTTP)", fontsize=10)
        ax.legend(fontsize=8)
    for ax in flat[panels:]:
        ax.set_visible(False)
    machine = results["machine"]
    figure.suptitle(
        f"vapi-receiver benchmark: {machine['cpus']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, load by {results['settings']['load_generator']}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
