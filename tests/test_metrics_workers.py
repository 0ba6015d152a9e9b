"""/metrics under `uvicorn --workers 2`: every scrape adds up both workers' counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from receiver.testing import make_message
from tests.live_server import free_port

pytestmark = pytest.mark.slow  # two real worker processes

SECRET = "workers-secret-value"
_APP = textwrap.dedent(
    f"""
    import os

    from receiver import Receiver

    receiver = Receiver(config={{"org": {{"secret": "{SECRET}"}}}}, metrics=True)


    @receiver.tool
    def whoami() -> str:
        return str(os.getpid())


    app = receiver.app
    """
)


def _call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:  # a new connection each time
        answer: bytes = response.read()
        return answer


def _counts(text: str) -> tuple[float, float]:
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    answered = (("outcome", "answered"), ("status", "200"), ("type", "tool-calls"))
    tool = (("outcome", "ok"), ("tool", "whoami"))
    return (
        samples.get(("vapi_receiver_deliveries_total", answered), 0.0),
        samples.get(("vapi_receiver_tool_calls_total", tool), 0.0),
    )


def test_two_workers_share_their_counts_through_the_multiprocess_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(_APP)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    command = [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _call(f"{base}/health")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        headers = {"content-type": "application/json", "x-vapi-secret": SECRET}
        pids: set[str] = set()
        sent = 0
        while len(pids) < 2 or sent < 10:
            envelope = make_message("tool-calls", tool_calls=[("whoami", {})])
            answer = json.loads(_call(f"{base}/vapi", json.dumps(envelope).encode(), headers))
            pids.add(answer["results"][0]["result"])
            sent += 1
            assert sent < 400, f"every request went to one worker: {pids}"
        for _ in range(6):  # each scrape lands on either worker
            assert _counts(_call(f"{base}/metrics").decode()) == (sent, sent)
        assert len(list(directory.glob("counter_*.db"))) >= 2  # one file per worker
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr
