"""Vapi's REST API, the few calls `link` and `serve --link` make, with the key kept out of sight.

The key comes from `$VAPI_API_KEY` and goes only into the `Authorization: Bearer` header of
requests to `$VAPI_API_URL` (default Vapi's public API). It is never printed, logged or
written anywhere; any text shown from an answer has it masked, in case a server echoes it.
A plain-http API URL is refused unless it is a loopback address: the key would cross the
network in clear. Redirects are not followed, so the key never goes to another host.

Errors say what Vapi said: its `message` (a string or NestJS's list of validation messages)
with the HTTP status.
"""

from __future__ import annotations

import importlib
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from receiver.cli._credentials import mask
from receiver.cli._http import is_loopback
from receiver.errors import ConfigError, ReceiverError
from receiver.vapi_objects import display_url

if TYPE_CHECKING:
    import httpx2

API_KEY_ENV: Final = "VAPI_API_KEY"
API_URL_ENV: Final = "VAPI_API_URL"
DEFAULT_API_URL: Final = "https://api.vapi.ai"
DEFAULT_TIMEOUT_S: Final = 30.0

#: The objects whose server URL `link` sets, by the path segment of their API routes.
ObjectKind = Literal["phone-number", "assistant", "org"]

_MAX_SHOWN: Final = 500


def import_extra(name: str) -> Any:
    """`name`, one of the `link` extra's packages (`httpx2`, `tomlkit`), imported on first use
    so that every other command works without them.

    Raises:
        ConfigError: it is not installed; the message says how to install it.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ConfigError(
            f"this needs {name}, from the `link` extra: pip install 'vapi-receiver[link]'"
        ) from None


class ApiError(ReceiverError):
    """Vapi answered with an error status; the message is Vapi's own.

    Attributes:
        status: The HTTP status, e.g. 404.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ApiUnreachable(ReceiverError):
    """No answer from the API at all: refused, DNS, TLS, timeout. A request that was sent
    may or may not have been carried out."""


class VapiApi:
    """A client of Vapi's API for one key; use as a context manager to close its connections.

    Args:
        key: The private API key.
        base_url: The API's root, e.g. `https://api.vapi.ai`.
        timeout: For each request, in seconds.
    """

    def __init__(self, key: str, base_url: str = DEFAULT_API_URL, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._key = key
        httpx = import_extra("httpx2")
        local = is_loopback(urllib.parse.urlsplit(self.base_url).hostname or "")
        self._client: httpx2.Client = httpx.Client(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {key}", "user-agent": "vapi-receiver-cli"},
            timeout=timeout,
            follow_redirects=False,
            trust_env=not local,  # no proxy between us and localhost
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT_S) -> VapiApi:
        """The client `$VAPI_API_KEY` and `$VAPI_API_URL` describe.

        Raises:
            ConfigError: no key, or an API URL that is not https (loopback excepted).
        """
        key = environ.get(API_KEY_ENV, "").strip()
        if not key:
            raise ConfigError(
                f"set ${API_KEY_ENV} to your Vapi private API key (dashboard: Organization "
                "settings, API Keys); it is read from the environment only"
            )
        if any(c.isspace() or not c.isprintable() for c in key):
            # An HTTP library would refuse the header and quote it, key and all, in its error.
            raise ConfigError(f"${API_KEY_ENV} holds spaces or control characters; copy it again")
        base_url = environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
        if problem := _url_problem(base_url):
            raise ConfigError(f"${API_URL_ENV}: {problem}")
        return cls(key, base_url, timeout=timeout)

    def __enter__(self) -> VapiApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VapiApi({display_url(self.base_url)!r}, key={mask(self._key)})"

    def close(self) -> None:
        self._client.close()

    def get(self, kind: ObjectKind, object_id: str) -> dict[str, Any]:
        """`GET /{kind}/{id}`: the object as Vapi stores it."""
        return self._object(self._request("GET", f"/{kind}/{_segment(object_id)}"))

    def update(self, kind: ObjectKind, object_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`PATCH /{kind}/{id}` with `body`; the object after the update."""
        return self._object(self._request("PATCH", f"/{kind}/{_segment(object_id)}", body))

    def buy_phone_number(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /phone-number/buy`: the number bought."""
        return self._object(self._request("POST", "/phone-number/buy", body))

    def orgs(self) -> list[dict[str, Any]]:
        """`GET /org`: the orgs this key can see."""
        data = self._request("GET", "/org")
        items = data if isinstance(data, list) else [data]
        return [item for item in items if isinstance(item, dict)]

    def describe(self, kind: ObjectKind, object_id: str) -> str:
        """`PATCH https://api.vapi.ai/phone-number/pn-1`-style text for messages."""
        return f"{display_url(self.base_url)}/{kind}/{object_id}"

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        where = f"{method} {display_url(self.base_url)}{path}"
        httpx = import_extra("httpx2")
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TimeoutException:
            raise ApiUnreachable(f"{where}: no answer within the timeout") from None
        except httpx.HTTPError as exc:
            raise ApiUnreachable(
                f"{where}: {self._scrub(str(exc) or type(exc).__name__)}"
            ) from None
        if response.status_code >= 300:
            raise ApiError(
                f"{where}: {response.status_code} {response.reason_phrase}: "
                f"{self._scrub(_vapi_message(response))}",
                response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"{where}: the answer is not JSON", response.status_code) from None

    def _object(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(f"expected a JSON object from Vapi, got {type(data).__name__}", 200)
        return data

    def _scrub(self, text: str) -> str:
        """`text` with the key masked, cut to a readable length."""
        text = text.replace(self._key, mask(self._key))
        return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _vapi_message(response: httpx2.Response) -> str:
    """Vapi's own words: `message` (NestJS gives a list for validation errors), else the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip() or "(no body)"
    if isinstance(data, dict):
        message = data.get("message", data.get("error"))
        if isinstance(message, list):
            return "; ".join(str(item) for item in message)
        if message:
            return str(message)
    return response.text.strip()


def _segment(object_id: str) -> str:
    return urllib.parse.quote(object_id, safe="")


def _url_problem(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{display_url(url)!r} is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{display_url(url)} is plain http: the API key would travel unencrypted"
    return None
