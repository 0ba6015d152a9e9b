"""`vapi-receiver send` against `python example_app.py`: every message type is accepted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.testing import MESSAGE_TYPES
from tests.live_server import free_port

pytestmark = pytest.mark.slow  # runs the example app in a subprocess

EXAMPLE_APP = Path(__file__).resolve().parent.parent / "example_app.py"
SECRET = "example-app-secret-5150"


@pytest.fixture(scope="module")
def example_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, PORT=str(port), HOST="127.0.0.1", VAPI_SERVER_SECRET=SECRET)
    env.pop("VAPI_RECEIVER_CONFIG", None)
    # Its own working directory: whatever the app writes there stays out of the repository.
    cwd = tmp_path_factory.mktemp("example_app")
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE_APP)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("example_app.py did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/vapi"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_every_type_is_accepted(example_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    failures = {}
    for kind in MESSAGE_TYPES:
        code = main(["send", kind, "--url", example_url, "--secret", SECRET])
        out, err = capsys.readouterr()
        if code != 0:
            failures[kind] = f"exit {code}: {out}{err}"
    assert not failures, failures


def test_the_console_command_against_the_example(example_url: str) -> None:
    env = dict(os.environ, VAPI_SERVER_SECRET=SECRET)
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "send", "tool-calls", "--url", example_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '\\"carrier\\": \\"UPS\\"' in result.stdout
    assert "ok: a valid tool-calls answer" in result.stdout
