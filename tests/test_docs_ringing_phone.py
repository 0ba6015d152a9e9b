"""The commands of docs/ringing-phone.md, read from the page and run as written.

Buy a number, serve the example app with the number linked to a (stand-in) tunnel, check it
with `send` and `doctor`, stop with SIGTERM and see the number restored, then link it to a
"deployed" receiver. Vapi's API is the stand-in of tests.vapi_stand_in; `cloudflared` is the
stand-in of test_cli_serve.py, which prints the very tunnel URL the page shows.

Only what cannot be the same here is replaced: the number's id (Vapi picks it; the page shows
an example), port 8000 (taken on a shared machine), and the deployed receiver's address (a
local one here).
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from tests.live_server import free_port, live_server
from tests.test_cli_serve import CLOUDFLARED_OUTPUT, Serving, stand_in
from tests.vapi_stand_in import API_KEY, StandInVapi

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "ringing-phone.md"
EXAMPLE_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
DEPLOYED = "https://receiver.example.com/vapi"
TUNNEL = "https://tender-river-quiet-moon.trycloudflare.com"


def page_commands(anchor: str) -> list[str]:
    """The command lines of the first bash block after the heading `{ #anchor }`."""
    lines = PAGE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(f"{{ #{anchor} }}"))
    begin = next(i for i in range(start, len(lines)) if lines[i].strip() == "```bash")
    end = next(i for i in range(begin + 1, len(lines)) if lines[i].strip() == "```")
    return [line for line in lines[begin + 1 : end] if line.strip()]


def test_the_pages_commands_are_complete_lines() -> None:
    three = page_commands("three-commands")
    assert len(three) == 3, "three commands, as the page says"
    assert all(not line.endswith("\\") for line in three)
    assert TUNNEL in CLOUDFLARED_OUTPUT[3], "the stand-in tunnel prints the page's URL"


class Background(Serving):
    """A `vapi-receiver` command left running, in the shell's own environment (Serving drops
    the receiver's variables, which the page sets on purpose)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receiver", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = queue.Queue()
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()


class Shell:
    """Runs page lines the way a user's shell would, in one directory and environment."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.replace: dict[str, str] = {}

    def substituted(self, line: str) -> str:
        for old, new in self.replace.items():
            line = line.replace(old, new)
        return line

    def words(self, line: str) -> list[str]:
        return shlex.split(self.substituted(line), comments=True)

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        words = self.words(line)
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return subprocess.CompletedProcess(words, 0, "", "")
        if words[0] == "vapi-receiver":
            argv = [sys.executable, "-m", "receiver", *words[1:]]
        else:  # curl: through bash, for the page's ${VAPI_API_URL:-...} and > redirection
            argv = ["bash", "-c", self.substituted(line)]
        return subprocess.run(
            argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=120
        )

    def ok(self, line: str) -> str:
        result = self.run(line)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{line}\n{output}"
        assert API_KEY not in output
        return output


@pytest.mark.slow  # three subprocesses and a stand-in tunnel
def test_zero_to_a_ringing_phone(tmp_path: Path) -> None:
    vapi = StandInVapi()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(bin_dir, "cloudflared", CLOUDFLARED_OUTPUT, stream="stderr")
    with live_server(vapi.app) as api_url:
        env = dict(
            os.environ,
            VAPI_API_KEY=API_KEY,
            VAPI_API_URL=api_url,
            XDG_STATE_HOME=str(tmp_path / "state"),
            PYTHONPATH=str(ROOT),  # example_app.py and its handlers package
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        shell = Shell(tmp_path, env)
        buy, export, serve = page_commands("three-commands")

        bought = shell.ok(buy)
        number_id = re.search(r"phone number id (\S+)", bought)
        assert number_id is not None, bought
        pn = number_id.group(1)
        config = tomllib.loads((tmp_path / "vapi.toml").read_text())
        secret = config["phone_numbers"][pn]["secret"]
        assert secret not in bought
        assert vapi.get("phone-number", pn)["serverUrlSecret"] == secret

        shell.ok(export)
        port = free_port()
        shell.replace = {EXAMPLE_ID: pn, "8000": str(port)}
        server = Background(shell.words(serve)[1:], tmp_path, shell.env)
        try:
            server.wait_for(f"Linked phone number {pn} to {TUNNEL}/vapi for this session")
            server.wait_for("Uvicorn running on")
            linked = vapi.get("phone-number", pn)
            assert (linked["serverUrl"], linked["serverUrlSecret"]) == (f"{TUNNEL}/vapi", secret)

            sent, _, doctor = (shell.ok(line) for line in page_commands("check"))
            assert (tmp_path / "pn.json").read_text().startswith("{"), "curl saved the object"
            assert "ok: a valid assistant-request answer" in sent
            assert "\n0 errors," in doctor, doctor  # and exit 0: doctor passes

            assert server.stop(signal.SIGTERM) == 0
        finally:
            server.close()
        restored = vapi.get("phone-number", pn)
        assert (restored.get("serverUrl"), restored["serverUrlSecret"]) == (None, secret)
        assert not any((tmp_path / "state").rglob("*.json")), "the session's state is gone"

        deployed_port = free_port()
        argv = ["serve", "example_app:app", "--port", str(deployed_port)]
        deployed = Background(argv, tmp_path, shell.env)
        try:
            deployed.wait_for("Uvicorn running on")
            local = f"http://127.0.0.1:{deployed_port}/vapi"
            shell.replace[DEPLOYED] = local
            (link,) = page_commands("deployed")
            output = shell.ok(link)
            assert "ok: acknowledged (200)" in output
        finally:
            deployed.stop()
        final = vapi.get("phone-number", pn)
        assert (final["serverUrl"], final["serverUrlSecret"]) == (local, secret)
