"""`vapi-receiver serve --tunnel cloudflared --link ID`: the number follows the session.

`serve` runs in a subprocess behind a stand-in `cloudflared` (as in test_cli_serve.py), and
talks to the stand-in Vapi API (tests.vapi_stand_in) served by uvicorn in this process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from receiver.cli import main
from tests.live_server import free_port, live_server
from tests.test_cli_serve import CLOUDFLARED_OUTPUT, Serving, stand_in
from tests.vapi_stand_in import API_KEY, StandInVapi, phone_number

PN = "pn-7a1e0c52"
SECRET = "receiver-secret-for-pn-5150"
PUBLIC = "https://tender-river-quiet-moon.trycloudflare.com"
PRODUCTION = {"url": "https://prod.example.com/vapi", "headers": {"x-vapi-secret": "prod-9876"}}

APP = f"""
from receiver import Receiver

receiver = Receiver(config={{"phone_numbers": {{"{PN}": {{"secret": "{SECRET}"}}}}}})
app = receiver.app
"""


@pytest.fixture
def vapi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StandInVapi]:
    stand_in = StandInVapi()
    with live_server(stand_in.app) as url:
        monkeypatch.setenv("VAPI_API_KEY", API_KEY)
        monkeypatch.setenv("VAPI_API_URL", url)
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        yield stand_in


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "my_app.py").write_text(APP)
    (tmp_path / "bin").mkdir()
    return tmp_path


@pytest.fixture
def serving() -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for server in started:
        server.close()


def serve(
    app_dir: Path, serving: list[Serving], *extra: str, then_exit_after: float | None = None
) -> Serving:
    """`serve --link PN` behind a stand-in cloudflared (which exits after a while if asked)."""
    if then_exit_after is None:
        stand_in(app_dir / "bin", "cloudflared", CLOUDFLARED_OUTPUT, stream="stderr")
    else:
        script = app_dir / "bin" / "cloudflared"
        script.write_text(
            f"#!{sys.executable}\nimport sys, time\n"
            f"for line in {CLOUDFLARED_OUTPUT!r}:\n    print(line, file=sys.stderr, flush=True)\n"
            f"time.sleep({then_exit_after})\n"
            "print('ERR connection to the edge lost', file=sys.stderr)\nsys.exit(1)\n"
        )
        script.chmod(0o755)
    argv = ["my_app:app", "--port", str(free_port()), "--tunnel", "cloudflared", "--link", PN]
    server = Serving([*argv, *extra], app_dir, app_dir / "bin")
    serving.append(server)
    return server


def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "vapi-receiver" / "links" / f"phone-number-{PN}.json"


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_url_serve_did_not_set_is_not_taken_over(
    vapi: StandInVapi,
    app_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vapi.add("phone-number", phone_number(PN, server=PRODUCTION))
    monkeypatch.chdir(app_dir)
    monkeypatch.syspath_prepend(str(app_dir))
    argv = ["serve", "my_app:app", "--tunnel", "cloudflared", "--link", PN]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"phone number {PN} points at https://prod.example.com/vapi, which no " in err
    assert "Pass --force" in err
    assert vapi.writes() == []


def test_a_number_another_live_session_holds_is_refused(
    vapi: StandInVapi,
    app_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vapi.add("phone-number", phone_number(PN, server={"url": f"{PUBLIC}/vapi"}))
    state = {
        "api": os.environ["VAPI_API_URL"],
        "kind": "phone-number",
        "id": PN,
        "url": f"{PUBLIC}/vapi",
        "restore": {"server": PRODUCTION},
        "pid": os.getppid(),  # alive, and not this process
        "started": "2025-06-01T12:00:00+00:00",
    }
    state_file(tmp_path).parent.mkdir(parents=True)
    state_file(tmp_path).write_text(json.dumps(state))
    monkeypatch.chdir(app_dir)
    monkeypatch.syspath_prepend(str(app_dir))
    assert main(["serve", "my_app:app", "--tunnel", "cloudflared", "--link", PN]) == 2
    assert f"is linked by another vapi-receiver session (pid {os.getppid()}" in (
        capsys.readouterr().err
    )
    assert vapi.writes() == []


def test_link_needs_a_tunnel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "my_app:app", "--link", PN]) == 2
    assert "--link needs --tunnel" in capsys.readouterr().err


@pytest.mark.slow  # serve in a subprocess
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_forced_takeover_is_restored_on_exit(
    sig: int, vapi: StandInVapi, app_dir: Path, tmp_path: Path, serving: list[Serving]
) -> None:
    vapi.add("phone-number", phone_number(PN, server={**PRODUCTION, "timeoutSeconds": 25}))
    server = serve(app_dir, serving, "--force")
    server.wait_for(f"Linked phone number {PN} to {PUBLIC}/vapi for this session")
    server.wait_for("Uvicorn running on")
    assert vapi.get("phone-number", PN)["server"] == {
        "url": f"{PUBLIC}/vapi",
        "timeoutSeconds": 25,
        "headers": {"x-vapi-secret": SECRET},
    }
    assert state_file(tmp_path).exists()
    assert server.stop(sig) == 0
    assert vapi.get("phone-number", PN)["server"] == {**PRODUCTION, "timeoutSeconds": 25}
    output = server.rest()
    assert f"Restored phone number {PN} to https://prod.example.com/vapi" in output
    assert not state_file(tmp_path).exists()
    for secret in (SECRET, "prod-9876", API_KEY):
        assert secret not in output


@pytest.mark.slow  # serve in a subprocess
def test_the_tunnel_dying_restores_the_number(
    vapi: StandInVapi, app_dir: Path, serving: list[Serving]
) -> None:
    vapi.add("phone-number", phone_number(PN))  # no URL yet: free to take
    server = serve(app_dir, serving, then_exit_after=3)
    server.wait_for("Uvicorn running on")
    assert vapi.get("phone-number", PN)["server"]["url"] == f"{PUBLIC}/vapi"
    assert server.process.wait(30) == 1
    output = server.rest()
    assert "cloudflared exited; the server was stopped" in output
    assert "server" not in vapi.get("phone-number", PN), "restored to no server at all"


@pytest.mark.slow  # serve in a subprocess
def test_a_failed_restore_says_exactly_what_to_restore(
    vapi: StandInVapi, app_dir: Path, tmp_path: Path, serving: list[Serving]
) -> None:
    vapi.add(
        "phone-number",
        phone_number(PN, serverUrl="https://prod.example.com/vapi", serverUrlSecret="prod-9876"),
    )
    server = serve(app_dir, serving, "--force")
    server.wait_for("Uvicorn running on")
    vapi.fail_patches = 503
    assert server.stop(signal.SIGTERM) == 0
    output = server.rest()
    assert f"could not restore phone number {PN}: PATCH" in output
    assert "503 Service Unavailable: Internal server error" in output
    assert f"  vapi-receiver link --restore --phone-number {PN}" in output
    assert (
        '{"provider": "vapi", "serverUrl": "https://prod.example.com/vapi", '
        '"serverUrlSecret": "****"}' in output
    )
    assert "prod-9876" not in output
    saved = json.loads(state_file(tmp_path).read_text())
    assert saved["restore"]["serverUrlSecret"] == "prod-9876"
    assert oct(state_file(tmp_path).stat().st_mode & 0o777) == "0o600"

    vapi.fail_patches = None
    assert main(["link", "--restore", "--phone-number", PN]) == 0
    obj = vapi.get("phone-number", PN)
    assert (obj["serverUrl"], obj["serverUrlSecret"]) == (
        "https://prod.example.com/vapi",
        "prod-9876",
    )
    assert not state_file(tmp_path).exists()


@pytest.mark.slow  # two serve subprocesses and a kill -9
def test_a_session_that_died_is_finished_by_the_next(
    vapi: StandInVapi, app_dir: Path, tmp_path: Path, serving: list[Serving]
) -> None:
    vapi.add("phone-number", phone_number(PN, server=PRODUCTION))
    first = serve(app_dir, serving, "--force")
    first.wait_for("Uvicorn running on")
    first.process.kill()  # no chance to restore
    first.process.wait(10)
    pid = int((app_dir / "bin" / "cloudflared.pid").read_text().split()[0])
    os.kill(pid, signal.SIGTERM)  # its orphaned tunnel
    assert vapi.get("phone-number", PN)["server"]["url"] == f"{PUBLIC}/vapi"

    second = serve(app_dir, serving)  # no --force: the URL is one a session set
    second.wait_for("set by an earlier session")
    second.wait_for("Uvicorn running on")
    assert second.stop(signal.SIGTERM) == 0
    assert vapi.get("phone-number", PN)["server"] == PRODUCTION, "not the dead tunnel's URL"
    assert not state_file(tmp_path).exists()


@pytest.mark.slow  # serve in a subprocess
def test_a_change_made_during_the_session_is_not_overwritten(
    vapi: StandInVapi, app_dir: Path, serving: list[Serving]
) -> None:
    vapi.add("phone-number", phone_number(PN))
    server = serve(app_dir, serving)
    server.wait_for("Uvicorn running on")
    colleague = {"url": "https://colleague.example.com/vapi"}
    vapi.get("phone-number", PN)["server"] = colleague
    assert server.stop(signal.SIGTERM) == 0
    assert "someone changed it meanwhile, so it is left as it is" in server.rest()
    assert vapi.get("phone-number", PN)["server"] == colleague


@pytest.mark.slow  # serve in a subprocess
def test_sigterm_during_the_patch_still_restores(
    vapi: StandInVapi, app_dir: Path, tmp_path: Path, serving: list[Serving]
) -> None:
    vapi.add("phone-number", phone_number(PN, server=PRODUCTION))
    vapi.stall_patches_s = 2.0
    server = serve(app_dir, serving, "--force")
    wait_until(lambda: any(r.method == "PATCH" for r in vapi.requests))
    server.process.send_signal(signal.SIGTERM)  # while Vapi is still answering the PATCH
    assert server.process.wait(30) == 1
    output = server.rest()
    assert "interrupted" in output
    assert f"Restored phone number {PN} to https://prod.example.com/vapi" in output
    assert vapi.get("phone-number", PN)["server"] == PRODUCTION
    assert not state_file(tmp_path).exists()
