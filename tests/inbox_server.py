"""Run `tests.inbox_app` (or an app that mounts it) under uvicorn in a child process that a
test may `kill -9`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2

from receiver.testing import make_message
from tests.helpers import SECRET

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """One uvicorn process serving `app` on 127.0.0.1, the receiver's routes under `prefix`."""

    def __init__(
        self, workdir: Path, *, app: str = "tests.inbox_app:app", prefix: str = "", **settings: str
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{prefix}/vapi"
        self.log = workdir / f"uvicorn-{self.port}.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VAPI_SERVER_SECRET": SECRET,
            "VAPI_INBOX_PATH": str(workdir / "inbox.sqlite3"),
            "INBOX_APP_RECORD": str(workdir / "handled.txt"),
            **settings,
        }
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(self.url.replace("/vapi", "/health"), timeout=1).is_success:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"uvicorn did not start: {self.log.read_text()[-2000:]}")

    def kill_9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextlib.contextmanager
def serving(
    workdir: Path, *, app: str = "tests.inbox_app:app", prefix: str = "", **settings: str
) -> Iterator[ServerProcess]:
    server = ServerProcess(workdir, app=app, prefix=prefix, **settings)
    try:
        yield server
    finally:
        server.stop()


def count(inbox: Path, where: str = "1") -> int:
    """Deliveries matching `where`, read through a connection of the test's own."""
    return scalar(inbox, f"SELECT COUNT(*) FROM deliveries WHERE {where}")


def scalar(inbox: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(inbox, timeout=10)) as db:
        (n,) = db.execute(sql).fetchone()
        return int(n or 0)


HEADERS = {"content-type": "application/json", "x-vapi-secret": SECRET}


def report(call_id: str) -> bytes:
    """An end-of-call report of call `call_id`: what `tests.inbox_app` records."""
    return json.dumps(make_message("end-of-call-report", call_id=call_id)).encode()


def post(client: httpx2.Client, url: str, body: bytes) -> bool:
    """Whether the delivery was acknowledged (200), as Vapi would judge it."""
    try:
        return client.post(url, content=body, headers=HEADERS).status_code == 200
    except httpx2.HTTPError:
        return False


def wait_until(
    condition: Callable[[], bool], timeout: float = 10, what: str = "the condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def handled(workdir: Path) -> list[str]:
    record = workdir / "handled.txt"
    return record.read_text().split() if record.exists() else []
