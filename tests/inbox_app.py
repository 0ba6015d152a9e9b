"""The receiver that the crash and load tests run in a uvicorn child process.

Everything comes from the environment, so each test picks its own:

- `VAPI_SERVER_SECRET`: the org secret; `VAPI_INBOX_PATH`: the inbox file.
- `INBOX_APP_RECORD`: the file the end-of-call-report handler appends each call id to.
- `INBOX_APP_SLOW`: seconds a call whose id starts with `slow-` sleeps before recording.
- `INBOX_APP_SLEEP`: seconds every other call sleeps before recording.
- `INBOX_APP_INBOX`: `off`, `normal` or `full` (the `synchronous` level).
- `INBOX_APP_LEASE`: the inbox's `lease_seconds`.
- `VAPI_RECEIVER_INBOX_URL`: a PostgreSQL inbox instead of the file (the fleet test).

The `book_table` tool appends each run to the record file's name plus `.tools`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from receiver import Receiver

_RECORD = os.environ["INBOX_APP_RECORD"]
_SLOW = float(os.environ.get("INBOX_APP_SLOW", "0"))
_SLEEP = float(os.environ.get("INBOX_APP_SLEEP", "0"))
_MODE = os.environ.get("INBOX_APP_INBOX", "normal")

receiver = Receiver(
    config={
        "org": {"secret": os.environ["VAPI_SERVER_SECRET"]},
        "inbox": {
            "enabled": _MODE != "off",
            "synchronous": "full" if _MODE == "full" else "normal",
            "lease_seconds": float(os.environ.get("INBOX_APP_LEASE", "30")),
        },
    }
)


@receiver.on("end-of-call-report")
async def record(message: Any, call: Any) -> None:
    """Sleep first, record last: the side effect is the handler's final, single step.

    One `write` of one short line to a file opened with O_APPEND: either the whole line is
    there or none of it, whatever moment the process is killed at.
    """
    delay = _SLOW if call.id.startswith("slow-") else _SLEEP
    if delay:
        await asyncio.sleep(delay)
    fd = os.open(_RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{call.id}\n".encode())
    finally:
        os.close(fd)


@receiver.tool
async def book_table(time: str) -> str:
    fd = os.open(_RECORD + ".tools", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{time} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return f"booked {time} on {os.getpid()}"


app = receiver.app
