"""The thin Starlette layer: transport checks, the body read once, the core's outcome sent.

Only what needs HTTP is here (method, content type, size limit while streaming); every
decision about the message is the core's, so both paths answer errors in one shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from receiver.core import Outcome, ReceiverCore
from receiver.errors import (
    ConfigError,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestError,
    UnsupportedMediaType,
)
from receiver.log import logger, show_lines
from receiver.oauth import token_routes

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_app(
    core: ReceiverCore,
    *,
    path: str = "/vapi",
    health_path: str | None = "/health",
    on_startup: Callable[[], None] | None = None,
) -> Starlette:
    """A Starlette app serving the webhook at `path` and a liveness probe at `health_path`."""
    # Every method reaches the endpoint, so that the wrong one gets our JSON 405.
    routes = [Route(path, webhook_endpoint(core), methods=_ALL_METHODS)]
    if health_path:
        routes.append(Route(health_path, _health, methods=["GET", "HEAD"]))
    routes.extend(token_routes(core.config))  # only when some level has an OAuth2 credential

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        show_lines()
        try:
            core.check_configuration()
        except ConfigError as error:
            # Said on one line of its own: under uvicorn it would otherwise be the last line
            # of a long traceback, followed by "Application startup failed".
            logger.error("configuration error, not serving: %s", error)
            raise
        if on_startup:
            on_startup()
        async with core.serving():  # the inbox's recovery, retries and purge
            yield

    return Starlette(routes=routes, lifespan=lifespan)


def webhook_endpoint(core: ReceiverCore) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint alone, to mount into an existing Starlette or FastAPI app."""
    limit = core.config.max_body_bytes

    async def endpoint(request: Request) -> Response:
        try:
            _check_method(request)
            _check_content_type(request)
            core.screen(request.headers)  # a stranger's body is never read
            body = await _read_body(request, limit)
        except RequestError as error:
            logger.warning("refused with %d: %s", error.status, error.message)
            return _send(core.refusal(error, request.headers), allow_post=error.status == 405)
        outcome = await core.handle(
            request.headers, body, method=request.method, url=str(request.url)
        )
        return _send(outcome)

    return endpoint


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _check_method(request: Request) -> None:
    if request.method != "POST":
        raise MethodNotAllowed(f"method {request.method} not allowed; Vapi sends POST")


def _check_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit`, before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"body exceeds the {limit} byte limit (max_body_bytes)"


def _send(outcome: Outcome, *, allow_post: bool = False) -> Response:
    background = BackgroundTask(outcome.background) if outcome.background else None
    headers = {"Allow": "POST"} if allow_post else None
    if isinstance(outcome.body, bytes):
        return Response(
            outcome.body,
            status_code=outcome.status,
            media_type=outcome.media_type,
            background=background,
            headers=headers,
        )
    return StreamingResponse(
        _chunks(outcome.body), outcome.status, media_type=outcome.media_type, background=background
    )


async def _chunks(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in body:
        yield bytes(chunk)
