"""A repeated `toolCallId` gets the answer already given, instead of running the tool again.

Vapi repeats a tool call when it did not get the answer (a timeout, a dropped connection,
a backoff plan), and running a tool twice can book twice. So each result is stored once
the tool has run, by call, `toolCallId`, function, levels and arguments
(`keys.tool_result_key`), and a
repeat within the window answers the stored result. A repeat that arrives while the first
is still running waits for it (within this process; two workers that get the same call at
the same moment may both run it).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

from pydantic import ValidationError

from receiver.errors import ReceiverError
from receiver.inbox.backend import InboxBackend
from receiver.log import describe, logger, message_fields
from receiver.models import Message, ToolCall
from receiver.responses import ToolCallResult

#: Results this process gave most recently, answered from memory: a retry usually follows
#: its first within seconds, and lands on the same host more often than not.
RECENT_RESULTS: Final = 1024


class ToolResultReplay:
    """Implements `receiver.dispatch.ToolReplay` on the inbox's `tool_results` table.

    A result is answered at once and stored behind the answer (the store's next group
    commit); until then, and for the `RECENT_RESULTS` latest, memory answers a retry.

    Args:
        store: The inbox's store.
        window: Seconds a stored result is replayed for.
    """

    def __init__(self, store: InboxBackend, window: float) -> None:
        self._store = store
        self._window = window
        self._in_flight: dict[str, asyncio.Task[ToolCallResult]] = {}
        self._recent: OrderedDict[str, tuple[float, ToolCallResult]] = OrderedDict()

    async def run(
        self,
        key: str,
        tool_call: ToolCall,
        message: Message,
        compute: Callable[[], Awaitable[ToolCallResult]],
    ) -> ToolCallResult:
        """The result of `compute()`, run at most once per `key` (`keys.tool_result_key`)."""
        fields = message_fields(message.raw)
        task = self._in_flight.get(key)
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            logger.info(
                "repeated toolCallId %s while the first is running: answering its result %s",
                tool_call.id,
                describe(fields),
                extra=fields,
            )
        else:
            task = asyncio.ensure_future(self._first(key, tool_call, fields, compute))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: a caller that goes away does not cancel the tool, whose result is then
        # stored for the retry that is bound to follow.
        return await asyncio.shield(task)

    async def _first(
        self,
        key: str,
        tool_call: ToolCall,
        fields: dict[str, str | None],
        compute: Callable[[], Awaitable[ToolCallResult]],
    ) -> ToolCallResult:
        stored = await self._stored(key)
        if stored is not None and (stored.name, stored.tool_call_id) != (
            tool_call.name,
            tool_call.id,
        ):
            logger.error(
                "the stored result for toolCallId %s is for %s, not %s: running the tool %s",
                tool_call.id,
                stored.name,
                tool_call.name,
                describe(fields),
                extra=fields,
            )
            stored = None
        if stored is not None:
            logger.info(
                "repeated toolCallId %s: answered the stored result, %s not run again %s",
                tool_call.id,
                tool_call.name,
                describe(fields),
                extra=fields,
            )
            return stored
        result = await compute()
        self._recent[key] = (time.monotonic(), result)
        if len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)
        self._store.save_tool_result(key, result.model_dump_json(by_alias=True, exclude_none=True))
        return result

    async def _stored(self, key: str) -> ToolCallResult | None:
        recent = self._recent.get(key)
        if recent is not None and time.monotonic() - recent[0] <= self._window:
            return recent[1]
        try:
            text = await self._store.tool_result(key, window=self._window)
            return None if text is None else ToolCallResult.model_validate_json(text)
        except (ReceiverError, ValidationError) as exc:
            logger.error("could not read stored tool results; running the tool: %s", exc)
            return None

    def _forget(self, key: str, task: asyncio.Task[ToolCallResult]) -> None:
        if self._in_flight.get(key) is task:
            del self._in_flight[key]
