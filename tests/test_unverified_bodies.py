"""Bodies before authentication, and large bodies after it, cost bounded memory and time.

With an HMAC level, only the signature over the body can say who sent it, so a stranger's
body is read before it is refused. It is read into one buffer (no second copy to join), and
only a few bodies above `max_unverified_parse_bytes` are read at once: the others wait.
A large body from a credential holder is decoded in a worker thread, so the event loop
keeps answering other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Message as AsgiMessage

from receiver import Receiver
from receiver.core import UNVERIFIED_LARGE_BODIES
from receiver.testing import make_message

SECRET = "org-secret-value"
CHUNK = 64 * 1024


def hmac_receiver() -> Receiver:
    """An org secret, and a phone number level signed with HMAC."""
    return Receiver(
        config={
            "org": {"secret": SECRET},
            "phone_numbers": {
                "pn-1": {
                    "credentials": [{"type": "hmac", "secret_key": "k", "algorithm": "sha256"}]
                },
            },
            "inbox": {"enabled": False},
        }
    )


def forged_headers() -> list[tuple[bytes, bytes]]:
    """What anyone can send: a wrong signature with a fresh timestamp passes the header screen."""
    return [
        (b"content-type", b"application/json"),
        (b"x-signature", b"00"),
        (b"x-timestamp", str(int(time.time())).encode()),
    ]


async def post_stream(
    receiver: Receiver, headers: list[tuple[bytes, bytes]], chunks: AsyncIterator[bytes]
) -> int:
    """The status the app answers to a body sent in `chunks`, through ASGI as a server would."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/vapi",
        "raw_path": b"/vapi",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    statuses: list[int] = []

    async def receive() -> AsgiMessage:
        chunk = await anext(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: AsgiMessage) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await receiver.app(scope, receive, send)
    return statuses[0]


def test_only_a_few_large_unauthenticated_bodies_are_read_at_once() -> None:
    receiver = hmac_receiver()
    strangers = UNVERIFIED_LARGE_BODIES + 3
    read_on: list[int] = []

    async def scenario() -> list[int]:
        go_on = asyncio.Event()

        async def stranger(number: int) -> AsyncIterator[bytes]:
            yield b'{"message":{"type":"status-update","pad":"' + b"a" * CHUNK
            read_on.append(number)  # the server wants this body past the parse bound
            await go_on.wait()
            yield b'"}}'

        sending = [
            asyncio.create_task(post_stream(receiver, forged_headers(), stranger(n)))
            for n in range(strangers)
        ]
        await asyncio.sleep(0.3)
        assert len(read_on) == UNVERIFIED_LARGE_BODIES  # the others wait, unread
        go_on.set()
        return await asyncio.wait_for(asyncio.gather(*sending), 10)

    assert asyncio.run(scenario()) == [401] * strangers  # waited their turn, then refused
    assert len(read_on) == strangers


def test_an_unauthenticated_body_is_held_once_in_memory() -> None:
    receiver = hmac_receiver()
    size = 8 * 1024 * 1024

    async def stranger() -> AsyncIterator[bytes]:
        yield b'{"message":{"type":"status-update","pad":"'
        for _ in range(size // CHUNK):
            yield b"a" * CHUNK
        yield b'"}}'

    async def scenario() -> tuple[int, int]:
        tracemalloc.start()
        try:
            status = await post_stream(receiver, forged_headers(), stranger())
            return status, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    status, peak = asyncio.run(scenario())
    assert status == 401
    assert peak < 1.5 * size  # chunks joined into a second copy would take twice the body


def test_a_small_request_is_answered_while_a_large_body_is_decoded() -> None:
    receiver = Receiver(config={"org": {"secret": SECRET}, "inbox": {"enabled": False}})
    headers = {"content-type": "application/json", "x-vapi-secret": SECRET}
    # 8 MiB of small objects: about a second of decoding, the costliest shape per byte.
    big = b'{"message":{"type":"status-update","x":[' + b"{}," * ((8 << 20) // 3) + b"{}]}}"
    small = json.dumps(make_message("status-update")).encode()

    async def scenario() -> tuple[float, bool, int]:
        decoding = asyncio.create_task(receiver.handle(headers, big))
        await asyncio.sleep(0.05)  # the large body is being decoded
        started = time.perf_counter()
        answer = await receiver.handle(headers, small)
        waited = time.perf_counter() - started
        still_decoding = not decoding.done()
        assert (await decoding).status == 200
        return waited, still_decoding, answer.status

    waited, still_decoding, status = asyncio.run(scenario())
    assert status == 200
    assert still_decoding, "the small request waited for the large one to be decoded"
    assert waited < 0.3
