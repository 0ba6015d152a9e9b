"""`served`: a Starlette `TestClient` with its app's lifespan running, as under uvicorn.

A bare `TestClient(app)` never runs the lifespan, so the receiver's inbox is not serving and
refuses informational deliveries with 503. Clients opened here are closed (shutdown run)
when the test ends, by the autouse fixture in `conftest.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.testclient import TestClient
from starlette.types import ASGIApp

from receiver import Outcome, Receiver

_OPEN: list[TestClient] = []


def served(app: ASGIApp, **options: object) -> TestClient:
    """A client whose app has started; `options` go to `TestClient`."""
    client = TestClient(app, **options)  # type: ignore[arg-type]
    client.__enter__()
    _OPEN.append(client)
    return client


def close_served() -> None:
    """Shut down every client `served` opened, newest first."""
    while _OPEN:
        _OPEN.pop().__exit__(None, None, None)


def handle_served(
    receiver: Receiver, headers: Mapping[str, str], body: bytes, **options: str
) -> Outcome:
    """`receiver.handle` with the receiver's lifespan running, its background work done."""

    async def run() -> Outcome:
        async with receiver.lifespan():
            outcome = await receiver.handle(headers, body, **options)
            if outcome.background is not None:
                await outcome.background()
            return outcome

    return asyncio.run(run())
