"""`vapi-receiver doctor`: the report, every kind of finding, exit codes, masked secrets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from receiver.cli import main

PUBLIC_URL = "https://abc123.ngrok.app/vapi"
ORG_ID = "5c1f9e2a-8d3b-4c7e-a6f1-0b9d8c7e6f5a"
PHONE_ID = "7a1e0c52-5b7d-4d8e-9f0a-3c2b1a0e9d8c"
ASSISTANT_ID = "3b9d2f10-6c4e-4a8b-b2d1-9e8f7a6b5c4d"
TOOL_ID = "a41c7f9e-0d2b-4e6f-8a1c-3e5d7f9b1a2c"

PHONE_SECRET = "pQ7vX2nL9mK4wR8tZ3e1"
ASSISTANT_SECRET = "aH5jT0yB6cW1sD9fG9a44"
TOOL_SECRET = "tM3kV8uN2xE7rY4hJb385"
ORG_SECRET = "oF6gU1iP4zA9qS2dL5c60"
ROTATED_SECRET = "rW8eC3vB7nM2kJ6hQ0x91"
OTHER_SECRET = "zY4tR9eW1qA5sD8fG2h37"
SECRETS = (PHONE_SECRET, ASSISTANT_SECRET, TOOL_SECRET, ORG_SECRET, ROTATED_SECRET, OTHER_SECRET)

CONFIG = f"""
[org]
secret = "{ORG_SECRET}"

[phone_numbers.{PHONE_ID}]
secret = "{PHONE_SECRET}"

[assistants.{ASSISTANT_ID}]
secret = "{ASSISTANT_SECRET}"

[tools.lookup_order]
secret = "{TOOL_SECRET}"
"""


def bought_phone_number(**changes: Any) -> dict[str, Any]:
    """A legacy Buy Phone Number response: flat serverUrl/serverUrlSecret, no assistant."""
    return {
        "id": PHONE_ID,
        "orgId": ORG_ID,
        "number": "+14155550142",
        "name": "Support line",
        "assistantId": None,
        "serverUrl": PUBLIC_URL,
        "serverUrlSecret": PHONE_SECRET,
        "twilioAccountSid": "AC5f2a9c1e7b3d8f4a6c0e2b9d7f1a3c5e",
        "credentialId": None,
        "createdAt": "2024-10-02T17:21:40.512Z",
        "updatedAt": "2024-10-02T17:21:40.512Z",
    } | changes


def current_phone_number(**changes: Any) -> dict[str, Any]:
    """A phone number as the API returns it today, with its assistant and a `server`."""
    return {
        "id": PHONE_ID,
        "orgId": ORG_ID,
        "provider": "twilio",
        "number": "+14155550142",
        "status": "active",
        "name": "Support line",
        "assistantId": ASSISTANT_ID,
        "server": {"url": PUBLIC_URL, "timeoutSeconds": 20, "secret": PHONE_SECRET},
        "twilioAccountSid": "AC5f2a9c1e7b3d8f4a6c0e2b9d7f1a3c5e",
        "createdAt": "2025-06-11T09:02:13.004Z",
        "updatedAt": "2025-06-11T09:02:13.004Z",
    } | changes


def assistant(**changes: Any) -> dict[str, Any]:
    return {
        "id": ASSISTANT_ID,
        "orgId": ORG_ID,
        "name": "Riley - Support",
        "model": {"provider": "openai", "model": "gpt-4o", "toolIds": [TOOL_ID]},
        "voice": {"provider": "11labs", "voiceId": "sarah"},
        "serverMessages": ["end-of-call-report", "status-update", "tool-calls"],
        "server": {"url": PUBLIC_URL, "timeoutSeconds": 20, "secret": ASSISTANT_SECRET},
        "createdAt": "2025-05-30T12:00:00.000Z",
        "updatedAt": "2025-06-01T08:30:00.000Z",
    } | changes


def tool(**changes: Any) -> dict[str, Any]:
    return {
        "id": TOOL_ID,
        "orgId": ORG_ID,
        "type": "function",
        "function": {"name": "lookup_order", "parameters": {"type": "object"}},
        "server": {"url": PUBLIC_URL, "timeoutSeconds": 20, "secret": TOOL_SECRET},
        "createdAt": "2025-05-30T12:00:00.000Z",
        "updatedAt": "2025-05-30T12:00:00.000Z",
    } | changes


def org(**changes: Any) -> dict[str, Any]:
    return {
        "id": ORG_ID,
        "name": "Acme Support",
        "server": {"url": PUBLIC_URL, "secret": ORG_SECRET},
    } | changes


class Doctor:
    """Runs `vapi-receiver doctor` on files written to a temporary directory."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.count = 0

    def file(self, content: Any, suffix: str = ".json") -> str:
        self.count += 1
        path = self.tmp_path / f"file{self.count}{suffix}"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    def run(
        self,
        *args: str,
        config: str | None = CONFIG,
        phone_numbers: Sequence[Any] = (),
        assistants: Sequence[Any] = (),
        tools: Sequence[Any] = (),
        org: Any = None,
        public_url: str | None = PUBLIC_URL,
    ) -> tuple[int, str, str]:
        argv = ["doctor", *args]
        if config is not None:
            argv += ["--config", self.file(config, ".toml")]
        for option, objects in (
            ("--phone-number", phone_numbers),
            ("--assistant", assistants),
            ("--tool", tools),
        ):
            for obj in objects:
                argv += [option, self.file(obj)]
        if org is not None:
            argv += ["--org", self.file(org)]
        if public_url is not None:
            argv += ["--public-url", public_url]
        code = main(argv)
        out, err = self.capsys.readouterr()
        for secret in SECRETS:
            assert secret not in out + err, "a secret was printed in full"
            windows = {secret[i : i + 5] for i in range(len(secret) - 4)}
            shown = [w for w in windows if w in out + err]
            assert not shown, f"more than 4 characters of a secret were printed: {shown}"
        return code, out, err

    def report(self, **options: Any) -> tuple[int, dict[str, Any]]:
        code, out, _ = self.run("--json", **options)
        return code, json.loads(out)


@pytest.fixture
def doctor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Doctor:
    return Doctor(tmp_path, capsys)


def findings(report: dict[str, Any], severity: str | None = None) -> list[str]:
    return [f["code"] for f in report["findings"] if severity in (None, f["severity"])]


def rows(report: dict[str, Any], scenario: int = 0) -> dict[str, dict[str, Any]]:
    return {
        r["type"] + (f" ({r['tool']})" if r["tool"] else ""): r
        for r in report["scenarios"][scenario]["rows"]
    }


# -- a configuration that matches Vapi's objects ----------------------------------------------


def test_a_matching_setup_passes_and_shows_every_type(doctor: Doctor) -> None:
    code, out, _ = doctor.run(
        phone_numbers=[current_phone_number()],
        assistants=[assistant()],
        tools=[tool()],
        org=org(),
    )
    assert code == 0
    assert "0 errors, 0 warnings" in out
    assert "Requests (Vapi waits for the answer)" in out
    assert "Informational" in out
    for message_type in ("assistant-request", "tool-calls (lookup_order)", "call.artifact.upload"):
        assert message_type in out
    assert "x-vapi-secret ****9a44" in out  # the assistant's, masked


def test_json_report_names_the_winner_vapi_sender_and_server_messages(doctor: Doctor) -> None:
    code, report = doctor.report(
        phone_numbers=[current_phone_number()],
        assistants=[assistant()],
        tools=[tool()],
        org=org(),
    )
    assert code == 0 and report["ok"] is True and report["errors"] == 0
    table = rows(report)
    calls = table["tool-calls (lookup_order)"]
    assert calls["receiver"] == [
        {"level": "tool", "key": "lookup_order", "expects": "x-vapi-secret ****b385"}
    ]
    assert calls["vapi"]["level"] == "tool" and calls["vapi"]["status"] == "here"
    assert (calls["sent"], calls["check"]) == ("yes", "ok")
    status = table["status-update"]
    assert status["receiver"][0]["level"] == "assistant"
    assert (status["sent"], status["check"]) == ("yes", "ok")
    # Not in the assistant's serverMessages: Vapi never sends it.
    assert table["conversation-update"]["sent"] == "no"
    # The number has an assistant, so Vapi never asks for one.
    assert table["assistant-request"]["sent"] == "no"
    # Chat events carry `chat.assistantId`: the assistant is their identity.
    assert table["chat.created"]["receiver"][0]["level"] == "assistant"


def test_without_server_messages_the_default_list_applies(doctor: Doctor) -> None:
    riley = assistant()
    del riley["serverMessages"]
    _, report = doctor.report(assistants=[riley])
    table = rows(report)
    assert table["conversation-update"]["sent"] == "yes"
    assert table["handoff-destination-request"]["sent"] == "yes"
    assert table["transcript"]["sent"] == "no"


def test_final_transcripts_only(doctor: Doctor) -> None:
    riley = assistant(serverMessages=['transcript[transcriptType="final"]'])
    _, report = doctor.report(assistants=[riley])
    assert rows(report)["transcript"]["sent"] == "final only"


def test_only_the_config_still_shows_the_receivers_side(doctor: Doctor) -> None:
    code, report = doctor.report(public_url=None)
    assert code == 0
    table = rows(report)
    assert table["assistant-request"]["receiver"][0]["key"] == PHONE_ID
    assert table["assistant-request"]["check"] == "unknown"
    assert table["tool-calls (lookup_order)"]["receiver"][0]["level"] == "tool"


# -- every kind of finding ---------------------------------------------------------------------


def test_config_secret_differing_from_the_objects_is_an_error(doctor: Doctor) -> None:
    rotated = current_phone_number(server={"url": PUBLIC_URL, "secret": ROTATED_SECRET})
    code, out, _ = doctor.run(phone_numbers=[rotated], assistants=[assistant()])
    assert code == 1
    flat = " ".join(out.split())  # findings are wrapped at 100 columns
    assert f'phone number "{PHONE_ID}" (Support line, +14155550142): its secret differs' in flat
    assert "1 error" in out


def test_a_secret_vapi_sends_to_a_level_the_config_lacks_is_checked_against_the_next(
    doctor: Doctor,
) -> None:
    # The phone number's own secret goes with assistant-request, but vapi.toml only has the
    # org: the receiver demands the org secret and refuses the request.
    only_org = f'[org]\nsecret = "{ORG_SECRET}"\n'
    code, report = doctor.report(config=only_org, phone_numbers=[bought_phone_number()])
    assert code == 1
    assert rows(report)["assistant-request"]["check"] == "differs"
    [finding] = [f for f in report["findings"] if f["code"] == "secret-differs"]
    assert "expects for org level" in finding["message"]
    assert "assistant-request" in finding["message"]


def test_redacted_secret_is_an_error_unless_the_config_has_the_level(doctor: Doctor) -> None:
    redacted = assistant(server={"url": PUBLIC_URL, "secret": "[REDACTED]"})
    without = CONFIG.replace(f"[assistants.{ASSISTANT_ID}]", "[assistants.someone-else]")
    code, report = doctor.report(config=without, assistants=[redacted])
    assert code == 1
    assert "redacted-secret" in findings(report, "error")
    assert rows(report)["status-update"]["check"] == "redacted"
    # Configured by hand: nothing to compare with, which is worth a warning only.
    code, report = doctor.report(assistants=[redacted])
    assert code == 0
    assert findings(report, "warning") == ["redacted-secret"]


def test_level_pointing_elsewhere_is_a_warning(doctor: Doctor) -> None:
    moved = assistant(server={"url": "https://old.example.com/hook", "secret": ASSISTANT_SECRET})
    code, report = doctor.report(assistants=[moved])
    assert code == 0
    assert findings(report) == ["elsewhere"]
    assert rows(report)["status-update"]["vapi"]["status"] == "elsewhere"


def test_level_without_credential_is_an_error(doctor: Doctor) -> None:
    bare = assistant(server={"url": PUBLIC_URL})
    code, report = doctor.report(assistants=[bare])
    assert code == 1
    assert findings(report, "error") == ["no-credential"]


def test_server_url_not_https_is_an_error(doctor: Doctor) -> None:
    plain = "http://abc123.ngrok.app/vapi"
    code, report = doctor.report(
        assistants=[assistant(server={"url": plain, "secret": ASSISTANT_SECRET})],
        public_url=plain,
    )
    assert code == 1
    errors = [f for f in report["findings"] if f["code"] == "not-https"]
    assert {f["subject"] for f in errors} == {
        "--public-url",
        f'assistant "{ASSISTANT_ID}" (Riley - Support)',
    }


def test_configured_entries_no_object_mentions_are_warnings(doctor: Doctor) -> None:
    stale = CONFIG + f'\n[assistants.asst-retired]\nsecret = "{OTHER_SECRET}"\n'
    stale += f'\n[tools.cancel_order]\nsecret = "{OTHER_SECRET}"\n'
    code, report = doctor.report(
        config=stale,
        phone_numbers=[current_phone_number()],
        assistants=[assistant()],
        tools=[tool()],
    )
    assert code == 0
    subjects = [f["subject"] for f in report["findings"] if f["code"] == "not-mentioned"]
    assert any(s.endswith("[assistants.asst-retired]") for s in subjects)
    assert any(s.endswith("[tools.cancel_order]") for s in subjects)
    assert len(subjects) == 2


def test_insecure_mode_is_a_warning_locally_and_an_error_at_a_public_url(doctor: Doctor) -> None:
    insecure = CONFIG + "\n[receiver]\ninsecure = true\n"
    code, report = doctor.report(config=insecure, public_url=None)
    assert (code, findings(report, "warning")) == (0, ["insecure"])
    code, report = doctor.report(config=insecure)
    assert (code, findings(report, "error")) == (1, ["insecure"])


def test_hmac_plans_open_to_replay_are_warnings_that_say_what_to_change(doctor: Doctor) -> None:
    hmac = 'type = "hmac"\nsecret_key = "hk-1"\nalgorithm = "sha256"\n'
    config = (
        CONFIG.replace(f'[tools.lookup_order]\nsecret = "{TOOL_SECRET}"\n', "")
        + f'\n[[tools.lookup_order.credentials]]\n{hmac}message_id_header = "svix-id"\n'
        + f"\n[[orgs.{ORG_ID}.credentials]]\n{hmac}include_timestamp = false\n"
    )
    code, report = doctor.report(config=config, public_url=None)
    assert code == 0
    replay = [f for f in report["findings"] if f["code"] == "hmac-replay"]
    assert [f["subject"].split()[-1] for f in replay] == [
        "[orgs." + ORG_ID + "]",
        "[tools.lookup_order]",
    ]
    assert all(f["severity"] == "warning" for f in replay)
    assert "a captured request can be replayed at any time" in replay[0]["message"]
    assert "does not sign {svix-id}" in replay[1]["message"]
    assert "add {svix-id} to payload_format" in replay[1]["message"]
    _, out, _ = doctor.run(config=config, public_url=None)
    assert "does not sign {svix-id}" in out


def test_assistant_request_with_nowhere_to_go_is_an_error(doctor: Doctor) -> None:
    silent = bought_phone_number(serverUrl=None, serverUrlSecret=None)
    code, out, _ = doctor.run(phone_numbers=[silent], org=org(server=None))
    assert code == 1
    assert "call-start-error-neither-assistant-nor-server-set" in out


def test_custom_credential_is_a_warning_and_left_unchecked(doctor: Doctor) -> None:
    with_credential = tool(server={"url": PUBLIC_URL, "credentialId": "cred-8c1f"})
    code, report = doctor.report(tools=[with_credential])
    assert code == 0
    [finding] = report["findings"]
    assert finding["code"] == "credential-by-hand"
    assert "cred-8c1f" in finding["message"]
    assert rows(report)["tool-calls (lookup_order)"]["check"] == "by hand"


def test_inline_assistant_gets_no_credential(doctor: Doctor) -> None:
    transient = assistant(id=None, server={"url": PUBLIC_URL, "secret": "[REDACTED]"})
    code, report = doctor.report(assistants=[transient])
    assert code == 1
    assert "credentials-withheld" in findings(report, "error")
    assert rows(report)["status-update"]["check"] == "no credential"


def test_fallback_answer_with_an_inline_server_url_gets_no_credential(doctor: Doctor) -> None:
    fallback = (
        CONFIG
        + '\n[receiver.assistant_request_fallback.assistant]\nname = "Fallback"\n'
        + f'server = {{ url = "{PUBLIC_URL}" }}\n'
    )
    code, report = doctor.report(config=fallback)
    assert code == 1
    assert findings(report, "error") == ["credentials-withheld"]


def test_types_no_configured_level_verifies_are_flagged(doctor: Doctor) -> None:
    only_assistant = f'[assistants.{ASSISTANT_ID}]\nsecret = "{ASSISTANT_SECRET}"\n'
    code, report = doctor.report(config=only_assistant, phone_numbers=[bought_phone_number()])
    # assistant-request goes to the phone number's URL, and nothing in the config applies.
    assert code == 1
    assert rows(report)["assistant-request"]["check"] == "refused"
    assert "no-level" in findings(report, "error")
    # chat events name their assistant (`chat.assistantId`), so its entry applies to them.
    assert rows(report)["chat.created"]["receiver"][0]["level"] == "assistant"


def test_two_objects_for_one_level_with_different_secrets_conflict(doctor: Doctor) -> None:
    again = current_phone_number(server={"url": PUBLIC_URL, "secret": ROTATED_SECRET})
    code, report = doctor.report(phone_numbers=[current_phone_number(), again])
    assert code == 1
    assert "conflict" in findings(report, "error")


# -- files, usage and exit codes ---------------------------------------------------------------


def test_a_file_may_hold_a_list_or_a_page_of_objects(doctor: Doctor) -> None:
    listed = doctor.file([current_phone_number(), current_phone_number(id="pn-second")])
    page = doctor.file({"results": [assistant()], "metadata": {"itemsPerPage": 100}})
    code, out, _ = doctor.run("--phone-number", listed, "--assistant", page, "--json")
    assert code == 0
    titles = [s["title"] for s in json.loads(out)["scenarios"]]
    assert len(titles) == 2 and "pn-second" in titles[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([{"id": "pn-1"}, "pn-2"], "item 2 is not a phone number object"),
        ('"pn-1"', "the file is not a phone number object"),
    ],
)
def test_bad_object_files_are_usage_errors(doctor: Doctor, content: Any, message: str) -> None:
    path = doctor.file(content)
    code, out, err = doctor.run("--phone-number", path)
    assert code == 2
    assert message in err and path in err
    assert out == ""


def test_usage_errors_exit_2_with_a_clear_message(doctor: Doctor) -> None:
    code, _, err = doctor.run("--phone-number", str(doctor.tmp_path / "missing.json"))
    assert (code, "file not found" in err) == (2, True)
    code, _, err = doctor.run(config="[org\n")
    assert (code, "not valid TOML" in err) == (2, True)
    code, _, err = doctor.run(public_url="abc123.ngrok.app")
    assert (code, "not an absolute" in err) == (2, True)
    code, _, err = doctor.run(org=[org(), org()])
    assert (code, "expected an org object, found 2 objects" in err) == (2, True)
    code, _, err = doctor.run(config=None)
    assert (code, "no configuration" in err) == (2, True)


def test_config_may_come_from_the_environment(
    doctor: Doctor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAPI_SERVER_SECRET", ORG_SECRET)
    code, report = doctor.report(config=None)
    assert code == 0
    assert rows(report)["status-update"]["receiver"][0]["level"] == "org"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["doctor", "--help"])
    assert exit_.value.code == 0
    assert "--public-url" in capsys.readouterr().out


def test_tools_inline_in_the_assistant_get_their_own_rows(doctor: Doctor) -> None:
    inline = {
        "type": "function",
        "function": {"name": "create_return_label"},
        "server": {"url": PUBLIC_URL, "secret": TOOL_SECRET},
    }
    riley = assistant(model={"provider": "openai", "model": "gpt-4o", "tools": [inline]})
    config = CONFIG.replace("[tools.lookup_order]", "[tools.create_return_label]")
    code, report = doctor.report(config=config, assistants=[riley])
    assert code == 0
    row = rows(report)["tool-calls (create_return_label)"]
    assert row["receiver"][0]["level"] == row["vapi"]["level"] == "tool"
    assert row["check"] == "ok"


def test_a_custom_voice_server_with_its_own_secret_is_refused(doctor: Doctor) -> None:
    # voice-request goes to assistant.voice.server, but the receiver checks it against the
    # assistant's entry: a different secret there means 401 for every sentence spoken.
    voice = {"provider": "custom-voice", "server": {"url": PUBLIC_URL, "secret": OTHER_SECRET}}
    code, report = doctor.report(assistants=[assistant(voice=voice)])
    assert code == 1
    row = rows(report)["voice-request"]
    assert (row["sent"], row["check"]) == ("yes", "differs")
    [finding] = [f for f in report["findings"] if f["code"] == "secret-differs"]
    assert finding["subject"].endswith("voice.server") and "voice-request" in finding["message"]
