"""A registered tool exported as Vapi's function tool definition matches what it accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from receiver import Receiver
from receiver.models import Call


def shop() -> Receiver:
    receiver = Receiver(config={"org": {"secret": "s"}, "inbox": {"enabled": False}})

    @receiver.tool
    def lookup_order(order_id: str, call: Call, include_items: bool = False) -> str:
        """Look up an order by the id the caller spoke."""
        return order_id

    @receiver.tool("refund")
    def refund(amount: float, reason: str | None = None, **details: Any) -> str:
        return str(amount)

    return receiver


def test_parameters_are_what_the_receiver_validates_and_nothing_injected() -> None:
    lookup, refund = shop().vapi_tools("https://hooks.example/vapi")
    assert lookup == {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by the id the caller spoke.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "include_items": {"type": "boolean", "default": False},
                },
                "required": ["order_id"],
            },
        },
        "server": {"url": "https://hooks.example/vapi"},
    }
    assert refund["function"]["name"] == "refund"
    assert refund["function"]["parameters"]["required"] == ["amount"]
    # Vapi wants a `type` on every property: an optional `str | None` is a plain string.
    assert refund["function"]["parameters"]["properties"]["reason"] == {
        "type": "string",
        "default": None,
    }
    assert "description" not in refund["function"]  # no docstring, no made-up text
    assert "server" not in shop().vapi_tools()[0]  # the assistant's server URL applies


@pytest.mark.sdk
def test_the_definitions_fit_vapis_create_function_tool_model() -> None:
    from vapi.types import CreateFunctionToolDto

    for definition in shop().vapi_tools("https://hooks.example/vapi"):
        dto = CreateFunctionToolDto.model_validate(definition)
        assert dto.function is not None and dto.function.parameters is not None
        assert dto.function.name == definition["function"]["name"]
        assert dto.server is not None and dto.server.url == "https://hooks.example/vapi"
        properties = dto.function.parameters.properties or {}
        assert set(properties) == set(definition["function"]["parameters"]["properties"])


@pytest.mark.slow
def test_the_tools_command_prints_them(tmp_path: Path) -> None:
    (tmp_path / "shop_app.py").write_text(
        "from receiver import Receiver\n"
        "receiver = Receiver(config={'org': {'secret': 's'}, 'inbox': {'enabled': False}})\n"
        "@receiver.tool\n"
        "def lookup_order(order_id: str) -> str:\n"
        "    '''Look up an order.'''\n"
        "    return order_id\n"
    )
    printed = subprocess.run(
        [sys.executable, "-m", "receiver", "tools", "shop_app:receiver"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [definition] = json.loads(printed)
    assert definition["function"]["name"] == "lookup_order"
    assert definition["function"]["parameters"]["required"] == ["order_id"]
