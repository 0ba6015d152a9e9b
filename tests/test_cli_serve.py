"""`vapi-receiver serve`: uvicorn underneath, tunnels through stand-in ngrok/cloudflared programs.

Each stand-in is an executable of that name placed first on PATH that prints its public URL
the way the real program does, writes its pid to a file, and then waits to be stopped.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from receiver.cli import main
from receiver.locate import LocateError, locate
from tests.live_server import free_port

SECRET = "serve-org-secret-7777"

APP = f"""
from receiver import Receiver

receiver = Receiver(config={{"org": {{"secret": "{SECRET}"}}}})

@receiver.tool
def lookup_order(order_id: str) -> str:
    return "shipped"

app = receiver.app
"""

# What the real programs print (ngrok 3: JSON log lines on stdout; cloudflared: a banner on
# stderr among its INF lines).
NGROK_OUTPUT = [
    '{"addr":"http://127.0.0.1:8000","lvl":"info","msg":"open config file","t":"2025-06-01"}',
    '{"addr":"http://127.0.0.1:8000","lvl":"info","msg":"started tunnel","name":"command_line",'
    '"obj":"tunnels","t":"2025-06-01T12:00:00Z","url":"https://3f2a-203-0-113-9.ngrok-free.app"}',
]
CLOUDFLARED_OUTPUT = [
    "2025-06-01T12:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...",
    "2025-06-01T12:00:01Z INF +----------------------------------------------------------+",
    "2025-06-01T12:00:01Z INF |  Your quick Tunnel has been created! Visit it at (it may take"
    " some time to be reachable):  |",
    "2025-06-01T12:00:01Z INF |  https://tender-river-quiet-moon.trycloudflare.com          |",
    "2025-06-01T12:00:01Z INF +----------------------------------------------------------+",
]


def stand_in(
    directory: Path, name: str, lines: list[str], *, stream: str = "stdout", exit_code: int = -1
) -> Path:
    """An executable `name` that prints `lines`, records its pid and args, then waits (at
    most 60 s) or exits with `exit_code` when that is not -1."""
    pid_file = directory / f"{name}.pid"
    script = directory / name
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import os, sys, time
            with open({str(pid_file)!r}, "w") as f:
                f.write(str(os.getpid()) + "\\n" + " ".join(sys.argv[1:]))
            for line in {lines!r}:
                print(line, file=sys.{stream}, flush=True)
            if {exit_code} != -1:
                sys.exit({exit_code})
            time.sleep(60)
            """
        )
    )
    script.chmod(0o755)
    return pid_file


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Serving:
    """A `vapi-receiver serve` subprocess whose output is read line by line, bounded."""

    def __init__(self, argv: list[str], cwd: Path, path_dir: Path | None) -> None:
        env = dict(os.environ)
        if path_dir is not None:
            env["PATH"] = f"{path_dir}{os.pathsep}{env.get('PATH', '')}"
        env.pop("VAPI_SERVER_SECRET", None)
        env.pop("VAPI_RECEIVER_CONFIG", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, seconds: float = 20) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed; output so far:\n" + "\n".join(self.seen))

    def rest(self) -> str:
        """Everything printed, once the process has ended."""
        while (line := self.lines.get(timeout=10)) is not None:
            self.seen.append(line)
        return "\n".join(self.seen)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(15)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.reader.join(5)
        if self.process.stdout is not None and not self.reader.is_alive():
            self.process.stdout.close()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "my_app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


@pytest.fixture
def serving() -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for server in started:  # never leave a server behind, whatever the test did
        server.close()


def health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        status: int = response.status
        return status


@pytest.mark.slow  # `vapi-receiver serve` in a subprocess
@pytest.mark.parametrize(
    ("program", "lines", "stream", "public"),
    [
        ("ngrok", NGROK_OUTPUT, "stdout", "https://3f2a-203-0-113-9.ngrok-free.app"),
        (
            "cloudflared",
            CLOUDFLARED_OUTPUT,
            "stderr",
            "https://tender-river-quiet-moon.trycloudflare.com",
        ),
    ],
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_tunnel_url_is_printed_and_the_tunnel_stopped_on_exit(
    program: str,
    lines: list[str],
    stream: str,
    public: str,
    sig: int,
    app_dir: Path,
    bin_dir: Path,
    serving: list[Serving],
) -> None:
    pid_file = stand_in(bin_dir, program, lines, stream=stream)
    port = free_port()
    server = Serving(["my_app:app", "--port", str(port), "--tunnel", program], app_dir, bin_dir)
    serving.append(server)
    assert server.wait_for("Server URL for Vapi:") == f"Server URL for Vapi: {public}/vapi"
    json_line = server.wait_for('{"server"')
    assert json_line.strip() == (
        f'{{"server": {{"url": "{public}/vapi", '
        '"headers": {"x-vapi-secret": "<the secret of that level>"}}}'
    )
    assert server.wait_for("org level").split() == ["org", "level", "x-vapi-secret", "****7777"]
    server.wait_for("Uvicorn running on")
    assert health(port) == 200
    pid, arguments = pid_file.read_text().split("\n")
    assert f"127.0.0.1:{port}" in arguments
    assert server.stop(sig) == 0
    assert wait_gone(int(pid)), f"{program} still running after serve exited"
    assert SECRET not in server.rest()


@pytest.mark.slow  # `vapi-receiver serve` in a subprocess
def test_without_a_tunnel_it_says_how_to_expose_the_server(
    app_dir: Path, serving: list[Serving]
) -> None:
    port = free_port()
    server = Serving(["my_app:receiver", "--port", str(port)], app_dir, None)
    serving.append(server)
    line = server.wait_for("Serving my_app:receiver")
    assert f"http://127.0.0.1:{port}/vapi" in line
    server.wait_for(f"vapi-receiver serve my_app:receiver --port {port} --tunnel ngrok")
    server.wait_for(
        "Try it: vapi-receiver send tool-calls --tool lookup_order --args "
        f'\'{{"order_id": "example"}}\' --url http://127.0.0.1:{port}/vapi'
    )
    server.wait_for("Uvicorn running on")
    assert health(port) == 200
    assert "no valid credential for org level" in refusal(port), "serve is for development"
    assert server.stop() == 0


def refusal(port: int) -> str:
    """The 401 answer to a status-update without a credential."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/vapi",
        data=b'{"message": {"type": "status-update"}}',
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    error: str = json.loads(refused.value.read())["error"]
    return error


@pytest.fixture
def in_app_dir(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app directory as the working directory, with `my_app` imported afresh."""
    monkeypatch.chdir(app_dir)
    monkeypatch.syspath_prepend(str(app_dir))
    sys.modules.pop("my_app", None)
    yield app_dir
    sys.modules.pop("my_app", None)


def test_a_missing_tunnel_program_is_a_usage_error(
    in_app_dir: Path,
    bin_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(bin_dir))  # holds no ngrok
    assert main(["serve", "my_app:receiver", "--tunnel", "ngrok"]) == 2
    assert "ngrok is not on PATH; install it from https://ngrok.com/download" in (
        capsys.readouterr().err
    )


def test_a_tunnel_that_exits_shows_its_output(
    in_app_dir: Path,
    bin_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = (
        '{"err":"authentication failed: Usage of ngrok requires a verified account","lvl":"eror"}'
    )
    stand_in(bin_dir, "ngrok", [error], exit_code=1)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert main(["serve", "my_app:receiver", "--tunnel", "ngrok"]) == 1
    err = capsys.readouterr().err
    assert "ngrok exited with code 1; its last output:" in err
    assert "authentication failed" in err


@pytest.mark.slow  # waits out a stand-in tunnel process
def test_a_tunnel_that_names_no_url_is_stopped_after_the_wait(
    in_app_dir: Path,
    bin_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid_file = stand_in(bin_dir, "cloudflared", ["INF Starting tunnel"])
    monkeypatch.setenv("PATH", str(bin_dir))
    argv = ["serve", "my_app:receiver", "--tunnel", "cloudflared", "--tunnel-wait", "1"]
    assert main(argv) == 1
    assert "cloudflared reported no public URL within 1 s" in capsys.readouterr().err
    assert wait_gone(int(pid_file.read_text().split("\n")[0]))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("my_app", "must be module:attribute"),
        ("no_such_module:app", "no module named 'no_such_module'"),
        ("my_app:nothing", "module 'my_app' has no attribute 'nothing'"),
        ("my_app:SECRET_LIKE", "is a str, not a Receiver or an ASGI app"),
    ],
)
def test_bad_app_names_are_usage_errors(
    spec: str, message: str, in_app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_app_dir / "my_app.py").write_text(APP + 'SECRET_LIKE = "x"\n')
    assert main(["serve", spec]) == 2
    assert message in capsys.readouterr().err


def test_a_busy_port_is_a_usage_error_before_the_app_starts(
    in_app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = in_app_dir / "started"
    (in_app_dir / "my_app.py").write_text(
        f"from pathlib import Path\nPath({str(started)!r}).touch()\n" + APP
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "my_app:receiver", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"vapi-receiver serve: cannot listen on 127.0.0.1:{port}: " in err
    assert "pick --port" in err
    assert not started.exists(), "the app was imported (and could have started) first"


def test_an_app_is_traced_back_to_its_receiver(in_app_dir: Path) -> None:
    found = locate("my_app:app")
    assert found.receiver is not None and found.app is found.receiver.app
    with pytest.raises(LocateError):
        locate(":app")


def test_reload_reimports_the_app_by_name(
    in_app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from receiver.cli.serve import APP_ENV, reload_app

    monkeypatch.setenv(APP_ENV, "my_app:receiver")  # what --reload leaves for uvicorn's child
    app = reload_app()
    assert app is sys.modules["my_app"].receiver.app
    assert sys.modules["my_app"].receiver.core.explain_refusals, "serve is for development"


def test_the_try_it_command_uses_the_apps_own_tool_or_configured_ids() -> None:
    from receiver import Receiver
    from receiver.cli.serve import local_setup
    from receiver.locate import Located

    def try_it(receiver: Receiver) -> str:
        args = SimpleNamespace(app="my_app:receiver", port=8000)
        lines = local_setup(args, "http://h:1", "/vapi", Located(receiver.app, receiver))  # type: ignore[arg-type]
        return next(line for line in lines if line.startswith("Try it: "))

    tools = Receiver(config={"org": {"secret": "s"}})

    @tools.tool
    def book(slot: str, seats: int, note: str = "") -> str:
        return "booked"

    assert try_it(tools) == (
        "Try it: vapi-receiver send tool-calls --tool book --args "
        '\'{"slot": "example", "seats": 1}\' --url http://h:1/vapi'
    )
    assistant_only = Receiver(config={"assistants": {"asst-7": {"secret": "s"}}})
    assert try_it(assistant_only) == (
        "Try it: vapi-receiver send status-update --assistant-id asst-7 --url http://h:1/vapi"
    )


def test_credentials_are_listed_by_level_and_masked() -> None:
    from receiver import Receiver
    from receiver.cli.serve import credential_lines
    from receiver.locate import Located

    receiver = Receiver(
        config={
            "org": {"secret": "short"},
            "tools": {
                "lookup_order": {"secrets": ["tool-secret-new-AAAA", "tool-secret-old-BBBB"]}
            },
        }
    )
    lines = credential_lines(Located(receiver.app, receiver))
    assert lines[1].split() == ["tool", '"lookup_order"', "x-vapi-secret", "****AAAA,", "****BBBB"]
    assert lines[2].split() == ["org", "level", "x-vapi-secret", "****"]  # short: fully masked
    insecure = Receiver(insecure=True)
    assert credential_lines(Located(insecure.app, insecure))[0].startswith("INSECURE")


@pytest.mark.parametrize(
    ("config", "suggested"),
    [
        ({"org": {"secret": "org-secret-abcdefgh"}}, '"headers": {"x-vapi-secret"'),
        (
            {"org": {"credentials": [{"type": "bearer", "token": "tok-abcdefghijkl"}]}},
            '"credentialId"',
        ),
    ],
    ids=["secret", "bearer only"],
)
def test_the_server_json_to_paste_fits_the_levels_credentials(
    config: dict[str, object], suggested: str
) -> None:
    from receiver import Receiver
    from receiver.cli.serve import vapi_setup
    from receiver.locate import Located

    receiver = Receiver(config=config)
    printed = "\n".join(vapi_setup("https://x.example/vapi", Located(receiver.app, receiver)))
    assert suggested in printed
    assert "org-secret-abcdefgh" not in printed and "tok-abcdefghijkl" not in printed
