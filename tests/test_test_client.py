"""VapiTestClient and the `vapi_client` pytest fixture: what a user's own tests rely on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from receiver import Receiver, ToolError
from receiver.testing import (
    ToolCallError,
    UnexpectedResponse,
    VapiTestClient,
    make_message,
    make_tool_call,
    winning_credential,
)

pytest_plugins = ["pytester"]

ORG = "org-secret-0000"
TOOL = "tool-secret-1111"
ASSISTANT = "assistant-secret-2222"
PHONE = "phone-secret-3333"


def layered_receiver(**extra: Any) -> Receiver:
    """Secrets at every level, so a wrong choice of level shows up as a 401."""
    receiver = Receiver(
        config={
            "org": {"secret": ORG},
            "tools": {"lookup_order": {"secret": TOOL}},
            "assistants": {"asst-1": {"secret": ASSISTANT}},
            "phone_numbers": {"pn-1": {"secret": PHONE}},
            **extra,
        }
    )

    @receiver.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        if order_id == "Z-0":
            raise ToolError(f"No order {order_id} was found")
        return {"status": "shipped", "order": order_id}

    @receiver.tool
    def get_time(timezone: str = "UTC") -> str:
        return "12:30"

    @receiver.tool
    def count() -> str:
        return "42"

    @receiver.on("assistant-request")
    def pick(message: Any, call: Any) -> dict[str, str]:
        return {"assistantId": f"asst-for-{message.customer.number}"}

    return receiver


def test_tool_call_returns_the_decoded_result() -> None:
    client = VapiTestClient(layered_receiver())
    assert client.tool_call("lookup_order", order_id="A-1042") == {
        "status": "shipped",
        "order": "A-1042",
    }
    assert client.tool_call("get_time", timezone="Europe/Paris") == "12:30"
    assert client.tool_call("count") == 42  # a JSON-looking string reads back decoded
    assert client.last_response is not None and client.last_response.status_code == 200


def test_tool_error_is_raised_with_the_text_the_model_sees() -> None:
    client = VapiTestClient(layered_receiver())
    with pytest.raises(ToolCallError, match="No order Z-0 was found") as raised:
        client.tool_call("lookup_order", order_id="Z-0")
    assert raised.value.name == "lookup_order"
    assert raised.value.error == "No order Z-0 was found"
    with pytest.raises(ToolCallError, match="order_id"):
        client.tool_call("lookup_order")  # missing argument, answered as an error
    with pytest.raises(ToolCallError):
        client.tool_call("no_such_tool")


def test_tool_calls_returns_every_outcome_without_raising() -> None:
    client = VapiTestClient(layered_receiver(tools={}))  # all tools at the org level
    outcomes = client.tool_calls(
        ("lookup_order", {"order_id": "Z-0"}), make_tool_call("get_time", id="call_x")
    )
    by_name = {outcome.name: outcome for outcome in outcomes}
    assert not by_name["lookup_order"].ok
    assert by_name["lookup_order"].error == "No order Z-0 was found"
    assert by_name["get_time"].ok and by_name["get_time"].result == "12:30"
    assert by_name["get_time"].tool_call_id == "call_x"


def test_each_message_carries_the_secret_of_its_winning_level() -> None:
    receiver = layered_receiver()
    client = VapiTestClient(receiver)
    # A tool with its own secret: the org secret would be refused.
    envelope = make_message("tool-calls", tool_name="lookup_order", arguments={"order_id": "A"})
    assert client.credential_headers(envelope) == {"x-vapi-secret": TOOL}
    assert client.post(envelope).status_code == 200
    # Assistant level for any other message of that assistant's call.
    assert client.send("hang", assistant_id="asst-1").status_code == 200
    hang = make_message("hang", assistant_id="asst-1")
    assert client.credential_headers(hang) == {"x-vapi-secret": ASSISTANT}
    # assistant-request never has an assistant: the phone number's secret.
    answer = client.assistant_request(phone_number_id="pn-1", customer_number="+14155550100")
    assert answer == {"assistantId": "asst-for-+14155550100"}
    request = make_message("assistant-request", phone_number_id="pn-1")
    assert client.credential_headers(request) == {"x-vapi-secret": PHONE}


def test_tools_of_different_levels_need_a_secret_valid_for_all() -> None:
    receiver = layered_receiver()
    client = VapiTestClient(receiver)
    with pytest.raises(UnexpectedResponse, match="401"):
        client.tool_calls("lookup_order", "get_time")  # tool secret vs org secret
    shared = Receiver(
        config={
            "org": {"secrets": [ORG, "rotated-shared"]},
            "tools": {"lookup_order": {"secrets": [TOOL, "rotated-shared"]}},
        }
    )
    shared.add_tool(lambda order_id="": "ok", name="lookup_order")
    shared.add_tool(lambda: "ok", name="get_time")
    envelope = make_message("tool-calls", tool_calls=["lookup_order", "get_time"])
    credential = winning_credential(envelope["message"], shared.config)
    assert credential.headers_for(b"{}") == {"x-vapi-secret": "rotated-shared"}
    assert not credential.note
    outcomes = VapiTestClient(shared).tool_calls("lookup_order", "get_time")
    assert [o.result for o in outcomes] == ["ok", "ok"]


def test_insecure_receiver_gets_no_credential() -> None:
    receiver = Receiver(insecure=True)
    receiver.add_tool(lambda: "fine", name="ping")
    client = VapiTestClient(receiver)
    assert client.credential_headers(make_message("hang")) == {}
    assert client.tool_call("ping") == "fine"


def test_a_refusal_is_an_unexpected_response_with_the_reason() -> None:
    client = VapiTestClient(layered_receiver(), secret="not-the-secret")
    assert client.send("status-update").status_code == 401
    with pytest.raises(UnexpectedResponse, match=r"401.*x-vapi-secret") as raised:
        client.tool_call("lookup_order", order_id="A-1")
    assert raised.value.response.status_code == 401
    unauthenticated = VapiTestClient(layered_receiver())
    response = unauthenticated.post(make_message("hang"), authenticate=False)
    assert response.status_code == 401


def test_informational_handlers_have_run_when_send_returns() -> None:
    receiver = layered_receiver()
    seen: list[str] = []

    @receiver.on("end-of-call-report")
    def report(message: Any, call: Any) -> None:
        seen.append(call.id)

    with VapiTestClient(receiver) as client:
        response = client.send("end-of-call-report", call_id="call-77")
    assert response.status_code == 200 and response.json() == {}
    assert seen == ["call-77"]


def test_answer_returns_any_request_types_json() -> None:
    client = VapiTestClient(layered_receiver())
    assert client.answer("campaign.predial") == {"eligible": False}  # no handler: safe answer
    assert client.send("voice-request").content == b""


@pytest.mark.slow  # a fresh interpreter
def test_make_message_works_without_the_test_dependencies() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["httpx2"] = None  # as if not installed
        sys.modules["httpx"] = None
        from receiver import Receiver
        from receiver.testing import VapiTestClient, make_message
        assert make_message("hang")["message"]["type"] == "hang"
        try:
            VapiTestClient(Receiver(insecure=True))
        except RuntimeError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'vapi-receiver[dev]'" in result.stdout


# -- the pytest plugin -------------------------------------------------------------------------

_APP = """
from receiver import Receiver

receiver = Receiver(config={"org": {"secret": "plugin-secret"}})

@receiver.tool
def lookup_order(order_id: str) -> dict:
    return {"status": "shipped"}

app = receiver.app
"""

_TEST = """
def test_lookup(vapi_client):
    assert vapi_client.tool_call("lookup_order", order_id="A-1") == {"status": "shipped"}
"""


def test_fixture_uses_the_receiver_fixture_of_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(plugin_app=_APP, test_it=_TEST)
    pytester.makeconftest(
        "import pytest, plugin_app\n\n"
        "@pytest.fixture\n"
        "def vapi_receiver():\n"
        "    return plugin_app.receiver\n"
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_fixture_uses_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(plugin_app=_APP, test_it=_TEST)
    pytester.makeini("[pytest]\nvapi_receiver = plugin_app:app\n")  # the app finds its receiver
    pytester.syspathinsert()
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_fixture_without_a_receiver_says_how_to_name_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `vapi_receiver` fixture in conftest.py*"])


_APP_WITH_FILES = _APP.replace(
    '{"org": {"secret": "plugin-secret"}}',
    '{"org": {"secret": "plugin-secret"}, "inbox": {"path": "app-inbox.sqlite3"}, '
    '"receiver": {"record_to": "deliveries.jsonl"}}',
)

_TEST_WITH_FILES = """
import os

def test_files_go_to_tmp_path(vapi_client, vapi_receiver, tmp_path):
    vapi_client.send("status-update", status="ended")
    assert vapi_client.tool_call("lookup_order", order_id="A-1") == {"status": "shipped"}
    config = vapi_receiver.config
    assert config.inbox.path == str(tmp_path / "inbox.sqlite3")
    assert config.record_to == str(tmp_path / "deliveries.jsonl")
    assert os.path.exists(config.inbox.path) and os.path.exists(config.record_to)
"""


def test_fixture_keeps_the_apps_inbox_and_recording_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(plugin_app=_APP_WITH_FILES, test_it=_TEST_WITH_FILES)
    pytester.makeini("[pytest]\nvapi_receiver = plugin_app:receiver\n")
    pytester.syspathinsert()
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (pytester.path / "app-inbox.sqlite3").exists()
    assert not (pytester.path / "deliveries.jsonl").exists()
