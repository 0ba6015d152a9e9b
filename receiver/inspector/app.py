"""The inspector's ASGI wrapper: records what reaches the webhook, serves `/_inspect`.

It sits in front of the receiver's app, so it sees each request exactly as it arrived and
each answer exactly as it left, refusals included (a 401 never reaches a handler, but it is
the first thing to look at when Vapi says "server error"). The page and its data are served
to the machine itself only: the client must be a loopback address, the `Host` a loopback
name (a DNS-rebinding page cannot pass), and no proxy or tunnel header may be present,
because a tunnel such as ngrok or cloudflared connects from loopback too.
`allow_remote` lifts all three, for a trusted network only.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, Final

from starlette.types import Message, Receive, Scope, Send

from receiver.errors import ReceiverError
from receiver.inspector.capture import CURRENT, Capturing
from receiver.inspector.journal import Exchange, Journal
from receiver.inspector.masking import masked_body, masked_headers
from receiver.inspector.page import SCRIPT, STYLE, render_page
from receiver.inspector.resend import ReplayRefused, replay_request
from receiver.receiver import Receiver
from receiver.recording import credential_headers

INSPECT_PATH: Final = "/_inspect"
DEFAULT_KEEP: Final = 200
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
#: Seconds a server-sent event stream lasts; the page reconnects and resumes where it was,
#: and a server shutting down never waits longer than this for a page left open.
STREAM_SECONDS: Final = 30.0
_FORWARDING_HEADERS: Final = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-real-ip",
        b"cf-connecting-ip",
        b"true-client-ip",
    }
)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_SECURITY_HEADERS: Final = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_EXCHANGE_PATH: Final = re.compile(rf"^{INSPECT_PATH}/exchanges/(\d{{1,12}})(/replay)?$")


class Inspector:
    """`Inspector(receiver)` is an ASGI app: the receiver's, plus the inspector.

    Args:
        receiver: The receiver whose deliveries are shown.
        keep: Deliveries kept (the oldest go first).
        max_bytes: Bytes of bodies and answers kept at most.
        allow_remote: Serve the page to any client (a trusted network only).
    """

    def __init__(
        self,
        receiver: Receiver,
        *,
        keep: int = DEFAULT_KEEP,
        max_bytes: int = DEFAULT_MAX_BYTES,
        allow_remote: bool = False,
    ) -> None:
        if keep < 1:
            raise ReceiverError("the inspector must keep at least one delivery")
        self.receiver = receiver
        self.app = receiver.app
        self.journal = Journal(keep, max_bytes)
        self.allow_remote = allow_remote
        #: Asked every half second by each open event stream; `serve` points it at uvicorn's
        #: own flag so that Ctrl-C does not wait for a page left open.
        self.stopping: Callable[[], bool] = lambda: False
        self._token = secrets.token_urlsafe(32)
        self._hidden = credential_headers(receiver.config)
        self._tasks: set[asyncio.Task[None]] = set()
        if not isinstance(receiver.core.telemetry, Capturing):
            receiver.core.telemetry = Capturing(receiver.core.telemetry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == INSPECT_PATH or path.startswith(INSPECT_PATH + "/"):
                await self._inspect(scope, receive, send)
                return
            if path == self.receiver.path and scope["method"] == "POST":
                await self._record(scope, receive, send)
                return
        await self.app(scope, receive, send)

    # -- recording -------------------------------------------------------------------------

    async def _record(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        replay = scope.get("extensions", {}).get("vapi_receiver_inspector", {})
        exchange = self.journal.start(
            masked_headers(headers, self._hidden),
            b"",
            replay_of=replay.get("of"),
            replay_mode=replay.get("mode"),
            url=_url_of(scope, headers),
        )
        replay["id"] = exchange.id
        body = bytearray()
        keep = self.journal.max_bytes // 4
        received = 0
        answer = bytearray()
        finished = False

        def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            exchange.body = bytes(body) if received <= keep else b""
            exchange.body_size = received
            exchange.answer = bytes(answer[:keep])
            exchange.latency_ms = round((time.perf_counter() - exchange.started) * 1000, 1)
            self.journal.finish(exchange)

        async def teed_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received <= keep:
                    body.extend(chunk)
            return message

        async def teed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            elif message["type"] == "http.response.body":
                if len(answer) < keep:
                    answer.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    finish()  # the answer is out: handlers may still run after it
            await send(message)

        token = CURRENT.set(exchange)
        try:
            await self.app(scope, teed_receive, teed_send)
        finally:
            CURRENT.reset(token)
            finish()

    # -- the page and its data ---------------------------------------------------------------

    async def _inspect(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (problem := self._refusal(scope)) is not None:
            await _answer(send, 403, _json({"error": problem}), b"application/json")
            return
        path, method = scope["path"], scope["method"]
        if path in (INSPECT_PATH, INSPECT_PATH + "/") and method == "GET":
            page = render_page(
                list(self.journal), self._token, self.receiver.path, self.journal.keep
            )
            await _answer(send, 200, page.encode(), b"text/html; charset=utf-8")
        elif path == INSPECT_PATH + "/app.js" and method == "GET":
            await _answer(send, 200, SCRIPT.encode(), b"text/javascript; charset=utf-8")
        elif path == INSPECT_PATH + "/app.css" and method == "GET":
            await _answer(send, 200, STYLE.encode(), b"text/css; charset=utf-8")
        elif path == INSPECT_PATH + "/events" and method == "GET":
            await self._events(scope, receive, send)
        elif (found := _EXCHANGE_PATH.match(path)) is not None:
            exchange = self.journal.get(int(found.group(1)))
            if exchange is None:
                await _answer(send, 404, _json({"error": "no such delivery (no longer kept?)"}))
            elif found.group(2) is None and method == "GET":
                await _answer(send, 200, _json(_detail(exchange)))
            elif found.group(2) is not None and method == "POST":
                await self._replay(scope, exchange, send)
            else:
                await _answer(send, 405, _json({"error": "method not allowed"}))
        else:
            await _answer(send, 404, _json({"error": "not found"}))

    def _refusal(self, scope: Scope) -> str | None:
        """Why this request may not see the inspector, or `None`."""
        if self.allow_remote:
            return None
        client = scope.get("client")
        try:
            loopback = client is not None and ipaddress.ip_address(client[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return "the inspector answers this machine only (--inspect-allow-remote lifts this)"
        names = {name for name, _value in scope["headers"]}
        if names & _FORWARDING_HEADERS:
            return (
                "the inspector is not served through a proxy or tunnel: open it on this "
                "machine, at the local address"
            )
        host = next((value for name, value in scope["headers"] if name == b"host"), b"")
        if _host_name(host.decode("latin-1").lower()) not in _LOOPBACK_NAMES:
            return "the inspector answers only to a loopback Host (localhost, 127.0.0.1, [::1])"
        return None

    async def _events(self, scope: Scope, receive: Receive, send: Send) -> None:
        queue = self.journal.watch()
        if queue is None:
            await _answer(send, 429, _json({"error": "too many inspector pages are open"}))
            return
        try:
            last = _last_event_id(scope)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        *_SECURITY_HEADERS,
                    ],
                }
            )
            missed = [e.summary() for e in self.journal if last is not None and e.id > last]
            await _send_events(send, [b"retry: 1000\n\n", *map(_event, missed)])
            await self._stream(queue, receive, send)
        finally:
            self.journal.unwatch(queue)

    async def _stream(
        self, queue: asyncio.Queue[dict[str, Any] | None], receive: Receive, send: Send
    ) -> None:
        gone = asyncio.ensure_future(_disconnected(receive))
        ends = time.monotonic() + STREAM_SECONDS
        try:
            while not gone.done() and not self.stopping() and time.monotonic() < ends:
                try:
                    item = await asyncio.wait_for(queue.get(), 0.5)
                except TimeoutError:
                    continue
                if item is None:
                    break
                await _send_events(send, [_event(item)])
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the page went away mid-write
            pass
        finally:
            gone.cancel()

    async def _replay(self, scope: Scope, exchange: Exchange, send: Send) -> None:
        headers = dict(scope["headers"])
        token = headers.get(b"x-inspector-token", b"").decode("latin-1")
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            await _answer(send, 403, _json({"error": "missing or wrong inspector token"}))
            return
        query = scope.get("query_string", b"").decode("latin-1")
        mode = "retry" if "mode=retry" in query.split("&") else "fresh"
        try:
            request = replay_request(exchange, self.receiver.config, mode)
        except ReplayRefused as exc:
            await _answer(send, 409, _json({"error": str(exc)}))
            return
        answered = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(
            self._send_through(scope, request, exchange.id, mode, answered)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        new_id = await answered
        await _answer(send, 200, _json({"id": new_id}))

    async def _send_through(
        self,
        scope: Scope,
        request: tuple[dict[str, str], bytes],
        of: int,
        mode: str,
        answered: asyncio.Future[int],
    ) -> None:
        """The replayed request through this very wrapper (recorded as a new row); `answered`
        gets the new row's id once the answer is out, while its handlers may still run."""
        headers, body = request
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # nothing more will come: as a client that waits
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        note: dict[str, Any] = {"of": of, "mode": mode}

        async def send(message: Message) -> None:
            final = message["type"] == "http.response.body" and not message.get("more_body")
            if final and not answered.done():
                answered.set_result(note.get("id", 0))

        replay_scope = {
            "type": "http",
            "asgi": scope.get("asgi", {"version": "3.0"}),
            "http_version": "1.1",
            "method": "POST",
            "scheme": scope.get("scheme", "http"),
            "path": self.receiver.path,
            "raw_path": self.receiver.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "client": scope.get("client"),
            "server": scope.get("server"),
            "extensions": {"vapi_receiver_inspector": note},
        }
        try:
            await self(replay_scope, receive, send)
        finally:
            if not answered.done():
                answered.set_result(0)


def _detail(exchange: Exchange) -> dict[str, Any]:
    kept = bool(exchange.body) or exchange.body_size == 0
    return {
        **exchange.summary(),
        "headers": exchange.headers,
        "body": masked_body(exchange.body) if kept else None,
        "body_size": exchange.body_size,
        "answer": masked_body(exchange.answer) if exchange.answer else "",
    }


def _url_of(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    return f"{scope.get('scheme', 'http')}://{host}{scope['path']}"


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _last_event_id(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"last-event-id" and value.isdigit() and len(value) <= 12:
            return int(value)
    return None


def _event(summary: dict[str, Any]) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (summary["id"], _json(summary))


async def _send_events(send: Send, events: list[bytes]) -> None:
    await send({"type": "http.response.body", "body": b"".join(events), "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _json(value: object) -> bytes:
    # Escaped so that no value can close a <script> or start markup wherever it is shown.
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


async def _answer(
    send: Send, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *_SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
