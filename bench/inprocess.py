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
import importlib
import json
import logging
import os
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

from bench.apps.receiver_app import build_receiver
from bench.workloads import HEADERS, Template, workloads
from receiver import Receiver

#: The fastest of this many rounds counts: other load on the machine only ever slows a round.
ROUNDS: Final = 3
#: The warm-up body's number (as 10**SEQ_WARMUP): outside the range the rounds use.
SEQ_WARMUP: Final = 7
INBOX_PATH_ENV: Final = "VAPI_INBOX_PATH"

Step = Callable[[bytes], Awaitable[object]]


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


#: Work scheduled after answers (informational handlers), awaited at the end of each round:
#: as under a server, the next delivery does not wait for the previous one's handlers.
_after_answers: set[asyncio.Future[None]] = set()


async def _deliver(receiver: Receiver, body: bytes) -> None:
    outcome = await receiver.handle(HEADERS, body)
    if outcome.status != 200:
        raise RuntimeError(f"receiver answered {outcome.status}: {outcome.body!r}")
    if outcome.background is not None:
        task = asyncio.ensure_future(outcome.background())
        _after_answers.add(task)
        task.add_done_callback(_after_answers.discard)


async def _handlers_done() -> None:
    if _after_answers:
        await asyncio.gather(*_after_answers)


async def _per_message_us(
    step: Step, bodies: Callable[[], Sequence[bytes]], budget: float
) -> float:
    """CPU microseconds per call of `step`, the fastest of `ROUNDS` rounds on fresh `bodies()`.

    CPU time of the whole process (the inbox's SQLite thread included), not wall time: a
    wait for a thread to be scheduled on a busy machine is not work the receiver does.
    A round stops early once it has used `budget` seconds, and no other round follows a
    round that did (the SDK takes seconds on a 1 MB report).
    """
    best = float("inf")
    for _ in range(ROUNDS):
        batch = bodies()
        count = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        for body in batch:
            await step(body)
            count += 1
            if time.perf_counter() - started > budget:
                break
        await _handlers_done()
        elapsed = time.perf_counter() - started
        best = min(best, (time.process_time() - cpu_started) / count * 1e6)
        if elapsed > budget:
            break
    return round(best, 1)


#: The SDK's model of each workload's type. Imported by module: the SDK's full union takes
#: half a minute to import, these three about ten seconds.
_SDK_MODELS: Final = {
    "tool-calls": ("vapi.types.server_message_tool_calls", "ServerMessageToolCalls"),
    "status-update": ("vapi.types.server_message_status_update", "ServerMessageStatusUpdate"),
    "end-of-call-report": (
        "vapi.types.server_message_end_of_call_report",
        "ServerMessageEndOfCallReport",
    ),
}


def _sdk_validator() -> Callable[[bytes], object] | None:
    """Validation with `vapi-server-sdk`'s model of the message's type; None without the SDK."""
    try:
        models = {
            kind: getattr(importlib.import_module(module), name)
            for kind, (module, name) in _SDK_MODELS.items()
        }
    except ImportError:
        return None

    def validate(body: bytes) -> object:
        message = json.loads(body)["message"]
        return models[message["type"]].model_validate(message)

    return validate


async def measure_costs(
    count: int, budget: float = 2.0, *, sdk: bool = True
) -> dict[str, dict[str, Any]]:
    """Per-message cost of each workload's body: receiver, json.loads and the SDK, in µs.

    Args:
        count: Messages per round for the small bodies (a tenth of it, at least 5, for the
            1 MB report).
        budget: Seconds a round may take before it stops early.
        sdk: Also time `vapi-server-sdk` validation (if installed; its import is slow).
    """
    receiver = build_receiver()
    without_inbox = build_receiver(inbox=False)
    # Served as under uvicorn: the inbox accepts deliveries only while its lifespan runs.
    async with receiver.lifespan(), without_inbox.lifespan():
        results: dict[str, dict[str, Any]] = {}
        bodies: dict[str, Callable[[], list[bytes]]] = {}
        seq = 0
        for workload in workloads():
            template = workload.template
            n = count if template.size < 100_000 else max(5, count // 10)

            def fresh(n: int = n, template: Template = template) -> list[bytes]:
                # Every delivery unique, as in production: no duplicate is answered from the inbox.
                nonlocal seq
                seq += n
                return [template.render(seq - n + i) for i in range(n)]

            bodies[workload.name] = fresh
            for warm in (receiver, without_inbox):  # imports, caches, the inbox file
                await _deliver(warm, template.render(10**SEQ_WARMUP))
            results[workload.name] = {
                "body_bytes": template.size,
                "receiver_us": await _per_message_us(
                    lambda b: _deliver(receiver, b), fresh, budget
                ),
                "receiver_no_inbox_us": await _per_message_us(
                    lambda b: _deliver(without_inbox, b), fresh, budget
                ),
                "json_loads_us": await _per_message_us(_sync(json.loads), fresh, budget),
                "sdk_us": None,
            }
        # The SDK last: its import leaves so many objects that every garbage collection after
        # it is slower, which would be charged to whatever is measured next.
        if validate := _sdk_validator() if sdk else None:
            for name, make_bodies in bodies.items():
                results[name]["sdk_us"] = await _per_message_us(
                    _sync(validate), make_bodies, budget
                )
        return results


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
        await _handlers_done()

    async with receiver.lifespan():  # as under uvicorn
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
    # As every server over HTTP runs (log level warning): no line formatted per answer.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
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
