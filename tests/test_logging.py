"""The receiver's lines are visible and formatted under a plain `uvicorn app:app`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.live_server import free_port

_APP = textwrap.dedent(
    """
    from receiver import Receiver

    receiver = Receiver(config={"org": {"secret": "s3cret-value-for-tests"}})
    app = receiver.app
    """
)
_CONFIGURED = _APP.replace(
    "from receiver import Receiver",
    "import logging\nlogging.basicConfig(level=logging.WARNING, format='MINE %(message)s')\n"
    "from receiver import Receiver",
)


def _run_uvicorn(tmp_path: Path, app_source: str) -> str:
    """Serve `app_source` with `python -m uvicorn app:app`, post one bad request, stop."""
    (tmp_path / "app.py").write_text(app_source)
    port = free_port()
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/vapi"
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(
                url, data=b'{"message": {"type": "hang"}}', method="POST"
            )
            request.add_header("content-type", "application/json")
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as refused:
                assert refused.code == 401
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.1)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    return stderr


def test_info_and_warning_lines_show_with_a_format_under_plain_uvicorn(tmp_path: Path) -> None:
    stderr = _run_uvicorn(tmp_path, _APP)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.search(stamp + r" INFO vapi_receiver: vapi receiver on /vapi", stderr), stderr
    assert re.search(stamp + r" WARNING vapi_receiver: refused with 401", stderr), stderr


def test_logging_the_application_configured_wins(tmp_path: Path) -> None:
    stderr = _run_uvicorn(tmp_path, _CONFIGURED)
    assert "MINE refused with 401" in stderr, stderr
    assert "vapi receiver on /vapi" not in stderr  # INFO stays below the chosen level
    assert "WARNING vapi_receiver" not in stderr
