"""The thin Starlette layer: transport checks, the body read once, the core's outcome sent.

Only what needs HTTP is here (method, content type, size limit while streaming); every
decision about the message is the core's, so both paths answer errors in one shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from receiver.core import Outcome, ReceiverCore, too_large
from receiver.errors import (
    ConfigError,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestError,
    UnsupportedMediaType,
)
from receiver.log import logger
from receiver.token_endpoint import oauth2_credentials, token_routes

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_app(
    core: ReceiverCore,
    *,
    path: str = "/vapi",
    health_path: str | None = "/health",
    ready_path: str | None = "/ready",
    metrics_path: str | None = "/metrics",
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """A Starlette app: the webhook at `path`, and the probes an orchestrator polls.

    Args:
        core: What answers deliveries.
        path: The webhook's path.
        health_path: Liveness: 200 while the process serves; `None` serves none.
        ready_path: Readiness: 503 with the reason while deliveries cannot be stored
            (`ReceiverCore.unavailable`), else 200; `None` serves none.
        metrics_path: Prometheus metrics, served only when `[receiver] metrics` is on;
            `None` serves none (`metrics_endpoint` mounts them elsewhere).
        lifespan: `Receiver.lifespan`: the start-up checks and the inbox's serving work.

    Raises:
        ConfigError: two of these, or an OAuth2 token endpoint, share a path: all but the
            first would be unreachable.
    """
    # Every method reaches the endpoint, so that the wrong one gets our JSON 405.
    served = [("the webhook (`path`)", Route(path, webhook_endpoint(core), methods=_ALL_METHODS))]
    if health_path:
        served.append(("`health_path`", Route(health_path, _health, methods=["GET", "HEAD"])))
    if ready_path:
        ready = Route(ready_path, readiness_endpoint(core), methods=["GET", "HEAD"])
        served.append(("`ready_path`", ready))
    if metrics_path and core.telemetry.metrics is not None:
        metrics = Route(metrics_path, metrics_endpoint(core), methods=["GET", "HEAD"])
        served.append(("`/metrics` (`[receiver] metrics`)", metrics))
    urls = {c.token_path: c.url for c in reversed(oauth2_credentials(core.config))}
    served.extend(  # only when some level has an OAuth2 credential
        (f"the OAuth2 token endpoint (`url` {urls[route.path] or route.path})", route)
        for route in token_routes(core.config)
    )
    routes = _distinct_paths(served)
    return Starlette(routes=routes, lifespan=lifespan)


def webhook_endpoint(core: ReceiverCore) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint alone, to mount into an existing Starlette or FastAPI app."""
    limit = core.config.max_body_bytes

    async def endpoint(request: Request) -> Response:
        try:
            _check_method(request)
            _check_content_type(request)
            _check_length(request, limit)
        except RequestError as error:
            logger.warning("refused with %d: %s", error.status, error.message)
            return _send(core.refusal(error, request.headers), allow_post=error.status == 405)
        # Screened before the body is read: a stranger's body is never read.
        try:
            outcome = await core.receive(
                request.headers, request.stream(), method=request.method, url=str(request.url)
            )
        except ClientDisconnect:  # nobody to answer; anyone can do it, so no traceback
            logger.info("the client disconnected before its body arrived")
            return Response(status_code=400)
        return _send(outcome)

    return endpoint


def readiness_endpoint(core: ReceiverCore) -> Callable[[Request], Awaitable[Response]]:
    """Readiness alone, to mount into an existing app: 503 and the reason, or 200."""

    async def ready(request: Request) -> Response:
        if reason := await core.unavailable():
            return JSONResponse({"status": "unavailable", "reason": reason}, 503)
        return JSONResponse({"status": "ok"})

    return ready


def metrics_endpoint(core: ReceiverCore) -> Callable[[Request], Awaitable[Response]]:
    """Prometheus metrics alone, to serve on a path or app of your choice.

    Raises:
        ConfigError: metrics are off (`[receiver] metrics`).
    """
    metrics = core.telemetry.metrics
    if metrics is None:
        raise ConfigError("metrics are off: set [receiver] metrics = true")

    async def scrape(request: Request) -> Response:
        body, content_type = await metrics.scrape(core.inbox, request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    return scrape


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _distinct_paths(served: list[tuple[str, Route]]) -> list[Route]:
    """The routes, refused when two share a path: Starlette would never reach the second."""
    owners: dict[str, str] = {}
    for role, route in served:
        if (owner := owners.setdefault(route.path, role)) != role:
            raise ConfigError(
                f"{role} and {owner} are both at the path {route.path}: the second would "
                "never be reached; give one of them another path"
            )
    return [route for _, route in served]


def _check_method(request: Request) -> None:
    if request.method != "POST":
        raise MethodNotAllowed(f"method {request.method} not allowed; Vapi sends POST")


def _check_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")


def _check_length(request: Request, limit: int) -> None:
    """Refuse a body whose declared length exceeds `limit`, before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(too_large(limit))


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
