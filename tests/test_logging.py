"""The receiver's lines are visible and formatted under a plain `uvicorn app:app`."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import free_port

_SECRET = "s3cret-value-for-tests"
_BODY = b'{"message": {"type": "hang", "call": {"id": "call-1f2e"}}}'
_APP = textwrap.dedent(
    f"""
    from receiver import Receiver

    receiver = Receiver(config={{"org": {{"secret": "{_SECRET}"}}}})
    app = receiver.app
    """
)
_JSON_APP = _APP.replace("}})", "}}, log_format='json')")
_CONFIGURED = _APP.replace(
    "from receiver import Receiver",
    "import logging\nlogging.basicConfig(level=logging.WARNING, format='MINE %(message)s')\n"
    "from receiver import Receiver",
)


def _run_uvicorn(tmp_path: Path, app_source: str, *options: str) -> tuple[str, str]:
    """Serve `app_source` with `python -m uvicorn app:app`, post a refused and an accepted
    delivery, stop; what it wrote to stdout (uvicorn's access lines) and to stderr."""
    (tmp_path / "app.py").write_text(app_source)
    port = free_port()
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), *options],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/vapi"
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(url, data=_BODY, method="POST")
            request.add_header("content-type", "application/json")
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as refused:
                assert refused.code == 401
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.1)
        request = urllib.request.Request(url, data=_BODY, method="POST")
        request.add_header("content-type", "application/json")
        request.add_header("x-vapi-secret", _SECRET)
        urllib.request.urlopen(request, timeout=5)
    finally:
        server.terminate()
        stdout, stderr = server.communicate(timeout=30)
    return stdout, stderr


def test_info_and_warning_lines_show_with_a_format_under_plain_uvicorn(tmp_path: Path) -> None:
    _, stderr = _run_uvicorn(tmp_path, _APP)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.search(stamp + r" INFO vapi_receiver: vapi receiver on /vapi", stderr), stderr
    assert re.search(stamp + r" WARNING vapi_receiver: refused with 401", stderr), stderr


def test_uvicorns_log_level_quiets_the_receivers_lines_too(tmp_path: Path) -> None:
    _, stderr = _run_uvicorn(tmp_path, _APP, "--log-level", "warning")
    assert "WARNING vapi_receiver: refused with 401" in stderr, stderr
    assert "INFO vapi_receiver" not in stderr  # no line per answer on a quiet server


def test_logging_the_application_configured_wins(tmp_path: Path) -> None:
    _, stderr = _run_uvicorn(tmp_path, _CONFIGURED)
    assert "MINE refused with 401" in stderr, stderr
    assert "vapi receiver on /vapi" not in stderr  # INFO stays below the chosen level
    assert "WARNING vapi_receiver" not in stderr


@pytest.mark.slow
def test_uvicorn_lines_get_the_same_format_once_the_app_starts(tmp_path: Path) -> None:
    stdout, stderr = _run_uvicorn(tmp_path, _APP)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.search(stamp + r" INFO uvicorn.error: Application startup complete", stderr), stderr
    access = stamp + r' INFO uvicorn.access: 127.0.0.1:\d+ - "POST /vapi HTTP/1.1" 401'
    assert re.search(access, stdout), stdout


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.slow
def test_json_lines_under_plain_uvicorn(tmp_path: Path) -> None:
    stdout, stderr = _run_uvicorn(tmp_path, _JSON_APP)
    # uvicorn's first two lines come before the app can set anything up; every line after
    # them is one JSON object with a time, a level and a logger name.
    first, second, *rest = stderr.splitlines()
    assert first.startswith("INFO:     Started server process"), stderr
    assert second == "INFO:     Waiting for application startup.", stderr
    lines = _json_lines("\n".join(rest)) + _json_lines(stdout)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert datetime.datetime.fromisoformat(line["time"]).tzinfo is not None
    answered = next(line for line in lines if line["message"].startswith("answered 200"))
    assert answered["logger"] == "vapi_receiver" and answered["level"] == "INFO"
    assert answered["message_type"] == "hang" and answered["call_id"] == "call-1f2e"
    assert isinstance(answered["latency_ms"], float)
    assert any(line["message"].startswith("refused with 401") for line in lines)
    assert any(line["logger"] == "uvicorn.access" for line in lines)
    assert _SECRET not in stdout + stderr


@pytest.mark.slow
def test_every_line_is_json_with_uvicorns_log_config(tmp_path: Path) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "receiver.JsonLineFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }
    (tmp_path / "logging.json").write_text(json.dumps(config))
    stdout, stderr = _run_uvicorn(tmp_path, _APP, "--log-config", "logging.json")
    lines = _json_lines(stderr)
    assert stdout == ""
    assert lines[0]["message"].startswith("Started server process"), stderr
    assert {line["logger"] for line in lines} >= {
        "uvicorn.error",
        "uvicorn.access",
        "vapi_receiver",
    }
    answered = next(line for line in lines if line["message"].startswith("answered 200"))
    assert answered["call_id"] == "call-1f2e"
