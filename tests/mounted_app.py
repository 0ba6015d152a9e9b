"""`tests.inbox_app`'s receiver mounted at `/hooks` of a FastAPI app with a lifespan of its own.

The crash test runs it under uvicorn, to show that `Receiver.mount` keeps the inbox's
recovery working where a plain `api.mount` would never start it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tests.inbox_app import receiver


@contextlib.asynccontextmanager
async def lifespan(api: FastAPI) -> AsyncIterator[None]:
    api.state.ready = True  # the host's own start-up, which the mount must keep
    yield


app = FastAPI(lifespan=lifespan)
receiver.mount(app, "/hooks")


@app.get("/ready")
def ready() -> dict[str, bool]:
    return {"ready": app.state.ready}
