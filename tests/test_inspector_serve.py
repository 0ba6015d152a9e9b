"""`vapi-receiver serve --inspect`: where it is allowed, and a real server that stops on time."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.inspector import Inspector
from receiver.testing import make_message
from tests.live_server import free_port
from tests.test_cli_serve import APP, SECRET, Serving

PLAIN_APP = """
from starlette.applications import Starlette

app = Starlette()
"""


@pytest.fixture
def in_app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "my_app.py").write_text(APP)
    (tmp_path / "plain_app.py").write_text(PLAIN_APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("my_app", "plain_app"):
        sys.modules.pop(name, None)
    yield tmp_path
    for name in ("my_app", "plain_app"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "served on a loopback address only, not 0.0.0.0"),
        (["--host", "192.0.2.10"], "add --inspect-allow-remote on a trusted network"),
        (["--inspect-keep", "0"], "--inspect-keep must be at least 1"),
    ],
)
def test_inspect_is_refused_off_loopback_unless_allowed(
    argv: list[str], message: str, in_app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "my_app:receiver", "--inspect", "--port", str(free_port()), *argv]) == 2
    assert message in capsys.readouterr().err


def test_inspect_needs_a_receiver(in_app_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "plain_app:app", "--inspect", "--port", str(free_port())]) == 2
    assert "--inspect needs a Receiver" in capsys.readouterr().err


def test_reload_keeps_the_inspector(in_app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from receiver.cli.serve import APP_ENV, reload_app

    monkeypatch.setenv(APP_ENV, "my_app:receiver")
    monkeypatch.setenv(APP_ENV + "_INSPECT", "7:remote")
    app = reload_app()
    assert isinstance(app, Inspector)
    assert (app.journal.keep, app.allow_remote) == (7, True)
    assert app.receiver is sys.modules["my_app"].receiver


@pytest.mark.slow  # `vapi-receiver serve` in a subprocess
def test_serve_inspect_shows_deliveries_and_stops_with_a_page_open(in_app_dir: Path) -> None:
    port = free_port()
    server = Serving(["my_app:receiver", "--port", str(port), "--inspect"], in_app_dir, None)
    try:
        server.wait_for(f"Inspector: http://127.0.0.1:{port}/_inspect")
        server.wait_for("Uvicorn running on")
        events: list[str] = []

        def watch() -> None:  # a page left open: its event stream stays connected
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_inspect/events", timeout=30
                ) as stream:
                    for line in stream:
                        events.append(line.decode())
            except OSError:
                pass

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.3)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/vapi",
            data=json.dumps(make_message("status-update")).encode(),
            headers={"content-type": "application/json", "x-vapi-secret": SECRET},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        deadline = time.monotonic() + 5
        while not any('"type": "status-update"' in line for line in events):
            assert time.monotonic() < deadline, f"no event for the delivery: {events}"
            time.sleep(0.05)
        stopped = time.monotonic()
        assert server.stop(signal.SIGINT) == 0
        assert time.monotonic() - stopped < 5, "Ctrl-C waited for the open page"
    finally:
        server.close()
