"""One POST with the standard library, timed, the way Vapi makes it.

The runtime dependencies are kept to what the receiver needs, so the CLI uses
`urllib.request`. Redirects are not followed (a server URL must answer itself), and proxies
from the environment are skipped for loopback addresses, where they can only get in the way.
"""

from __future__ import annotations

import http.client
import ipaddress
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Final

USER_AGENT: Final = "vapi-receiver-cli"


class Unreachable(Exception):
    """No HTTP answer at all: refused connection, DNS failure, TLS error, timeout."""


@dataclass(frozen=True)
class Reply:
    """What came back, and how long the whole exchange took."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    latency_ms: float

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def check_url(url: str) -> str | None:
    """Why `url` cannot be posted to, or `None` when it looks usable."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"--url must be an http:// or https:// URL, not {url!r}"
    return None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
    """POST `body` to `url` and return the reply, whatever its status.

    Raises:
        Unreachable: nothing answered, with the reason.
    """
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"content-type": "application/json", "user-agent": USER_AGENT} | headers,
    )
    started = time.perf_counter()
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            data = response.read()
            status, reason, received = response.status, response.reason, response.headers
    except urllib.error.HTTPError as error:  # a status >= 300: still an answer
        data, status, reason, received = error.read(), error.code, error.reason, error.headers
    except urllib.error.URLError as error:
        raise Unreachable(_reason(error.reason, timeout)) from None
    except (TimeoutError, OSError, http.client.HTTPException) as error:
        raise Unreachable(_reason(error, timeout)) from None
    latency_ms = (time.perf_counter() - started) * 1000
    return Reply(
        status,
        str(reason),
        {name.lower(): value for name, value in received.items()},
        data,
        latency_ms,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx, which we report


def _opener(url: str) -> urllib.request.OpenerDirector:
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(error: object, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the receiver running on that port?)"
    return str(error) or type(error).__name__
