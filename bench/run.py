"""`python -m bench`: every server and workload side by side, then the table, JSON and chart.

Steps: make sure the benchmark's own environment exists (and re-run inside it); for each
workload start each server afresh under identical uvicorn settings, check one request is
answered correctly, warm it up, load it for `--duration` seconds from a separate process,
read its peak memory, stop it; then measure the in-process cost per message and memory
over many messages, each in a fresh process; then print and write the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from bench import environment, report
from bench.load import choose_generator, run_load
from bench.servers import REPO_ROOT, SERVERS, ServerSpec, UvicornSettings, post, running
from bench.workloads import HEADERS, PATH, VAPISERVE_PATH, Template, Workload, workloads

OUTPUT_DIR: Final = REPO_ROOT / "bench"
INPROCESS_TIMEOUT: Final = 600.0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="short runs (about 1.5 minutes), to try it"
    )
    parser.add_argument(
        "--duration", type=_positive, help="seconds of load per server and workload (5)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of load before measuring (1)"
    )
    parser.add_argument("--messages", type=_positive, help="messages for the memory check (100000)")
    parser.add_argument(
        "--load-generator", choices=["auto", "wrk", "python"], default="auto",
        help="wrk if on PATH (auto), else the Python generator in bench/loadgen.py",
    )  # fmt: skip
    parser.add_argument(
        "--servers", help="comma-separated subset: " + ",".join(s.name for s in SERVERS)
    )
    parser.add_argument(
        "--workloads", help="comma-separated subset: " + ",".join(w.name for w in workloads())
    )
    parser.add_argument("--skip-in-process", action="store_true", help="HTTP figures only")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        metavar="URL",
        help="a PostgreSQL server where the run creates (and drops) a database for the "
        "receiver with its inbox in PostgreSQL; without a server that row is left out",
    )
    parser.add_argument(
        "--receiver-config", type=Path,
        help="TOML laid over the receiver's configuration, e.g. [inbox] enabled = false",
    )  # fmt: skip
    parser.add_argument(
        "--use-current-env", action="store_true",
        help="run in this interpreter (it must have bench/requirements.txt) instead of .bench-venv",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help="where results.json/png go")
    args = parser.parse_args(argv)
    if args.receiver_config and not args.receiver_config.is_file():
        parser.error(f"--receiver-config: no file {args.receiver_config}")
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.messages = int(args.messages or (5_000 if args.quick else 100_000))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not args.use_current_env and not environment.inside_venv():
        environment.reexec_inside(environment.ensure_venv(), argv)
    try:
        return run(args)
    except RuntimeError as error:  # a server that did not start or answered wrongly
        print(f"bench: {error}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    """Measure everything `args` asks for, then print and write the results."""
    started = time.monotonic()
    env = {}
    if args.receiver_config:
        env["BENCH_RECEIVER_CONFIG"] = str(args.receiver_config.resolve())
        os.environ.update(env)
    generator = choose_generator(args.load_generator)
    settings = UvicornSettings.detect()
    chosen_servers = _select(SERVERS, args.servers)
    chosen_workloads = _select(workloads(), args.workloads)
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "load_generator": _generator_version(generator),
            "uvicorn": {
                "workers": 1,
                "host": "127.0.0.1",
                "http": settings.http,
                "loop": settings.loop,
                "log_level": "warning",
                "access_log": False,
            },
            "receiver": _receiver_settings(),
        },
        "http": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        bench_database(
            args.postgres_url
            if any(s.name == "receiver-postgres" for s in chosen_servers)
            else None
        ) as inbox_url,
    ):
        workdir = Path(tmp)
        for workload in chosen_workloads:
            for spec in chosen_servers:
                if spec.name == "receiver-postgres":
                    if inbox_url is None:
                        continue  # no server: said once, when the database was asked for
                    spec = replace(spec, env=(*spec.env, ("VAPI_RECEIVER_INBOX_URL", inbox_url)))
                row = _http_run(spec, workload, settings, generator, args, workdir, env)
                if row is not None:
                    results["http"].append(row)
                    print(_progress(row), flush=True)
    if not args.skip_in_process:
        print("bench: in-process cost per message", flush=True)
        count = 200 if args.quick else 1000
        results["in_process"] = _inprocess(
            ["costs", "--count", str(count), "--budget", "0.5" if args.quick else "1.5"], env
        )
        print(f"bench: memory over {args.messages:,} messages", flush=True)
        traced = max(1000, args.messages // 10)
        results["memory"] = _inprocess(
            ["memory", "--count", str(args.messages), "--traced", str(traced)], env
        )
    results["ratios"] = [r.as_dict() for r in report.ratios(results)]
    results["seconds"] = round(time.monotonic() - started, 1)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from bench.chart import write_chart  # matplotlib: only in the benchmark's environment

    write_chart(results, args.output / "results.png")
    print()
    print(report.markdown(results))
    print(f"\nbench: {results['seconds']} s; wrote {args.output / 'results.json'} and results.png")
    return 0


@contextlib.contextmanager
def bench_database(admin_url: str | None) -> Iterator[str | None]:
    """A database of this run's own on the PostgreSQL server at `admin_url`, dropped after;
    `None` (and the PostgreSQL row left out) when there is no server to use."""
    if admin_url is None:
        yield None
        return
    try:
        import asyncpg
    except ImportError:
        print("bench: asyncpg missing: the PostgreSQL inbox row is left out", flush=True)
        yield None
        return
    name = f"vapi_bench_{os.getpid()}"

    async def admin(sql: str) -> None:
        db = await asyncpg.connect(admin_url, timeout=5)
        try:
            await db.execute(sql)
        finally:
            await db.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"bench: no PostgreSQL at {admin_url} ({exc}): its row is left out", flush=True)
        yield None
        return
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _http_run(
    spec: ServerSpec,
    workload: Workload,
    settings: UvicornSettings,
    generator: str,
    args: argparse.Namespace,
    workdir: Path,
    env: dict[str, str],
) -> dict[str, Any] | None:
    template: Template | None = workload.template
    path, note = PATH, ""
    if spec.name == "vapiserve":
        # It serves tools only, in its own format; informational messages have nowhere to go.
        template, path = workload.vapiserve_template, VAPISERVE_PATH
        note = "its own format, not Vapi's envelope; no authentication"
    if template is None:
        return None
    with running(spec, settings, workdir / f"{spec.name}-{workload.name}", env) as server:
        status, answer = post(server.url + path, template.render(10**7 - 1), HEADERS)
        if status != 200 or (workload.name == "tool-calls" and b'"results"' not in answer):
            raise RuntimeError(
                f"{spec.name} answered {status} to {workload.name}: {answer[:300]!r}"
            )
        load = (generator, server.port, path, HEADERS, template, workload.connections)
        if args.warmup > 0:
            run_load(*load, args.warmup, workdir)
        result = run_load(*load, args.duration, workdir)
        peak = server.peak_rss_bytes()
    if result.errors:
        note = f"{note}; {result.errors} errors".strip("; ")
    return {
        "workload": workload.name,
        "title": workload.title,
        "body_bytes": template.size,
        "connections": workload.connections,
        "server": spec.name,
        "server_title": spec.title,
        **result.as_dict(),
        "peak_rss_bytes": peak,
        "note": note,
    }


def _inprocess(arguments: list[str], env: dict[str, str]) -> Any:
    command = [sys.executable, "-m", "bench.inprocess", *arguments]
    environment_ = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        command,
        env=environment_,
        capture_output=True,
        text=True,
        timeout=INPROCESS_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.inprocess {arguments[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _receiver_settings() -> dict[str, Any]:
    from bench.apps.receiver_app import build_receiver

    config = build_receiver().config
    inbox = getattr(config, "inbox", None)
    return {
        "inbox": bool(inbox and inbox.enabled),
        "inbox_synchronous": getattr(inbox, "synchronous", None),
        "overrides": os.environ.get("BENCH_RECEIVER_CONFIG"),
    }


def _generator_version(generator: str) -> str:
    if generator != "wrk":
        return "bench/loadgen.py (asyncio)"
    wrk = shutil.which("wrk") or "wrk"
    first = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout
    return " ".join(first.split()[:2]) if first else "wrk"


def _select(items: Sequence[Any], wanted: str | None) -> list[Any]:
    if not wanted:
        return list(items)
    names = [name.strip() for name in wanted.split(",")]
    known = {item.name: item for item in items}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown name(s) {unknown}; choose from {sorted(known)}")
    return [known[name] for name in names]


def _progress(row: dict[str, Any]) -> str:
    return (
        f"bench: {row['workload']:<19} {row['server']:<10} {row['requests_per_s']:>9,.0f} req/s  "
        f"p50 {row['p50_ms']:.3g} ms  p99 {row['p99_ms']:.3g} ms  "
        f"peak RSS {row['peak_rss_bytes'] / 1e6:.0f} MB"
    )
