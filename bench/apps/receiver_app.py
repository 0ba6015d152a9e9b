"""Our receiver as a user would deploy it: an org secret, the tool, informational handlers.

Everything is as configured by default (verification, models, dispatch, the inbox where it
applies); `$BENCH_RECEIVER_CONFIG` may name a TOML file whose tables are laid over that.
`$BENCH_RECEIVER_INBOX=off` turns the durable inbox off on top, for the benchmark's second
receiver row, which shows what the inbox costs.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from typing import Any, Final

from starlette.applications import Starlette

from bench.workloads import PATH, SECRET, TOOL_NAME, lookup_order
from receiver import Receiver
from receiver.models import Call, Message

CONFIG_ENV: Final = "BENCH_RECEIVER_CONFIG"
INBOX_ENV: Final = "BENCH_RECEIVER_INBOX"


def build_receiver(*, inbox: bool | None = None) -> Receiver:
    """The receiver under test, with the same tool and handlers the other servers have.

    Args:
        inbox: False turns the durable inbox off; None leaves it as configured.
    """
    receiver = Receiver(config=_config(inbox), path=PATH)

    @receiver.tool(TOOL_NAME)
    async def lookup(order_id: str) -> dict[str, str]:
        # async, like the other servers' tools: a sync tool would run in the thread pool.
        return lookup_order(order_id)

    seen: Counter[str] = Counter()

    @receiver.on("end-of-call-report", "status-update")
    async def record(message: Message, call: Call | None) -> None:
        # Touch the parsed message, as a real handler would, so the parse is not skipped.
        seen[f"{message.type}:{call.status if call else ''}"] += 1

    return receiver


def create_app() -> Starlette:
    return build_receiver(inbox=False if os.environ.get(INBOX_ENV) == "off" else None).app


def _config(inbox: bool | None) -> dict[str, Any]:
    config: dict[str, Any] = {"org": {"secret": SECRET}}
    if path := os.environ.get(CONFIG_ENV):
        with open(path, "rb") as file:
            overrides = tomllib.load(file)
        config.update({key: value for key, value in overrides.items() if key != "org"})
    if inbox is False:
        config["inbox"] = {**config.get("inbox", {}), "enabled": False}
    return config
