"""Putting load on a running server from a separate process: wrk if present, else Python.

Both report requests, elapsed seconds, non-2xx or failed requests, and the 50th and 99th
percentile latency; `LoadResult` turns that into requests per second and milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from bench.servers import REPO_ROOT
from bench.workloads import MARK, SEQ_DIGITS, Template

#: Seconds a load run may overrun its duration before it is killed.
GRACE: Final = 30.0

_WRK_SCRIPT: Final = r"""
local parts = {}
local file = assert(io.open(os.getenv("BENCH_TEMPLATE"), "rb"))
local data = file:read("*a")
file:close()
local mark = "@MARK@"
local start = 1
while true do
  local i, j = string.find(data, mark, start, true)
  if not i then break end
  table.insert(parts, string.sub(data, start, i - 1))
  start = j + 1
end
table.insert(parts, string.sub(data, start))
local headers = @HEADERS@
local seq = 0
request = function()
  seq = seq + 1
  local body = table.concat(parts, string.format("%0@DIGITS@d", seq % 10^@DIGITS@))
  return wrk.format("POST", "@PATH@", headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests":%d,"duration_s":%f,"errors":%d,"p50_us":%f,"p99_us":%f,"notes":[]}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    requests: int
    duration_s: float
    errors: int
    p50_ms: float
    p99_ms: float
    requests_per_s: float
    generator: str

    @classmethod
    def from_figures(cls, figures: Mapping[str, Any], generator: str) -> LoadResult:
        duration = float(figures["duration_s"]) or 1e-9
        return cls(
            requests=int(figures["requests"]),
            duration_s=round(duration, 3),
            errors=int(figures["errors"]),
            p50_ms=round(float(figures["p50_us"]) / 1000, 3),
            p99_ms=round(float(figures["p99_us"]) / 1000, 3),
            requests_per_s=round(int(figures["requests"]) / duration, 1),
            generator=generator,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_generator(preference: str) -> str:
    """`wrk` when asked for or found on PATH, else `python`."""
    if preference == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if preference == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--load-generator wrk: wrk is not on PATH (apt-get install wrk)")
    return preference


def run_load(
    generator: str,
    port: int,
    path: str,
    headers: Mapping[str, str],
    template: Template,
    connections: int,
    duration: float,
    workdir: Path,
) -> LoadResult:
    """Load `path` on 127.0.0.1:`port` for `duration` seconds with `connections` connections."""
    template_file = workdir / "template.body"
    template_file.write_bytes(template.raw)
    if generator == "wrk":
        figures = _wrk(port, path, headers, template_file, connections, duration, workdir)
    else:
        figures = _python(port, path, headers, template_file, connections, duration)
    return LoadResult.from_figures(figures, generator)


def _wrk(
    port: int,
    path: str,
    headers: Mapping[str, str],
    template_file: Path,
    connections: int,
    duration: float,
    workdir: Path,
) -> dict[str, Any]:
    lua_headers = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"
    script = (
        _WRK_SCRIPT.replace("@MARK@", MARK.decode())
        .replace("@HEADERS@", lua_headers)
        .replace("@DIGITS@", str(SEQ_DIGITS))
        .replace("@PATH@", path)
    )
    script_file = workdir / "bench.lua"
    script_file.write_text(script)
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
        "-s", str(script_file), f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_TEMPLATE": str(template_file)}
    output = _run(command, env, duration)
    for line in output.splitlines():
        if line.startswith("BENCH-JSON "):
            figures: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
            return figures
    raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")


def _python(
    port: int,
    path: str,
    headers: Mapping[str, str],
    template_file: Path,
    connections: int,
    duration: float,
) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.loadgen", "--port", str(port), "--path", path,
        "--template", str(template_file), "--headers", json.dumps(dict(headers)),
        "--connections", str(connections), "--duration", str(duration),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    figures: dict[str, Any] = json.loads(_run(command, env, duration).splitlines()[-1])
    return figures


def _run(command: list[str], env: Mapping[str, str], duration: float) -> str:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=duration + GRACE, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{command[0]} overran its {duration} s run; killed") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:3])} failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    return done.stdout
