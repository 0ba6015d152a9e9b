"""A small HTTP/1.1 load generator for when wrk is not installed: `python -m bench.loadgen`.

It runs in its own process (so it does not share the server's interpreter), keeps
`connections` keep-alive connections busy on raw asyncio streams for `duration` seconds,
and prints one JSON object with the same fields the wrk script prints. Bounded in time:
every request has a timeout, and the run stops at its deadline whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from bench.workloads import MARK, Template

REQUEST_TIMEOUT: Final = 10.0


async def _connection(
    port: int,
    head: bytes,
    template: Template,
    deadline: float,
    first_seq: int,
    stride: int,
    latencies: list[int],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    seq = first_seq
    try:
        while time.monotonic() < deadline:
            body = template.render(seq)
            seq += stride
            started = time.perf_counter_ns()
            writer.writelines((head, b"%d\r\n\r\n" % len(body), body))
            status = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT)
            latencies.append(time.perf_counter_ns() - started)
            if not 200 <= status < 300:
                errors.append(str(status))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> int:
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def run(
    port: int,
    path: str,
    headers: Mapping[str, str],
    template: Template,
    connections: int,
    duration: float,
) -> dict[str, Any]:
    """Load `path` for `duration` seconds; the figures, as the wrk script reports them."""
    head = "".join(
        [f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"]
        + [f"{name}: {value}\r\n" for name, value in headers.items()]
        + ["Content-Length: "]
    ).encode()
    latencies: list[int] = []
    errors: list[str] = []
    started = time.monotonic()
    deadline = started + duration
    tasks = [
        _connection(port, head, template, deadline, i, connections, latencies, errors)
        for i in range(connections)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), duration + REQUEST_TIMEOUT + 5
    )
    elapsed = time.monotonic() - started
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    return summarise(latencies, elapsed, len(errors) + len(failures), failures[:3])


def summarise(
    latencies_ns: Sequence[int], elapsed: float, errors: int, notes: Sequence[str] = ()
) -> dict[str, Any]:
    ordered = sorted(latencies_ns)

    def percentile(p: float) -> float:
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1e3

    return {
        "requests": len(ordered),
        "duration_s": elapsed,
        "errors": errors,
        "p50_us": percentile(50),
        "p99_us": percentile(99),
        "notes": list(notes),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--template", type=Path, required=True, help="body file with marks")
    parser.add_argument("--headers", default="{}", help="JSON object of request headers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    template = Template(tuple(args.template.read_bytes().split(MARK)))
    with contextlib.suppress(ImportError):
        import uvloop  # the benchmark's environment has it: a faster client

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    figures = asyncio.run(
        run(
            args.port,
            args.path,
            json.loads(args.headers),
            template,
            args.connections,
            args.duration,
        )
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
