from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver

SECRET = "test-org-secret"


def make_receiver(**options: Any) -> Receiver:
    """A receiver with only an org secret, plus any `[receiver]` options."""
    return Receiver(config={"org": {"secret": SECRET}, "receiver": options})


def post(client: TestClient, envelope: dict[str, Any], secret: str = SECRET) -> Any:
    return client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": secret},
    )


@pytest.fixture(autouse=True)
def _no_receiver_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own VAPI_* variables must not change what the tests see.
    monkeypatch.delenv("VAPI_RECEIVER_CONFIG", raising=False)
    monkeypatch.delenv("VAPI_SERVER_SECRET", raising=False)
