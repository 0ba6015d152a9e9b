"""Running handlers: answers within their budget, tools concurrently, observers isolated.

Vapi waits on request types (assistant-request has 7.5 s end to end, a tool stalls the
conversation), so every answer here has a deadline and a safe fallback; no handler error
or overrun ever turns into a missing or malformed answer.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
)
from typing import Any, Final, Literal, Protocol, TypeVar

import anyio
import anyio.to_thread

from receiver.config import ReceiverConfig
from receiver.errors import Unauthorized
from receiver.inbox.keys import tool_result_key
from receiver.log import describe, logger, message_fields
from receiver.models import FunctionCallMessage, Message, ToolCall, ToolCallsMessage
from receiver.models.catalogue import PCM, SPECS
from receiver.registry import HandlerEntry, HandlerRegistry
from receiver.responses import (
    InvalidAnswer,
    ToolCallResult,
    ToolResult,
    answer_to_json,
    stringify_result,
)
from receiver.telemetry import Telemetry
from receiver.tools import ToolError
from receiver.verification import Level, winning_levels

#: What a voice-request handler may return: PCM bytes, or chunks of them to stream.
AudioAnswer = bytes | AsyncIterable[bytes]
Answer = dict[str, Any] | AudioAnswer
T = TypeVar("T")

TOOL_THREADS: Final = 40
"""Worker threads for sync tools at once, across all requests (anyio's own default)."""

REQUEST_THREADS: Final = 20
"""Worker threads for sync handlers of the other request types (assistant-request...), kept
apart from the tools' so that slow tools never make Vapi wait on a routing decision."""

OBSERVER_THREADS: Final = 20
"""Worker threads for sync informational handlers and `on_error` hooks, run after answers."""

TOOL_CALLS_AT_ONCE: Final = 8
"""Tool calls of one request that run at once; the others wait, within their own budget, so
one request with many calls cannot take every tool thread."""


class ToolReplay(Protocol):
    """Runs a tool call at most once per key (see `receiver.inbox.repeated_tool_calls`)."""

    async def run(
        self,
        key: str,
        tool_call: ToolCall,
        message: Message,
        compute: Callable[[], Awaitable[ToolCallResult]],
    ) -> ToolCallResult: ...


class Dispatcher:
    """Calls the registered handlers for one verified, parsed message."""

    def __init__(
        self, registry: HandlerRegistry, config: ReceiverConfig, telemetry: Telemetry | None = None
    ) -> None:
        self._registry = registry
        self._config = config
        self.telemetry = telemetry or Telemetry()
        # Three pools, each with its own threads and its own quota of abandoned ones: hung
        # tools cannot push a routing decision onto its fallback, nor observers either.
        limit = config.max_abandoned_threads
        self.tool_threads = WorkerThreads(limit, TOOL_THREADS, "tools")
        self.request_threads = WorkerThreads(limit, REQUEST_THREADS, "request handlers")
        self.observer_threads = WorkerThreads(limit, OBSERVER_THREADS, "observers")
        #: Set by the core when the inbox keeps tool results; `None` runs every tool call.
        self.replay: ToolReplay | None = None

    async def respond(self, message: Message) -> Answer:
        """The answer to a request-type message, always in the shape Vapi expects."""
        kind = message.type
        spec = SPECS[kind]
        entry = self._registry.responder(kind)
        if entry is None and spec.tools:
            return await self._answer_tools(message)
        if entry is None:
            logger.error(
                "no handler for %s; answered the safe default %s",
                kind,
                describe(_fields(message)),
                extra=_fields(message),
            )
            return self.fallback(kind, message.raw)
        assert spec.budget is not None, f"{kind} is not a request type"
        budget: float = getattr(self._config, spec.budget)
        started = time.perf_counter()
        deadline = asyncio.timeout(budget)  # unlike wait_for, no task per answer
        try:
            async with deadline:
                value = await self._call(entry, message, self.request_threads)
                if spec.media_type == PCM:  # reading sync chunks is part of the answer
                    value = await self._audio(value, entry, message)
        except TimeoutError as exc:
            if not deadline.expired():  # the handler's own timeout, not our budget
                await self._report_failure(exc, message)
                return self.fallback(kind, message.raw)
            self.telemetry.overran(kind, entry.qualified_name)
            await self._report_failure(
                TimeoutError(f"{entry.name} did not answer {kind} within {budget:g} s"), message
            )
            return self.fallback(kind, message.raw)
        except Exception as exc:
            await self._report_failure(exc, message)
            return self.fallback(kind, message.raw)
        _log_latency(message, started, budget)
        if spec.media_type == PCM:
            return value  # type: ignore[no-any-return]
        try:
            return answer_to_json(kind, value)
        except InvalidAnswer as exc:
            await self._report_failure(exc, message)
            return self.fallback(kind, message.raw)

    async def observe(
        self, message: Message, *, skip: Collection[str] = ()
    ) -> dict[str, str | None]:
        """Run the informational handlers and `on_any` observers, each isolated.

        Args:
            message: The verified, parsed message.
            skip: Names of handlers not to run (the inbox's retries skip those that
                already succeeded).

        Returns:
            Each handler run, by name (module and qualified name, `#2`... for repeats),
            mapped to `None` when it succeeded, else the error text.
        """
        entries = handler_names(
            [*self._registry.listeners(message.type), *self._registry.any_listeners]
        )
        names = [name for name in entries if name not in skip]
        if len(names) == 1:  # the usual case: no task to create and gather
            return {names[0]: await self._observe_one(entries[names[0]], message)}
        errors = await asyncio.gather(*(self._observe_one(entries[n], message) for n in names))
        return dict(zip(names, errors, strict=True))

    def has_observers(self, message_type: str) -> bool:
        return bool(self._registry.listeners(message_type) or self._registry.any_listeners)

    # -- tools -----------------------------------------------------------------------------

    async def _answer_tools(self, message: Message) -> dict[str, Any]:
        at_once = asyncio.Semaphore(TOOL_CALLS_AT_ONCE)  # this request's calls only
        if isinstance(message, FunctionCallMessage):
            result = await self._run_tool_once(message.tool_call, message, at_once)
            return {"result": result.error if result.error is not None else result.result or ""}
        calls = message.tool_calls if isinstance(message, ToolCallsMessage) else []
        if len(calls) == 1:  # the usual case: no task to create and gather
            results = [await self._run_tool_once(calls[0], message, at_once)]
        else:
            runs = (self._run_tool_once(call, message, at_once) for call in calls)
            results = await asyncio.gather(*runs)
        return {"results": [result.to_vapi() for result in results]}

    async def _run_tool_once(
        self, tool_call: ToolCall, message: Message, at_once: asyncio.Semaphore
    ) -> ToolCallResult:
        levels = self._levels(message) if self.replay is not None and tool_call.id else None
        if self.replay is None or levels is None:
            return await self._run_tool(tool_call, message, at_once)
        key = tool_result_key(message.raw, tool_call, levels)
        compute = functools.partial(self._run_tool, tool_call, message, at_once)
        return await self.replay.run(key, tool_call, message, compute)

    def _levels(self, message: Message) -> list[Level] | None:
        """The levels that let the message in; `None` when its ids disagree.

        A verified message always has them; in insecure mode, where nothing was verified,
        ids that disagree name no level, so its tool calls are run without the store.
        """
        try:
            return winning_levels(message.raw, self._config)
        except Unauthorized:
            return None

    async def _run_tool(
        self, tool_call: ToolCall, message: Message, at_once: asyncio.Semaphore
    ) -> ToolCallResult:
        """One call's result; waiting for a turn among the request's calls counts in its budget."""
        spec = self._registry.tools.get(tool_call.name)
        if spec is None:
            known = ", ".join(sorted(self._registry.tools)) or "none"
            self.telemetry.unknown_tool()
            logger.error(
                "unknown tool %r (registered: %s) %s",
                tool_call.name,
                known,
                describe(_fields(message)),
                extra=_fields(message),
            )
            return _tool_error(tool_call, f"unknown tool '{tool_call.name}'")
        budget = spec.timeout or self._config.tool_timeout
        started = time.perf_counter()
        deadline = asyncio.timeout(budget)
        try:
            kwargs = spec.arguments(tool_call, message)
            async with deadline, at_once:
                with self.telemetry.run("tool", spec.name):
                    value = await self.tool_threads.call(functools.partial(spec.func, **kwargs))
            result = _tool_result(tool_call, value)
        except ToolError as exc:
            return _tool_error(tool_call, str(exc))
        except TimeoutError as exc:
            if not deadline.expired():  # the tool's own timeout (an HTTP call, say)
                await self._report_failure(exc, message)
                return _tool_error(tool_call, f"tool '{spec.name}' failed")
            self.telemetry.overran(message.type, spec.name)
            error = TimeoutError(f"tool '{spec.name}' did not finish within {budget:g} s")
            await self._report_failure(error, message)
            return _tool_error(tool_call, str(error))
        except Exception as exc:
            await self._report_failure(exc, message)
            return _tool_error(tool_call, f"tool '{spec.name}' failed")
        _log_latency(message, started, budget, tool=spec.name)
        return result

    # -- plumbing --------------------------------------------------------------------------

    def fallback(self, kind: str, raw: Mapping[str, Any] | None = None) -> Answer:
        """The answer sent when a request type's handler is missing, fails or overruns.

        Args:
            kind: The request type.
            raw: The `message` object as received; for tool-calls its calls' ids are read
                from it, so that the fallback still holds one error per `toolCallId`
                (docs/protocol.md#tool-calls), even when the message did not fit its model.
        """
        spec = SPECS[kind]
        self.telemetry.fallback(kind)
        configured = getattr(self._config, spec.fallback_setting) if spec.fallback_setting else None
        if configured is not None:
            return dict(configured)
        assert spec.fallback is not None, f"{kind} is not a request type"
        return spec.fallback(raw if raw is not None else {})

    async def _audio(self, value: object, entry: HandlerEntry, message: Message) -> AudioAnswer:
        """PCM bytes, or a stream of them, from what a voice-request handler returned.

        Sync chunks are joined in a worker thread, so a slow generator neither blocks the
        event loop nor escapes the budget; a stream is guarded so that a failure midway ends
        it and is reported, instead of escaping into the server.

        Raises:
            InvalidAnswer: when the value is not audio (text, say); the caller falls back.
        """
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        if isinstance(value, AsyncIterable):
            return self._guarded_stream(value, message)
        if isinstance(value, Iterable) and not isinstance(value, str):
            join = functools.partial(_join_chunks, value, entry)
            return await self.request_threads.run(join)
        raise InvalidAnswer(f"{entry.name} returned {_kind(value)} for voice-request; {_PCM}")

    async def _guarded_stream(
        self, chunks: AsyncIterable[object], message: Message
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield _pcm_chunk(chunk, "the voice-request stream")
        except Exception as exc:
            await self._report_failure(exc, message)
        finally:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()

    async def _observe_one(self, entry: HandlerEntry, message: Message) -> str | None:
        started = time.perf_counter()
        try:
            await self._call(entry, message, self.observer_threads)
        except Exception as exc:
            await self._report_failure(exc, message)
            return f"{type(exc).__name__}: {exc}"
        _log_latency(message, started, None, handler=entry.name)
        return None

    async def _call(self, entry: HandlerEntry, message: Message, threads: WorkerThreads) -> Any:
        args = (message, message.call) if entry.takes_call else (message,)
        with self.telemetry.run("handler", entry.qualified_name):
            return await threads.call(entry.func, *args)

    async def _report_failure(self, error: Exception, message: Message) -> None:
        fields = _fields(message)
        logger.error(
            "handler failed: %s: %s %s",
            type(error).__name__,
            error,
            describe(fields),
            exc_info=not isinstance(error, TimeoutError | InvalidAnswer | ThreadsExhausted),
            extra=fields,
        )
        for hook in self._registry.error_hooks:
            try:
                await self.observer_threads.call(hook, error, message)
            except Exception:
                logger.exception("on_error hook %r raised", hook, extra=fields)


class ThreadsExhausted(RuntimeError):
    """Too many threads of handlers that overran their budget still run to start another."""


class WorkerThreads:
    """Runs sync handlers in worker threads, and counts those abandoned at their deadline.

    A thread whose budget ran out is abandoned, not waited for: Python cannot stop it, and
    the answer must not wait for it. Abandoned threads no longer hold a slot of the thread
    pool, so a sync handler that hangs on every call would add a thread per request without
    bound; past `limit` of them still running, no thread is started and the caller answers
    with its fallback.

    Args:
        limit: Most abandoned threads still running.
        threads: Most threads running at once (not counting abandoned ones); more wait.
        kind: What runs here, for the log.
    """

    def __init__(self, limit: int, threads: int, kind: str) -> None:
        self.limit = limit
        self.kind = kind
        self._limiter = anyio.CapacityLimiter(threads)
        #: Abandoned threads that have not finished yet.
        self.abandoned = 0
        self._lock = threading.Lock()

    async def run(self, func: Callable[[], T]) -> T:
        """`func()` in a worker thread, abandoned if the caller is cancelled.

        Raises:
            ThreadsExhausted: `limit` abandoned threads are still running; `func` is not run.
        """
        if self.abandoned >= self.limit:
            raise ThreadsExhausted(
                f"{self.abandoned} threads of sync {self.kind} that overran their budget are "
                f"still running ([receiver] max_abandoned_threads = {self.limit}); "
                "not starting another, the fallback answers instead"
            )
        state: list[Literal["queued", "cancelled", "running", "abandoned", "done"]] = ["queued"]

        def work() -> T | None:
            with self._lock:
                if state[0] == "cancelled":
                    return None  # given up before it started: nothing to count
                state[0] = "running"
            try:
                return func()
            finally:
                with self._lock:
                    if state[0] == "abandoned":
                        self.abandoned -= 1
                    state[0] = "done"

        try:
            result = await anyio.to_thread.run_sync(
                work, abandon_on_cancel=True, limiter=self._limiter
            )
        except asyncio.CancelledError:
            with self._lock:
                if state[0] == "running":
                    state[0] = "abandoned"
                    self.abandoned += 1
                elif state[0] == "queued":
                    state[0] = "cancelled"
            raise
        return result  # type: ignore[return-value]  # None only when cancelled

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """`func(*args)`, awaited when it is a coroutine function, else in a thread."""
        if inspect.iscoroutinefunction(func):
            return await func(*args)
        result = await self.run(functools.partial(func, *args))
        if isinstance(result, Awaitable):
            return await result
        return result


def handler_names(entries: Iterable[HandlerEntry]) -> dict[str, HandlerEntry]:
    """Handlers by a name that stays the same across restarts: module and qualified name.

    The inbox records which handlers of a delivery succeeded by these names, so a retry after
    a restart skips them; a name used twice gets `#2`, `#3`... in registration order.
    """
    named: dict[str, HandlerEntry] = {}
    for entry in entries:
        base = entry.qualified_name
        name, count = base, 1
        while name in named:
            count += 1
            name = f"{base}#{count}"
        named[name] = entry
    return named


def _tool_result(tool_call: ToolCall, value: object) -> ToolCallResult:
    if isinstance(value, ToolResult):
        return value.to_tool_call_result(tool_call.id, tool_call.name)
    return ToolCallResult(
        tool_call_id=tool_call.id, name=tool_call.name, result=stringify_result(value)
    )


def _tool_error(tool_call: ToolCall, error: str) -> ToolCallResult:
    return ToolCallResult(tool_call_id=tool_call.id, name=tool_call.name, error=error)


_PCM = "expected PCM bytes or chunks of them"


def _join_chunks(chunks: Iterable[object], entry: HandlerEntry) -> bytes:
    return b"".join(_pcm_chunk(chunk, entry.name) for chunk in chunks)


def _pcm_chunk(chunk: object, where: str) -> bytes:
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    raise InvalidAnswer(f"{where} yielded {_kind(chunk)} for voice-request; {_PCM}")


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _fields(message: Message) -> dict[str, Any]:
    return message_fields(message.raw)


def _log_latency(message: Message, started: float, budget: float | None, **more: str) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    slow = budget is not None and elapsed_ms > budget * 1000 * 0.8
    if not slow and not logger.isEnabledFor(logging.DEBUG):
        return  # the usual case in production: nothing is logged, so build nothing
    fields = {**_fields(message), **more, "latency_ms": round(elapsed_ms, 1)}
    if slow:
        logger.warning(
            "answered close to the %g s budget %s", budget, describe(fields), extra=fields
        )
    else:
        logger.debug("handled %s", describe(fields), extra=fields)
