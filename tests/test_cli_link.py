"""`vapi-receiver link` against a stand-in Vapi API served by uvicorn (`tests.vapi_stand_in`).

Each test checks what a user relies on: what Vapi is sent, what the configuration file says
afterwards (and that nothing else in it changed), and that the secret and the API key are
never printed.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver import Receiver
from receiver.cli import main
from tests.live_server import free_port, live_server
from tests.vapi_stand_in import API_KEY, ORG_ID, StandInVapi, phone_number

PN = "pn-7a1e0c52"
ASSISTANT = "asst-3b9d2f10"
OLD_SECRET = "old-secret-kept-in-vapi-1234"


@pytest.fixture
def vapi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StandInVapi]:
    stand_in = StandInVapi()
    with live_server(stand_in.app) as url:
        monkeypatch.setenv("VAPI_API_KEY", API_KEY)
        monkeypatch.setenv("VAPI_API_URL", url)
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        yield stand_in


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "vapi.toml"


def link(*argv: str) -> int:
    return main(["link", *argv])


def secret_in(path: Path, *table: str) -> str:
    data: Any = tomllib.loads(path.read_text())
    for key in table:
        data = data[key]
    value: str = data["secret"]
    return value


def quiet(capsys: pytest.CaptureFixture[str], *secrets: str) -> str:
    """Everything printed, after checking that no secret and not the API key is in it."""
    out, err = capsys.readouterr()
    for secret in (*secrets, API_KEY):
        assert secret not in out + err
    return out + err


SHAPES = {
    "legacy": (
        {"serverUrl": "https://old.example.com/vapi", "serverUrlSecret": OLD_SECRET},
        lambda obj: (obj["serverUrl"], obj["serverUrlSecret"]),
    ),
    "server with a secret header": (
        {
            "server": {
                "url": "https://old.example.com/vapi",
                "timeoutSeconds": 30,
                "headers": {"X-Vapi-Secret": OLD_SECRET, "x-team": "support"},
            }
        },
        lambda obj: (obj["server"]["url"], obj["server"]["headers"]["x-vapi-secret"]),
    ),
    "server.secret": (
        {"server": {"url": "https://old.example.com/vapi", "secret": OLD_SECRET}},
        lambda obj: (obj["server"]["url"], obj["server"]["secret"]),
    ),
    "no server yet": (
        {},
        lambda obj: (obj["server"]["url"], obj["server"]["headers"]["x-vapi-secret"]),
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_link_sets_the_url_and_a_new_secret_in_the_shape_the_object_has(
    shape: str, vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields, read = SHAPES[shape]
    vapi.add("phone-number", phone_number(PN, **fields))
    url = "https://receiver.example.com/vapi"

    assert link("--phone-number", PN, "--url", url, "--config", str(config), "--no-check") == 0

    obj = vapi.get("phone-number", PN)
    sent_url, sent_secret = read(obj)
    assert sent_url == url
    assert sent_secret == secret_in(config, "phone_numbers", PN) != OLD_SECRET
    assert len(sent_secret) >= 43, "32 random bytes"
    (patch,) = vapi.writes()
    assert patch.body["provider"] == "vapi", "Vapi's update schema is chosen by provider"
    if shape == "legacy":
        assert set(patch.body) == {"provider", "serverUrl", "serverUrlSecret"}
    else:
        assert set(patch.body) == {"provider", "server"}
    if shape == "server with a secret header":  # the rest of `server` is kept
        assert obj["server"]["timeoutSeconds"] == 30
        assert obj["server"]["headers"] == {"x-team": "support", "x-vapi-secret": sent_secret}
    out = quiet(capsys, sent_secret)
    assert f'Linked phone number {PN} ("Support line") to {url}' in out
    assert f"The secret is in [phone_numbers.{PN}] of {config}" in out
    assert stat.S_IMODE(config.stat().st_mode) == 0o600, "a new file holding secrets"


def test_comments_and_layout_of_the_config_survive(
    vapi: StandInVapi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vapi.add("phone-number", phone_number(PN))
    original = (
        "# Receiver for the support line.\n"
        "[org]      # every message not claimed below\n"
        "secrets = [ 'current-org-secret',   \"previous-org-secret\" ]  # rotating\n"
        "\n\n"
        "[phone_numbers.pn-7a1e0c52]   # the support line\n"
        'secret = "before-link-secret-0000"   # set by hand\n'
        "\n"
        "[assistants]\n"
        "asst-3b9d2f10.secret = 'riley'\n"
        "\n"
        "[receiver]\r\n"  # one odd line ending, kept as it is
        "tool_timeout = 12.5\n"
    )
    real = tmp_path / "config" / "real.toml"
    real.parent.mkdir()
    real.write_bytes(original.encode())
    real.chmod(0o640)
    config = tmp_path / "vapi.toml"
    config.symlink_to(real)

    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config), "--no-check") == 0

    assert config.is_symlink(), "the file it points at is updated, not the link replaced"
    new_secret = vapi.get("phone-number", PN)["server"]["headers"]["x-vapi-secret"]
    expected = original.replace("before-link-secret-0000", new_secret)
    assert real.read_bytes().decode() == expected
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.toml"], "no temporary left"
    quiet(capsys, new_secret)


def test_a_new_table_is_added_after_the_others(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vapi.add("assistant", {"id": ASSISTANT, "name": "Riley"})
    config.write_text('[org]\nsecret = "org-secret-value"   # keep me\n')
    url = "https://receiver.example.com/vapi"
    assert link("--assistant", ASSISTANT, "--url", url, "--config", str(config), "--no-check") == 0
    secret = secret_in(config, "assistants", ASSISTANT)
    assert config.read_text() == (
        '[org]\nsecret = "org-secret-value"   # keep me\n\n'
        f'[assistants.{ASSISTANT}]\nsecret = "{secret}"\n'
    )
    quiet(capsys, secret)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unknown", "404 Not Found: Couldn't Find phoneNumber"),
        ("bad key", "401 Unauthorized: Invalid Key. Hot tip"),
        ("refused", "500 Internal Server Error: Internal server error"),
    ],
)
def test_vapis_errors_are_shown_in_its_words_and_nothing_changes(
    setup: str,
    message: str,
    vapi: StandInVapi,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vapi.add("phone-number", phone_number(PN, serverUrl="https://old.example.com/vapi"))
    if setup == "bad key":
        vapi.key = "another-key"
    if setup == "refused":
        vapi.fail_patches = 500
    object_id = "pn-unknown" if setup == "unknown" else PN
    before = "[org]\nsecret = 'org-secret-value'\n"
    config.write_text(before)
    url = "https://receiver.example.com/vapi"

    assert link("--phone-number", object_id, "--url", url, "--config", str(config)) == 1

    assert config.read_text() == before
    assert [p.name for p in config.parent.iterdir() if p.name != "state"] == ["vapi.toml"]
    assert vapi.get("phone-number", PN)["serverUrl"] == "https://old.example.com/vapi"
    err = quiet(capsys)
    assert message in err
    assert all(r.authorization == f"Bearer {API_KEY}" for r in vapi.requests)


def test_no_api_key_is_a_usage_error(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 2
    assert "set $VAPI_API_KEY to your Vapi private API key" in capsys.readouterr().err
    assert not config.exists()


def test_a_key_with_a_line_break_is_refused_without_showing_it(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VAPI_API_KEY", "first-half-of-the-key\nsecond-half-of-it")
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert "holds spaces or control characters" in err
    assert "half" not in err


def test_the_key_never_travels_over_plain_http_to_another_host(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VAPI_API_KEY", API_KEY)
    monkeypatch.setenv("VAPI_API_URL", "http://api.example.com")
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 2
    assert "plain http: the API key would travel unencrypted" in quiet(capsys)


def test_an_unreachable_api_changes_nothing(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VAPI_API_KEY", API_KEY)
    monkeypatch.setenv("VAPI_API_URL", f"http://127.0.0.1:{free_port()}")
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 1
    assert "no answer from Vapi" in quiet(capsys)
    assert list(config.parent.iterdir()) == []


def test_an_answer_lost_after_vapi_applied_the_change_still_writes_the_config(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vapi.add("phone-number", phone_number(PN))
    vapi.stall_patches_s = 2.0  # applied at once, answered after the client gave up
    url = "https://receiver.example.com/vapi"
    argv = ["--phone-number", PN, "--url", url, "--config", str(config), "--no-check"]
    assert link(*argv, "--timeout", "0.5") == 0
    secret = vapi.get("phone-number", PN)["server"]["headers"]["x-vapi-secret"]
    assert secret_in(config, "phone_numbers", PN) == secret, "Vapi and the file agree"
    quiet(capsys, secret)


def test_a_custom_credential_is_left_alone_unless_replacing_it_is_asked_for(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = {"url": "https://old.example.com/vapi", "credentialId": "cred-55aa"}
    vapi.add("phone-number", phone_number(PN, server=server))
    url = "https://receiver.example.com/vapi"
    argv = ["--phone-number", PN, "--url", url, "--config", str(config), "--no-check"]

    assert link(*argv) == 1
    err = quiet(capsys)
    assert "authenticates its messages with credential cred-55aa" in err
    assert "--replace-credential" in err
    assert vapi.writes() == [] and not config.exists()

    assert link(*argv, "--replace-credential") == 0
    obj = vapi.get("phone-number", PN)
    assert "credentialId" not in obj["server"]
    assert obj["server"]["headers"]["x-vapi-secret"] == secret_in(config, "phone_numbers", PN)
    quiet(capsys, obj["server"]["headers"]["x-vapi-secret"])


def test_a_hidden_credential_is_never_sent_back_as_redacted(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"x-vapi-secret": "[REDACTED]", "Authorization": "[REDACTED]"}
    vapi.add(
        "phone-number", phone_number(PN, server={"url": "https://a.example", "headers": headers})
    )
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 1
    err = capsys.readouterr().err
    assert f"hides server.headers.Authorization of phone number {PN} as [REDACTED]" in err
    assert "x-vapi-secret" not in err, "that one is replaced, so its value does not matter"
    assert vapi.writes() == [] and not config.exists()


def test_keep_secret_reuses_the_configured_secret_and_the_check_passes(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vapi.add("assistant", {"id": ASSISTANT, "name": "Riley", "serverUrl": "https://x.example"})
    config.write_text(f"[assistants.{ASSISTANT}]\nsecret = '{OLD_SECRET}'\n")
    before = config.read_text()
    with live_server(Receiver(config=str(config)).app) as base:
        url = f"{base}/vapi"
        assert (
            link("--assistant", ASSISTANT, "--url", url, "--config", str(config), "--keep-secret")
            == 0
        )
    obj = vapi.get("assistant", ASSISTANT)
    assert (obj["serverUrl"], obj["serverUrlSecret"]) == (url, OLD_SECRET)
    assert config.read_text() == before
    out = quiet(capsys, OLD_SECRET)
    assert f'x-vapi-secret ****1234 (assistant "{ASSISTANT}")' in out
    assert "ok: acknowledged (200)" in out
    assert "note: the URL is plain http" in out


def test_a_failed_check_says_so_and_leaves_the_link_in_place(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vapi.add("phone-number", phone_number(PN))
    config.write_text(f"[phone_numbers.{PN}]\nsecret = '{OLD_SECRET}'\n")
    with live_server(Receiver(config=str(config)).app) as base:  # knows only the old secret
        url = f"{base}/vapi"
        assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 1
    secret = secret_in(config, "phone_numbers", PN)
    assert vapi.get("phone-number", PN)["server"] == {
        "url": url,
        "headers": {"x-vapi-secret": secret},
    }
    err = quiet(capsys, secret)
    assert "401" in err
    assert "The link is in place, but the check failed" in err
    assert f"restart it so that it reads {config}" in err


def test_the_org_is_found_from_the_key_and_its_table_is_org(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vapi.add("org", {"id": ORG_ID, "name": "Acme", "server": {"url": "https://a.example/v"}})
    url = "https://receiver.example.com/vapi"
    assert link("--org", "--url", url, "--config", str(config), "--no-check") == 0
    secret = secret_in(config, "org")
    assert vapi.get("org", ORG_ID)["server"]["headers"] == {"x-vapi-secret": secret}
    quiet(capsys, secret)
    # An org keyed by id in the file keeps that table.
    config.write_text(f"[orgs.{ORG_ID}]\nsecret = 'x'\n")
    assert link("--org", ORG_ID, "--url", url, "--config", str(config), "--no-check") == 0
    assert "org" not in tomllib.loads(config.read_text())
    quiet(capsys, secret_in(config, "orgs", ORG_ID))


def test_buy_sends_the_documented_shape_and_writes_the_numbers_table(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--buy", "--area-code", "415", "--name", "Support line", "--config", str(config)]
    assert link(*argv, "--assistant-id", ASSISTANT) == 0
    (buy,) = vapi.writes()
    assert buy.path == "/phone-number/buy"
    assert set(buy.body) == {"areaCode", "name", "assistantId", "serverUrlSecret"}
    assert (buy.body["areaCode"], buy.body["name"]) == ("415", "Support line")
    ((_, number_id),) = vapi.objects
    assert secret_in(config, "phone_numbers", number_id) == buy.body["serverUrlSecret"]
    out = quiet(capsys, buy.body["serverUrlSecret"])
    assert f'Bought +14155550100: phone number id {number_id} ("Support line")' in out
    assert f"--tunnel cloudflared --link {number_id}" in out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--area-code", "41"], "--area-code must be exactly 3 digits"),
        (["--area-code", "4155"], "--area-code must be exactly 3 digits"),
        (["--area-code", "4a5"], "--area-code must be exactly 3 digits"),
        (["--area-code", "415", "--name", "x" * 41], "Vapi allows at most 40"),
        (["--area-code", "415", "--keep-secret"], "--buy takes no --keep-secret"),
        ([], "--buy needs --area-code"),
    ],
)
def test_buy_checks_vapis_limits_before_calling(
    options: list[str],
    message: str,
    vapi: StandInVapi,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert link("--buy", *options, "--config", str(config)) == 2
    assert message in capsys.readouterr().err
    assert vapi.requests == [] and not config.exists()


def test_the_stand_in_checks_the_limits_too(vapi: StandInVapi) -> None:
    """What `--buy` checks first is what Vapi refuses: the stand-in says so in Vapi's words."""
    from receiver.cli._vapi_api import ApiError, VapiApi

    with VapiApi(API_KEY, os.environ["VAPI_API_URL"]) as api:
        with pytest.raises(ApiError, match="areaCode must be shorter than or equal to 3"):
            api.buy_phone_number({"areaCode": "4155"})
        with pytest.raises(ApiError, match="name must be shorter than or equal to 40"):
            api.buy_phone_number({"areaCode": "415", "name": "x" * 41})
        with pytest.raises(ApiError, match="property serverSecret should not exist"):
            api.buy_phone_number({"areaCode": "415", "serverSecret": "x"})
        assert "key=****" in repr(api) and API_KEY not in repr(api)


def test_ids_are_checked_before_anything_is_sent(
    vapi: StandInVapi, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", "../../etc/passwd", "--url", url) == 2
    assert "is not an id" in capsys.readouterr().err
    assert vapi.requests == []


def test_restore_without_a_session_has_nothing_to_do(
    vapi: StandInVapi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert link("--restore", "--phone-number", PN) == 0
    assert "Nothing to restore" in capsys.readouterr().out


def test_every_other_command_works_without_the_link_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    monkeypatch.setitem(sys.modules, "httpx2", None)  # import httpx2 now fails
    monkeypatch.setitem(sys.modules, "tomlkit", None)
    monkeypatch.setenv("VAPI_API_KEY", API_KEY)
    assert main(["send", "--list"]) == 0
    url = "https://receiver.example.com/vapi"
    assert link("--phone-number", PN, "--url", url, "--config", str(config)) == 2
    assert "pip install 'vapi-receiver[link]'" in capsys.readouterr().err
