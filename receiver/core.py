"""The receiver without a web framework: `(headers, raw body)` in, an `Outcome` out.

Everything that decides what to answer lives here and knows nothing of ASGI, so it can be
tested by feeding bytes, and reused behind any server. Nothing is parsed into models or
handed to user code before `receiver.authentication.authenticate` has accepted it.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.to_thread
from pydantic import ValidationError

from receiver.authentication import Verified, authenticate
from receiver.config import ReceiverConfig, check_tool_tables
from receiver.credentials import RequestView
from receiver.credentials.seen_signatures import REMEMBERED
from receiver.dispatch import Dispatcher
from receiver.errors import PayloadTooLarge, RequestError, RequestTimeout, Unauthorized
from receiver.inbox.keys import signed_id_header
from receiver.inbox.runner import Inbox, InboxUnavailable
from receiver.log import describe, logger, message_fields
from receiver.models import Message, parse_message
from receiver.models.catalogue import JSON, SPECS
from receiver.recording import Recorder, credential_headers
from receiver.registry import HandlerRegistry
from receiver.responses._base import without_surrogates
from receiver.telemetry import Delivery, Telemetry, build_telemetry
from receiver.verification import (
    expected_schemes,
    lower_headers,
    quiet_refusal,
    single_valued_headers,
    verify_any,
)

_ACK: Final = b"{}"

UNVERIFIED_LARGE_BODIES: Final = 4
"""Bodies above `max_unverified_parse_bytes` read at once while only their signature can say
who sent them (HMAC); more wait their turn. Memory before authentication stays within about
this many times `max_body_bytes`, however many strangers send."""

UNVERIFIED_BODY_SECONDS: Final = 10.0
"""How long a large body that only its HMAC signature can vouch for may take, from the moment
it passes `max_unverified_parse_bytes`: waiting for a turn, the rest of the body and its check.
Without it, four senders that stop sending would hold every turn for ever. Vapi sends a
megabyte in well under a second."""

DECODE_IN_THREAD_BYTES: Final = 256 * 1024
"""Bodies above this are authenticated (decoded, and HMAC-checked) in a worker thread:
decoding takes about 0.1 s per MiB, which on the event loop would hold every other request."""

DECODE_THREADS: Final = 2
"""Large bodies decoded at once; decoding costs up to ~25x the body in memory."""


@dataclass(frozen=True)
class Outcome:
    """What to send back, and what to run once it has been sent.

    Attributes:
        status: HTTP status.
        body: The bytes to send, or chunks of PCM audio to stream for voice-request.
        media_type: Content type of `body`.
        background: Work to run after the answer has been sent (informational handlers).
    """

    status: int
    body: bytes | AsyncIterable[bytes]
    media_type: str = JSON
    background: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def refusal(cls, error: RequestError) -> Outcome:
        return cls(error.status, _json({"error": error.message}))


class ReceiverCore:
    """Verifies, parses and dispatches one delivery at a time; safe to share across tasks.

    Args:
        config: The configuration.
        registry: The handlers and tools.
        telemetry: What deliveries are reported to (`receiver.telemetry`); by default
            built from `config` and what is installed.

    Raises:
        ConfigError: metrics are on but prometheus-client is not installed.
    """

    def __init__(
        self,
        config: ReceiverConfig,
        registry: HandlerRegistry,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.telemetry = telemetry or build_telemetry(config)
        self.dispatcher = Dispatcher(registry, config, self.telemetry)
        self.inbox: Inbox | None = None
        self.recorder: Recorder | None = None
        self.use_files(config)
        self._unknown_types_seen: set[str] = set()
        #: Answer a 401 with its full explanation; `vapi-receiver serve` turns it on.
        self.explain_refusals = config.explain_refusals
        self._expected = expected_schemes(config)
        self._single_valued = single_valued_headers(config)
        self._checked = False
        self._unverified_bodies = anyio.Semaphore(UNVERIFIED_LARGE_BODIES)
        self.unverified_body_seconds = UNVERIFIED_BODY_SECONDS
        self._decoders = anyio.CapacityLimiter(DECODE_THREADS)

    def use_files(self, config: ReceiverConfig) -> None:
        """Open the inbox and the recording where `config` says; only while not serving.

        Separate from `__init__` so that a test session can move both files to a temporary
        directory after the app was built (`Receiver.keep_files_in`).
        """
        self.config = config
        self.inbox = None
        if config.inbox.enabled:
            self.inbox = Inbox(config.inbox, self.dispatcher, self._parse)
            self.dispatcher.replay = self.inbox.tool_results
        self.recorder = (
            Recorder(config.record_to, credential_headers(config)) if config.record_to else None
        )

    def check_configuration(self) -> None:
        """Check what needs the registered handlers too: every `[tools.X]` is a tool.

        Runs when the app starts, and on the first delivery otherwise (`Receiver.handle`,
        a mounted endpoint), so that nothing is served with an unchecked table.

        Raises:
            ConfigError: a `[tools.X]` entry names no registered tool.
        """
        check_tool_tables(self.config, self.registry.tools)
        self._checked = True

    async def handle(
        self, headers: Mapping[str, str], body: bytes, *, method: str = "POST", url: str = ""
    ) -> Outcome:
        """Answer one delivery.

        Args:
            headers: Request headers; names are matched case-insensitively. A multi-mapping
                whose `items()` repeats a name (Starlette's `Headers`) shows duplicates.
            body: The raw request body, exactly as received.
            method: The HTTP method, for HMAC payload formats that sign `{method}`.
            url: The full request URL, for HMAC payload formats that sign `{url}`.

        Returns:
            The outcome; request errors (400, 401) are outcomes too, never exceptions.

        Raises:
            ConfigError: on the first delivery, when the configuration does not fit the
                registered tools (`check_configuration`).
        """
        if not self._checked:
            self.check_configuration()
        with self.telemetry.delivery() as delivery:
            return await self._handle(delivery, headers, body, method, url)

    async def _handle(
        self, delivery: Delivery, headers: Mapping[str, str], body: bytes, method: str, url: str
    ) -> Outcome:
        started = time.perf_counter()
        remembered: list[tuple[str, float]] = []
        token = REMEMBERED.set(remembered)
        try:
            with self.telemetry.step("verify"):
                verified = await self._authenticate(headers, body, method, url)
            if remembered and self.inbox is not None:
                await self._first_sight(remembered, verified)
        except RequestError as error:  # logged by `authenticate`, with its explanation
            return self.refusal(error, headers)
        finally:
            REMEMBERED.reset(token)
        raw = verified.message
        delivery.verified(raw, verified.levels)
        if self.recorder:  # opt-in: keep the verified delivery to replay it later
            await self.recorder.record(headers, body)
        outcome = delivery.answered(await self._dispatch(raw, headers, body))
        if not logger.isEnabledFor(logging.INFO):
            return outcome  # build no log fields that nobody reads, on every request
        fields = message_fields(raw)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info(
            "answered %d in %.1f ms %s",
            outcome.status,
            elapsed_ms,
            describe(fields),
            extra={**fields, "latency_ms": elapsed_ms},
        )
        return outcome

    async def receive(
        self,
        headers: Mapping[str, str],
        chunks: AsyncIterable[bytes],
        *,
        method: str = "POST",
        url: str = "",
    ) -> Outcome:
        """Answer one delivery whose body is still arriving, in bounded memory.

        The headers are screened before the body is read, the body is refused as soon as it
        exceeds `max_body_bytes`, and a large body that only its HMAC signature can vouch
        for is read and checked among at most `UNVERIFIED_LARGE_BODIES` at once.

        Args:
            headers: As for `handle`.
            chunks: The body as it arrives (Starlette's `request.stream()`).
            method: As for `handle`.
            url: As for `handle`.

        Raises:
            ConfigError: as for `handle`.
        """
        if not self._checked:
            self.check_configuration()
        with self.telemetry.delivery() as delivery:  # reading the body included
            try:
                lowered, known = self._screen(headers)
                body = await self._read(RequestView(lowered, b"", method, url), known, chunks)
            except RequestError as error:
                logger.warning("refused with %d: %s", error.status, error.message)
                return self.refusal(error, headers)
            return await self._handle(delivery, headers, body, method, url)

    async def _read(self, request: RequestView, known: bool, chunks: AsyncIterable[bytes]) -> bytes:
        """The body; past `max_unverified_parse_bytes` from an unknown sender, checked first.

        Raises:
            PayloadTooLarge: past `max_body_bytes`, before the rest is read.
            RequestTimeout: such a large body, with its turn, took longer than
                `unverified_body_seconds`.
            Unauthorized: a large body that no credential accepts.
        """
        small = self.config.max_unverified_parse_bytes
        body = bytearray()  # grows in place: no list of chunks to join into a second copy
        stream = aiter(chunks)
        async for chunk in stream:
            self._append(body, chunk)
            if not known and len(body) > small:
                break  # a stranger's large body: the rest only with a turn, and in time
        else:
            return bytes(body)
        try:
            with anyio.fail_after(self.unverified_body_seconds):
                async with self._unverified_bodies:  # a turn among the strangers' large bodies
                    async for chunk in stream:
                        self._append(body, chunk)
                    view = RequestView(request.headers, body, request.method, request.url)
                    verify_any(view, self.config)
        except TimeoutError:
            raise RequestTimeout(
                f"a body that only its signature can vouch for did not arrive and pass its "
                f"check within {self.unverified_body_seconds:g} s"
            ) from None
        return bytes(body)  # a copy, made only once the sender is known

    def _append(self, body: bytearray, chunk: bytes) -> None:
        body += chunk
        if len(body) > self.config.max_body_bytes:
            raise PayloadTooLarge(too_large(self.config.max_body_bytes))

    def _screen(self, headers: Mapping[str, str]) -> tuple[dict[str, str], bool]:
        """`authentication.screen`, and whether the headers alone accepted the sender in full
        (false when only an HMAC credential's headers passed: its signature needs the body)."""
        if self.config.insecure:
            return {name.lower(): value for name, value in headers.items()}, True
        lowered = lower_headers(headers, self._single_valued)
        return lowered, verify_any(RequestView(lowered), self.config, headers_only=True)

    async def _first_sight(self, remembered: list[tuple[str, float]], verified: Verified) -> None:
        """Refuse a signed request that another process on the shared inbox accepted.

        Raises:
            Unauthorized: a replay, seen by another worker or replica.
        """
        assert self.inbox is not None
        for key, ttl in remembered:
            if not await self.inbox.first_sight(key, ttl):
                error = Unauthorized(
                    "signed request already seen by another worker or replica (a replay)",
                    reason="invalid_credential",
                )
                error.message_type = verified.type
                error.level_kind = verified.levels[0].kind if verified.levels else None
                logger.warning("refused with 401: %s", error.message)
                raise error

    async def _authenticate(
        self, headers: Mapping[str, str], body: bytes, method: str, url: str
    ) -> Verified:
        """`authenticate`, in a worker thread for a large body so the event loop keeps serving."""
        run = functools.partial(authenticate, headers, body, self.config, method=method, url=url)
        if len(body) <= DECODE_IN_THREAD_BYTES:
            return run()
        return await anyio.to_thread.run_sync(run, limiter=self._decoders)

    def refusal(self, error: RequestError, headers: Mapping[str, str]) -> Outcome:
        """The answer to a refused request.

        A 401 names only the schemes the receiver accepts, never a configured level, client
        id, token path or custom header: its full explanation is for the log, and for the
        answer only when `explain_refusals` is on. Other refusals describe the request.
        """
        self.telemetry.refused(error)
        if not isinstance(error, Unauthorized) or self.explain_refusals:
            return Outcome.refusal(error)
        public = error.public or quiet_refusal(headers, self._expected)
        return Outcome(error.status, _json({"error": public}))

    async def unavailable(self) -> str | None:
        """Why deliveries cannot be taken now (the inbox cannot store them), or `None`."""
        return await self.inbox.unavailable() if self.inbox is not None else None

    def serving(self) -> AbstractAsyncContextManager[None]:
        """Work that lasts as long as the server: the inbox's retries, recovery and purge."""
        return self.inbox.serving() if self.inbox is not None else nullcontext()

    async def _dispatch(
        self, raw: dict[str, Any], headers: Mapping[str, str], body: bytes
    ) -> Outcome:
        kind: str = raw["type"]
        spec = SPECS.get(kind)
        if spec is None or not spec.request:
            background = self._observer_task(raw)
            if background is None or self.inbox is None:
                return Outcome(200, _ACK, background=background)
            try:  # committed before the 200 is sent: a crash from here on loses nothing
                signed = None if self.config.insecure else signed_id_header(raw, self.config)
                background = await self.inbox.accept(raw, headers, body, signed)
            except InboxUnavailable as error:
                return self.refusal(error, headers)
            if background is None:
                self.telemetry.duplicate()
            return Outcome(200, _ACK, background=background)
        message = self._parse(raw)
        if message is None:
            return self._answer(kind, self.dispatcher.fallback(kind, raw))
        outcome = self._answer(kind, await self.dispatcher.respond(message))
        if not self.dispatcher.has_observers(kind):
            return outcome

        async def observe() -> None:
            await self.dispatcher.observe(message)

        return Outcome(outcome.status, outcome.body, outcome.media_type, observe)

    def _observer_task(self, raw: dict[str, Any]) -> Callable[[], Awaitable[None]] | None:
        kind: str = raw["type"]
        if kind not in SPECS and kind not in self._unknown_types_seen:
            self._unknown_types_seen.add(kind)
            shown = kind[:100]  # the sender's text: bounded, and escaped by the logger
            logger.warning("unknown message type %r acknowledged (logged once per type)", shown)
        if not self.dispatcher.has_observers(kind):
            return None

        async def observe() -> None:
            # Parsed only here, after the 200 is on its way: acknowledging stays fast even
            # for a megabyte end-of-call report.
            if (message := self._parse(raw)) is not None:
                await self.dispatcher.observe(message)

        return observe

    def _parse(self, raw: dict[str, Any]) -> Message | None:
        try:
            with self.telemetry.step("parse"):
                return parse_message(raw)
        except ValidationError as exc:
            fields = message_fields(raw)
            logger.error(
                "%s does not fit its model; handlers skipped, safe answer sent: %s %s",
                fields["message_type"],
                _summarise(exc),
                describe(fields),
                extra=fields,
            )
            return None

    @staticmethod
    def _answer(kind: str, answer: object) -> Outcome:
        media_type = SPECS[kind].media_type
        if media_type != JSON:
            assert isinstance(answer, bytes | AsyncIterable)
            return Outcome(200, answer, media_type)
        return Outcome(200, _json(answer))


def too_large(limit: int) -> str:
    """The refusal of a body over `max_body_bytes`."""
    return f"body exceeds the {limit} byte limit (max_body_bytes)"


def _json(value: object) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # an answer built without the models, e.g. a fallback set to inf
        logger.error("the answer held an infinite or NaN number; sent null in its place")
        finite = json.loads(json.dumps(value), parse_constant=lambda _: None)
        text = json.dumps(finite, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a handler's text held half a surrogate pair: send the rest
        logger.warning("the answer held unpaired UTF-16 surrogates; sent U+FFFD in their place")
        return without_surrogates(text).encode()


def _summarise(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3])
    return shown + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
