"""Vapi's HMAC credential: a signature over the raw body, a timestamp, an optional message id.

Every field of Vapi's `HMACAuthenticationPlan` is mirrored with its default
(docs/protocol.md#hmac). The signed message is `payload_format` with its placeholders filled in, the
body always as the raw bytes received: a re-serialised body never reproduces the signature.
What Vapi leaves undocumented is decided here: the timestamp may be in seconds or
milliseconds and must lie within `tolerance_seconds` of now in either direction, and what was
signed is accepted once within that window, so a captured request cannot be replayed while a
retry that Vapi signs afresh (a new timestamp) still gets through.

Only signed material keys the replay memory: anyone who saw a request can change a header
that the signature does not cover. The message id is the key when `payload_format` signs
`{svix-id}`; otherwise the key is the HMAC of the signed string, computed here, so neither a
re-encoded signature nor another of several listed signatures makes a replay look new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from receiver.credentials.base import ACCEPTED, Check, RequestView, absent, refused
from receiver.credentials.replay import ReplayCache
from receiver.errors import ConfigError

ALGORITHMS: Final = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha1": hashlib.sha1}
ENCODINGS: Final = ("hex", "base64")
PLACEHOLDERS: Final = frozenset({"body", "timestamp", "method", "url", "svix-id"})
DEFAULT_TOLERANCE_SECONDS: Final = 300.0

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z0-9_-]+)\}")
_TIMESTAMP: Final = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,9})?")
_MILLISECONDS_FROM: Final = 1e11
"""Seconds since 1970 stay below this until the year 5138; milliseconds pass it in 1973."""
_MAX_SIGNATURES: Final = 8
"""Several space-separated signatures are tried (Svix-style key rotation), but not many."""


@dataclass(frozen=True, kw_only=True, repr=False)
class HmacCredential:
    """Accepts a request whose signature header holds the HMAC of the formatted payload.

    Args:
        secret_key: The key of Vapi's HMAC credential.
        algorithm: `sha256`, `sha512` or `sha1`.
        signature_header: The header carrying the signature.
        timestamp_header: The header carrying the timestamp that was signed.
        include_timestamp: Whether Vapi sends and signs a timestamp.
        payload_format: What is signed; placeholders `{body}`, `{timestamp}`, `{method}`,
            `{url}`, `{svix-id}`. Defaults to `{timestamp}.{body}`, or `{body}` when
            `include_timestamp` is false.
        signature_encoding: `hex` or `base64`.
        signature_prefix: Text before the encoded signature, such as `sha256=`.
        message_id_header: The header carrying a unique message id (Svix-style), which
            becomes `{svix-id}`. It keys the replay memory (and the inbox's duplicate
            detection) only when `payload_format` signs `{svix-id}`.
        secret_is_base64: Base64-decode `secret_key` before use.
        tolerance_seconds: How far the timestamp may be from now, in either direction.
        clock: Seconds since the epoch; replaceable in tests.
        replay_cache: Where signed requests are remembered to refuse their replays.
    """

    secret_key: str
    algorithm: str
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"
    include_timestamp: bool = True
    payload_format: str | None = None
    signature_encoding: str = "hex"
    signature_prefix: str = ""
    message_id_header: str | None = None
    secret_is_base64: bool = False
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS
    clock: Callable[[], float] = field(default=time.time, compare=False)
    replay_cache: ReplayCache = field(default_factory=ReplayCache, compare=False)
    _key: bytes = field(init=False, compare=False)
    _parts: tuple[bytes | str, ...] = field(init=False, compare=False)
    _placeholders: frozenset[str] = field(init=False, compare=False)
    _last_signed_ms: int = field(default=0, init=False, compare=False)

    def __post_init__(self) -> None:
        algorithm = str(self.algorithm).lower()
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"`algorithm` must be one of {', '.join(ALGORITHMS)}")
        if self.signature_encoding not in ENCODINGS:
            raise ConfigError(f"`signature_encoding` must be one of {', '.join(ENCODINGS)}")
        if not self.tolerance_seconds > 0:
            raise ConfigError("`tolerance_seconds` must be a positive number of seconds")
        set_ = object.__setattr__
        set_(self, "algorithm", algorithm)
        set_(self, "_key", _key(self.secret_key, self.secret_is_base64))
        for name in ("signature_header", "timestamp_header", "message_id_header"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError(f"`{name}` must be a non-empty header name")
                set_(self, name, value.strip().lower())
        template = self.payload_format
        if template is None:
            template = "{timestamp}.{body}" if self.include_timestamp else "{body}"
        set_(self, "payload_format", template)
        set_(self, "_parts", _parse_template(template))
        used = frozenset(part for part in self._parts if isinstance(part, str))
        set_(self, "_placeholders", used)
        if "body" not in used:
            raise ConfigError(
                "`payload_format` must contain {body}: a signature that does not cover the "
                "body would let anyone who saw one request send any other"
            )
        if "timestamp" in used and not self.include_timestamp:
            raise ConfigError("`payload_format` uses {timestamp} but `include_timestamp` is false")
        if self.message_id_header and not self.include_timestamp:
            raise ConfigError(
                "`message_id_header` needs `include_timestamp = true`: a message id is "
                "remembered only for twice the tolerance, so without a timestamp that bounds "
                "a request's age a replay after that would be accepted"
            )
        if "svix-id" in used and not self.message_id_header:
            raise ConfigError("`payload_format` uses {svix-id} but no `message_id_header` is set")

    @property
    def scheme(self) -> str:
        return "hmac"

    @property
    def signs_timestamp(self) -> bool:
        """Whether the timestamp is signed, so that its window bounds a replay."""
        return "timestamp" in self._placeholders

    @property
    def signs_message_id(self) -> bool:
        """Whether the message id is signed, so that it may key replays and duplicates."""
        return "svix-id" in self._placeholders

    def replay_warnings(self) -> list[str]:
        """What this plan leaves open to replay, each with the change that closes it."""
        found = []
        if self.message_id_header and not self.signs_message_id:
            found.append(
                f"`message_id_header` is set but `payload_format` ({self.payload_format}) "
                "does not sign {svix-id}: the unsigned id is ignored as a replay or duplicate "
                "key (the signed bytes are used); add {svix-id} to payload_format (and to "
                "Vapi's payloadFormat), e.g. {svix-id}.{timestamp}.{body}, or remove "
                "message_id_header"
            )
        if not self.signs_timestamp:
            unsigned = " (the timestamp header is sent but not signed)"
            found.append(
                "no timestamp is signed"
                + (unsigned if self.include_timestamp else "")
                + ": a captured request can be replayed at any time; sign one with "
                "include_timestamp = true and {timestamp} in payload_format"
            )
        return found

    @property
    def header_names(self) -> tuple[str, ...]:
        names = [self.signature_header]
        if self.include_timestamp:
            names.append(self.timestamp_header)
        if self.message_id_header:
            names.append(self.message_id_header)
        return tuple(names)

    def check(self, request: RequestView, *, remember: bool = True) -> Check:
        """Accept or refuse the request.

        Args:
            request: The delivery.
            remember: Record the message id as seen. `False` is for a pre-check that the
                real check follows: recording twice would refuse the genuine delivery as
                its own replay. Without recording, a replay is not detected.
        """
        headers = request.headers
        for name in self.header_names:
            if not headers.get(name):
                return absent(name)
        if "url" in self._placeholders and not request.url:
            return refused("payload_format uses {url} but the request URL is unknown")
        signature = headers[self.signature_header]
        timestamp = headers.get(self.timestamp_header, "") if self.include_timestamp else ""
        message_id = headers.get(self.message_id_header, "") if self.message_id_header else ""
        expected = self._sign(request, timestamp, message_id)
        if not self._signature_matches(signature, expected):
            return refused("signature does not match")
        now = self.clock()
        if self.include_timestamp and (problem := self._stale(timestamp, now)):
            return refused(problem)
        key = self._replay_key(timestamp, message_id, expected)
        # Kept twice the tolerance: a timestamp up to `tolerance` ahead stays acceptable
        # until `2 * tolerance` from now.
        if (
            remember
            and key
            and not self.replay_cache.add(key, now=now, ttl=2 * self.tolerance_seconds)
        ):
            what = self.message_id_header if key.startswith("id:") else "signed request"
            return refused(f"{what} already seen (a replay)")
        return ACCEPTED

    def _replay_key(self, timestamp: str, message_id: str, signature: bytes) -> str | None:
        """The signed material that tells one delivery from another; `None` if none does.

        Without a signed timestamp a retry by Vapi repeats the signed bytes exactly, so it
        cannot be told from a replay: nothing is remembered (`replay_warnings` says so).
        """
        signed_time = timestamp if self.signs_timestamp else ""
        if self.signs_message_id:
            return f"id:{message_id}\n{signed_time}"
        return f"hmac:{signature.hex()}" if self.signs_timestamp else None

    def check_headers(self, request: RequestView) -> Check:
        """What the headers alone decide: refused when one is missing or the timestamp stale.

        Accepted here means only that the signature over the body remains to be checked; it
        lets the receiver turn a stranger away before it reads the body.
        """
        for name in self.header_names:
            if not request.headers.get(name):
                return absent(name)
        if self.include_timestamp:
            timestamp = request.headers[self.timestamp_header]
            if problem := self._stale(timestamp, self.clock()):
                return refused(problem)
        return ACCEPTED

    def describe(self) -> str:
        text = f"HMAC-{self.algorithm.upper()} signature in {self.signature_header}"
        if self.include_timestamp:
            text += f" with timestamp in {self.timestamp_header}"
        if self.message_id_header:
            text += f" and message id in {self.message_id_header}"
        return text

    def __repr__(self) -> str:
        return f"HmacCredential({self.describe()}, secret_key=<hidden>)"

    def sign(
        self,
        body: bytes,
        *,
        method: str = "POST",
        url: str = "",
        timestamp: str | None = None,
        message_id: str | None = None,
    ) -> dict[str, str]:
        """The headers Vapi sends with `body` under this plan: signature, timestamp, message id.

        The signature is computed by the same code that `check` uses, so what this signs
        is exactly what the receiver accepts.

        Args:
            body: The exact bytes that will be sent.
            method: The HTTP method, for `{method}`.
            url: The URL the request goes to, for `{url}`; it must be the URL the receiver
                will see.
            timestamp: Defaults to now, in milliseconds since the epoch (Vapi does not
                document the unit; `check` accepts seconds and milliseconds), and always
                later than the previous default: each call signs a new delivery, which the
                receiver accepts once, even within one millisecond or on a frozen clock.
            message_id: Defaults to a fresh id when `message_id_header` is set; pass the
                original one to sign a retry of a delivery.

        Raises:
            ValueError: `payload_format` signs `{url}` and `url` is empty.
        """
        if "url" in self._placeholders and not url:
            raise ValueError("payload_format signs {url}: give the URL the request goes to")
        headers: dict[str, str] = {}
        if self.include_timestamp:
            timestamp = timestamp or self._fresh_timestamp()
            headers[self.timestamp_header] = timestamp
        if self.message_id_header:
            message_id = message_id or f"msg_{secrets.token_hex(12)}"
            headers[self.message_id_header] = message_id
        digest = self._sign(RequestView({}, body, method, url), timestamp or "", message_id or "")
        encoded = digest.hex() if self.signature_encoding == "hex" else _b64(digest)
        return {self.signature_header: self.signature_prefix + encoded, **headers}

    def _fresh_timestamp(self) -> str:
        milliseconds = max(int(self.clock() * 1000), self._last_signed_ms + 1)
        object.__setattr__(self, "_last_signed_ms", milliseconds)  # frozen for users only
        return str(milliseconds)

    def _sign(self, request: RequestView, timestamp: str, message_id: str) -> bytes:
        values = {
            "timestamp": timestamp,
            "method": request.method.upper(),
            "url": request.url,
            "svix-id": message_id,
        }
        mac = hmac.new(self._key, digestmod=ALGORITHMS[self.algorithm])
        for part in self._parts:
            if isinstance(part, bytes):
                mac.update(part)
            elif part == "body":
                mac.update(request.body)
            else:
                mac.update(values[part].encode())
        return mac.digest()

    def _signature_matches(self, header: str, expected: bytes) -> bool:
        matched = False
        for candidate in header.split()[:_MAX_SIGNATURES]:
            if not candidate.startswith(self.signature_prefix):
                continue
            decoded = _decode(candidate[len(self.signature_prefix) :], self.signature_encoding)
            if decoded is not None:
                matched |= hmac.compare_digest(decoded, expected)
        return matched

    def _stale(self, timestamp: str, now: float) -> str | None:
        if not _TIMESTAMP.fullmatch(timestamp):
            return f"{self.timestamp_header} is not a number of seconds or milliseconds"
        seconds = float(timestamp)
        if seconds >= _MILLISECONDS_FROM:
            seconds /= 1000
        skew = now - seconds
        window = f"(tolerance {self.tolerance_seconds:g} s)"
        if skew > self.tolerance_seconds:
            return f"timestamp is {skew:.0f} s old {window}"
        if -skew > self.tolerance_seconds:
            return f"timestamp is {-skew:.0f} s in the future {window}"
        return None


def _key(secret_key: object, is_base64: bool) -> bytes:
    if not isinstance(secret_key, str) or not secret_key:
        raise ConfigError("`secret_key` must be a non-empty string")
    if not is_base64:
        return secret_key.encode()
    try:
        return base64.b64decode(secret_key, validate=True)
    except binascii.Error:
        raise ConfigError("`secret_key` is not valid base64 (`secret_is_base64` is true)") from None


def _parse_template(template: object) -> tuple[bytes | str, ...]:
    """Literal parts as bytes, placeholders by name; unknown placeholders are refused."""
    if not isinstance(template, str) or not template:
        raise ConfigError("`payload_format` must be a non-empty string")
    parts: list[bytes | str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise ConfigError(f"`payload_format` has unknown placeholder {{{name}}} ({known})")
        if match.start() > position:
            parts.append(template[position : match.start()].encode())
        parts.append(name)
        position = match.end()
    if position < len(template):
        parts.append(template[position:].encode())
    return tuple(parts)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _decode(text: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        # Standard or URL-safe alphabet, padded or not: only the bytes matter.
        text = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return None
