"""The receiver's own cost per message, without HTTP: `python -m bench.inprocess`.

`costs` times `await receiver.handle(headers, body)` plus the work it schedules after the
answer (informational handlers), per message, against `json.loads` of the same body and
against validating it with the official `vapi-server-sdk` model of its type. `memory` sends
many messages through one receiver and reports resident memory before and after, and the
tracemalloc peak over part of the run: memory must stay flat however long a server runs.
Both print JSON; the runner starts each in a fresh process so memory figures are its own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
import tracemalloc
import typing
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

from bench.apps.receiver_app import build_receiver
from bench.workloads import HEADERS, Template, workloads
from receiver import Receiver

#: The fastest of this many rounds counts: other load on the machine only ever slows a round.
ROUNDS: Final = 3
INBOX_PATH_ENV: Final = "VAPI_INBOX_PATH"

Step = Callable[[bytes], Awaitable[object]]


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _deliver(receiver: Receiver, body: bytes) -> None:
    outcome = await receiver.handle(HEADERS, body)
    if outcome.status != 200:
        raise RuntimeError(f"receiver answered {outcome.status}: {outcome.body!r}")
    if outcome.background is not None:
        await outcome.background()


async def _per_message_us(
    step: Step, bodies: Callable[[], Sequence[bytes]], budget: float
) -> float:
    """Microseconds per call of `step`, the fastest of `ROUNDS` rounds, each on fresh `bodies()`.

    A round stops early once it has used `budget` seconds, and no other round follows a
    round that did (the SDK takes seconds on a 1 MB report).
    """
    best = float("inf")
    for _ in range(ROUNDS):
        batch = bodies()
        count = 0
        started = time.perf_counter()
        for body in batch:
            await step(body)
            count += 1
            if time.perf_counter() - started > budget:
                break
        elapsed = time.perf_counter() - started
        best = min(best, elapsed / count * 1e6)
        if elapsed > budget:
            break
    return round(best, 1)


def _sdk_validator() -> Callable[[bytes], object] | None:
    """`vapi-server-sdk`'s model of each type, used as a user of the SDK would; None if absent."""
    try:
        from vapi.types.server_message_message import ServerMessageMessage
    except ImportError:
        return None
    by_type: dict[str, Any] = {}
    for model in typing.get_args(ServerMessageMessage):
        for member in typing.get_args(model.model_fields["type"].annotation) or ():
            for literal in typing.get_args(member) or (member,):
                by_type.setdefault(literal, model)

    def validate(body: bytes) -> object:
        message = json.loads(body)["message"]
        return by_type[message["type"]].model_validate(message)

    return validate


async def measure_costs(count: int, budget: float = 2.0) -> dict[str, dict[str, Any]]:
    """Per-message cost of each workload's body: receiver, json.loads and the SDK, in µs.

    Args:
        count: Messages per round for the small bodies (a tenth of it, at least 5, for the
            1 MB report).
        budget: Seconds a round may take before it stops early.
    """
    receiver = build_receiver()
    validate = _sdk_validator()
    results: dict[str, dict[str, Any]] = {}
    seq = 0
    for workload in workloads():
        template = workload.template
        n = count if template.size < 100_000 else max(5, count // 10)

        def fresh(n: int = n, template: Template = template) -> list[bytes]:
            # Every delivery unique, as in production: no duplicate is answered from the inbox.
            nonlocal seq
            seq += n
            return [template.render(seq - n + i) for i in range(n)]

        await _deliver(receiver, template.render(10**SEQ_WARMUP))  # imports, caches, the file
        receiver_us = await _per_message_us(
            lambda body: _deliver(receiver, body), fresh, budget
        )
        json_us = await _per_message_us(_sync(json.loads), fresh, budget)
        sdk_us = await _per_message_us(_sync(validate), fresh, budget) if validate else None
        results[workload.name] = {
            "body_bytes": template.size,
            "receiver_us": receiver_us,
            "json_loads_us": json_us,
            "sdk_us": sdk_us,
        }
    return results


SEQ_WARMUP: Final = 7  # the warm-up body's number: outside the range the rounds use


def _sync(func: Callable[[bytes], object]) -> Step:
    async def step(body: bytes) -> object:
        return func(body)

    return step


async def measure_memory(count: int, traced: int) -> dict[str, Any]:
    """Resident memory around `count` messages (tool calls and status updates alternating),
    then the tracemalloc peak and what stays allocated over `traced` more."""
    receiver = build_receiver()
    by_name = {w.name: w.template for w in workloads()}
    templates = (by_name["tool-calls"], by_name["status-update"])

    async def send(first: int, n: int) -> None:
        for i in range(first, first + n):
            await _deliver(receiver, templates[i % 2].render(i))

    warmup = min(1000, count)
    await send(0, warmup)
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    await send(warmup, count)
    elapsed = time.perf_counter() - started
    gc.collect()
    rss_after = _rss_bytes()
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    await send(warmup + count, traced)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "messages": count,
        "seconds": round(elapsed, 2),
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "rss_growth_bytes": rss_after - rss_before,
        "traced_messages": traced,
        "tracemalloc_peak_bytes": peak - baseline,
        "tracemalloc_retained_bytes": current - baseline,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    costs = sub.add_parser("costs", help="µs per message: receiver, json.loads, SDK")
    costs.add_argument("--count", type=int, default=1000)
    costs.add_argument("--budget", type=float, default=2.0)
    memory = sub.add_parser("memory", help="resident memory over many messages")
    memory.add_argument("--count", type=int, default=100_000)
    memory.add_argument("--traced", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as workdir:
        # The inbox (on by default) gets a fresh file, never one in the current directory.
        os.environ.setdefault(INBOX_PATH_ENV, str(Path(workdir) / "inbox.sqlite3"))
        if args.what == "costs":
            result: object = asyncio.run(measure_costs(args.count, args.budget))
        else:
            result = asyncio.run(measure_memory(args.count, args.traced))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
