"""Record verified deliveries to a JSON Lines file, to replay them or use them as fixtures.

Opt in with `[receiver] record_to = "deliveries.jsonl"` (or `Receiver(record_to=...)`).
Each verified delivery becomes one line::

    {"received_at": "2025-06-01T12:00:00.123456Z", "headers": {...}, "body": "<raw text>"}

`body` is the request body exactly as received (so replaying it reproduces the delivery
byte for byte), and `headers` are the request headers without anything that could be a
credential: no header whose name looks like one, and no header that a configured credential
reads (a Bearer token in `X-Webhook-Key`, an HMAC signature in `X-Hub-Sig`).
`vapi-receiver replay deliveries.jsonl` re-posts them.

Concurrency: each line is written with one `write()` on a file opened with `O_APPEND`,
under a lock shared by the threads of this process and, where the platform has it, an
exclusive `flock` on the file, so lines from concurrent requests and from several workers
(processes) on one machine never interleave. `flock` is advisory and unreliable on network
file systems: with workers on several hosts, give each its own file. The file is opened for
every line, so it may be moved or deleted (rotated) while the receiver runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Final

from receiver.config import ReceiverConfig
from receiver.credentials import HmacCredential
from receiver.errors import ConfigError
from receiver.log import logger
from receiver.verification import configured_levels

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["Recorder", "credential_headers", "recordable_headers"]

#: A header whose lower-cased name contains one of these is never recorded.
SECRET_HEADER_WORDS: Final = (
    "auth",  # authorization, proxy-authorization, x-auth-token
    "secret",
    "token",
    "signature",
    "api-key",
    "apikey",
    "cookie",
    "credential",
    "password",
)

#: Bodies larger than this are written from a worker thread, so a slow or busy disk never
#: holds up the event loop. CPU is another matter: measured on a 1 MB end-of-call report,
#: recording costs the loop ~7 ms whether inline or in a thread, because escaping the body
#: into JSON holds the GIL; that is about what parsing the same body already costs (5-9 ms).
#: Below this size the thread hand-off (~0.1-0.3 ms) costs more than the write it saves.
OFFLOAD_BYTES: Final = 64 * 1024


def recordable_headers(headers: Mapping[str, str], hidden: Collection[str] = ()) -> dict[str, str]:
    """The headers with every credential-like one removed, names lower-cased.

    Args:
        headers: Request headers, names in any case.
        hidden: Lower-case names to drop as well, whatever they look like
            (`credential_headers`): a Bearer token may travel in `X-Webhook-Key`.
    """
    kept = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in hidden and not any(word in lowered for word in SECRET_HEADER_WORDS):
            kept[lowered] = value
    return kept


def credential_headers(config: ReceiverConfig) -> frozenset[str]:
    """The headers that carry a configured credential, at any level: never recorded.

    An HMAC credential's timestamp and message id headers are kept: they are no secret, and
    `replay` sends the recorded message id again, as Vapi does when it retries.
    """
    names: set[str] = set()
    for level in configured_levels(config):
        for credential in level.config.accepted:
            if isinstance(credential, HmacCredential):
                names.add(credential.signature_header)
            else:
                names.update(credential.header_names)
    return frozenset(names)


class Recorder:
    """Appends deliveries to one JSON Lines file; safe to share across tasks and threads.

    Args:
        path: The file; created on the first delivery, relative to the working directory.
        hidden: Lower-case header names never written, besides the auth-like ones: the
            headers of the configured credentials (see `credential_headers`).

    Raises:
        ConfigError: the directory the file would go in does not exist.
    """

    def __init__(self, path: str | os.PathLike[str], hidden: Collection[str] = ()) -> None:
        self.path = os.fspath(path)
        self.hidden = frozenset(hidden)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigError(f"record_to: directory {directory} does not exist")
        self._lock = threading.Lock()

    async def record(self, headers: Mapping[str, str], body: bytes) -> None:
        """Append one delivery, without credential headers (see `recordable_headers`).

        A failure to write is logged, never raised: recording is a development aid and must
        not turn a good delivery into an error.
        """
        if len(body) > OFFLOAD_BYTES:
            await asyncio.to_thread(self.record_now, headers, body)
        else:
            self.record_now(headers, body)

    def record_now(self, headers: Mapping[str, str], body: bytes) -> None:
        """`record`, blocking the calling thread."""
        line = self.line(headers, body, self.hidden)
        try:
            self._append(line)
        except OSError as exc:
            logger.error("could not record a delivery to %s: %s", self.path, exc)

    @staticmethod
    def line(headers: Mapping[str, str], body: bytes, hidden: Collection[str] = ()) -> bytes:
        """The JSON line for one delivery, newline included."""
        record = {
            "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "headers": recordable_headers(headers, hidden),
            "body": body.decode("utf-8", errors="replace"),
        }
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"

    def _append(self, line: bytes) -> None:
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                view = memoryview(line)
                while view:  # one write() normally takes it all; loop in case it does not
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)  # also releases the flock
