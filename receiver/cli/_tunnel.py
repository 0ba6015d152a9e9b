"""Start ngrok or cloudflared in front of the local server and read the public URL it reports.

Vapi needs an https URL it can reach; both programs give one for a laptop. We start the
program, read its output until it names the URL (ngrok's JSON log line `"url": "https://..."`,
cloudflared's `https://....trycloudflare.com` banner on stderr), keep draining its output so
it never blocks on a full pipe, and stop it when the server stops.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from receiver.errors import ReceiverError

DEFAULT_WAIT_S: Final = 30.0
"""How long to wait for the public URL; a first ngrok start can take several seconds."""

_STOP_WAIT_S: Final = 5.0
_TAIL_LINES: Final = 15


@dataclass(frozen=True)
class TunnelProgram:
    name: str
    arguments: Callable[[str], list[str]]
    url_pattern: re.Pattern[str]
    install: str


PROGRAMS: Final = {
    "ngrok": TunnelProgram(
        "ngrok",
        lambda local: ["http", local, "--log", "stdout", "--log-format", "json"],
        # JSON log line of ngrok 3 ("url":"https://..."), or logfmt (url=https://...).
        re.compile(r'"url"\s*:\s*"(https://[^"]+)"|\burl=(https://\S+)'),
        "https://ngrok.com/download (then: ngrok config add-authtoken ...)",
    ),
    "cloudflared": TunnelProgram(
        "cloudflared",
        lambda local: ["tunnel", "--no-autoupdate", "--url", local],
        re.compile(r"(https://[-a-z0-9]+\.trycloudflare\.com)"),
        "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/",
    ),
}


class TunnelNotFound(ReceiverError):
    """The tunnel program is not on PATH."""


class TunnelFailed(ReceiverError):
    """The program exited, or named no URL in time; the message ends with its last output."""


class Tunnel:
    """A running tunnel program; use as a context manager so it is always stopped.

    Args:
        name: `ngrok` or `cloudflared`.
        local_url: What the tunnel forwards to, e.g. `http://127.0.0.1:8000`.
        wait: Seconds to wait for the public URL.
        on_exit: Called (from another thread) when the program ends on its own after it
            named its URL: the tunnel is gone, and whatever relies on it should stop.
    """

    def __init__(
        self,
        name: str,
        local_url: str,
        *,
        wait: float = DEFAULT_WAIT_S,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.program = PROGRAMS[name]
        self.local_url = local_url
        self.wait = wait
        self.public_url: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._found = threading.Event()
        self._reader: threading.Thread | None = None
        self._on_exit = on_exit
        self._stopping = False
        self.died = False
        """Whether the program ended on its own after naming its URL."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Start the program and return its public URL.

        Raises:
            TunnelNotFound: the program is not on PATH.
            TunnelFailed: it exited first, or reported no URL within `wait` seconds (it is
                stopped before this is raised).
        """
        executable = shutil.which(self.program.name)
        if executable is None:
            raise TunnelNotFound(
                f"{self.program.name} is not on PATH; install it from {self.program.install}"
            )
        self._process = subprocess.Popen(
            [executable, *self.program.arguments(self.local_url)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, name="tunnel-output", daemon=True)
        self._reader.start()
        try:
            output_ended = self._found.wait(self.wait)
        except BaseException:  # Ctrl-C while waiting: __exit__ will not run, so stop here
            self.stop()
            raise
        if self.public_url:
            return self.public_url
        code = self._process.poll()
        if output_ended and code is None:  # closed its output: it is exiting
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._process.wait(_STOP_WAIT_S)
        self.stop()
        why = (
            f"exited with code {code}"
            if code is not None
            else f"reported no public URL within {self.wait:g} s"
        )
        raise TunnelFailed(f"{self.program.name} {why}; its last output:\n{self._last_output()}")

    def stop(self) -> None:
        """Terminate the program (then kill it if it lingers) and wait for it."""
        self._stopping = True
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(_STOP_WAIT_S)
        if self._reader is not None:
            self._reader.join(_STOP_WAIT_S)
        # A child of the program may still hold the pipe open; then the reader keeps it.
        if process.stdout is not None and not (self._reader and self._reader.is_alive()):
            process.stdout.close()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:  # drained to the end: the program never blocks
            self._tail.append(line.rstrip())
            if self.public_url is None and (match := self.program.url_pattern.search(line)):
                self.public_url = next(group for group in match.groups() if group)
                self._found.set()
        self._found.set()  # the program ended: stop waiting
        if self.public_url is not None and not self._stopping:
            self.died = True
            if self._on_exit is not None:
                self._on_exit()

    def _last_output(self) -> str:
        return "\n".join(f"  {line}" for line in self._tail) or "  (nothing)"
