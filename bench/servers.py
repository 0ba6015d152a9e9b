"""Starting each server under test in its own uvicorn process, all with the same settings.

One worker, loopback, access log off, log level warning, the same HTTP and event-loop
implementations; the process is uvicorn itself, so its peak resident memory (`VmHWM`) is the
server's. Each server is started afresh for each workload, so that peak belongs to it alone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class ServerSpec:
    """A server under test: its name in the results, its app factory, its own environment."""

    name: str
    title: str
    factory: str
    env: tuple[tuple[str, str], ...] = ()


SERVERS: Final = (
    ServerSpec("floor", "floor (bare Starlette + json.loads)", "bench.apps.floor:create_app"),
    ServerSpec("receiver", "vapi-receiver, as configured", "bench.apps.receiver_app:create_app"),
    ServerSpec(
        "receiver-no-inbox",
        "vapi-receiver, inbox off",
        "bench.apps.receiver_app:create_app",
        (("BENCH_RECEIVER_INBOX", "off"),),
    ),
    ServerSpec(
        "receiver-postgres",
        "vapi-receiver, inbox in PostgreSQL",
        "bench.apps.receiver_app:create_app",
        (("BENCH_RECEIVER_POSTGRES", "on"),),  # the URL of the run's own database is added
    ),
    ServerSpec("fastapi", "FastAPI + pydantic (tutorial)", "bench.apps.fastapi_app:create_app"),
    ServerSpec("vapiserve", "vapiserve", "bench.apps.vapiserve_app:create_app"),
)


@dataclass(frozen=True)
class UvicornSettings:
    """What every server gets; `http`/`loop` default to the fastest implementations present."""

    http: str
    loop: str

    @classmethod
    def detect(cls) -> UvicornSettings:
        fast = importlib.util.find_spec("httptools") and importlib.util.find_spec("uvloop")
        return cls("httptools", "uvloop") if fast else cls("h11", "asyncio")

    def arguments(self) -> list[str]:
        return [
            "--host", "127.0.0.1",
            "--log-level", "warning",
            "--no-access-log",
            "--http", self.http,
            "--loop", self.loop,
            "--lifespan", "on",
        ]  # fmt: skip


@dataclass
class RunningServer:
    """A started server: where it listens and its process."""

    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_bytes(self) -> int:
        """The most memory the process has had resident so far (Linux `VmHWM`)."""
        return _proc_status_kib(self.process.pid, "VmHWM") * 1024

    def rss_bytes(self) -> int:
        return _proc_status_kib(self.process.pid, "VmRSS") * 1024


@contextlib.contextmanager
def running(
    spec: ServerSpec,
    settings: UvicornSettings,
    workdir: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run `spec` until the block ends; its working directory and log go in `workdir`.

    Raises:
        RuntimeError: the server did not answer within `START_TIMEOUT` (its log is quoted).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / f"{spec.name}.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", spec.factory, "--port", str(port)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        # The inbox (on by default) puts its file in the working directory: a fresh one.
        "VAPI_INBOX_PATH": str(workdir / f"{spec.name}-inbox.sqlite3"),
        **(env or {}),
        **dict(spec.env),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *settings.arguments()],
            cwd=workdir,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(spec, port, process, log)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful shutdown), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float = 30.0
) -> tuple[int, bytes]:
    """One POST with the standard library: the sanity check before any load."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait_until_listening(server: RunningServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), 0.2),
        ):
            return
        time.sleep(0.05)
    tail = server.log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{server.spec.name} did not start on port {server.port}:\n{tail}")


def _proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")
