from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from tests.served import close_served

SECRET = "test-org-secret"

# Receivers built at import time or in module-scoped fixtures (before the fixture below runs)
# keep their durable inbox out of the checkout too; the directory goes when pytest exits.
_INBOX_DIR = tempfile.TemporaryDirectory(prefix="vapi-inbox-tests-")
os.environ["VAPI_INBOX_PATH"] = os.path.join(_INBOX_DIR.name, "inbox.sqlite3")


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
def _no_receiver_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A developer's own VAPI_* variables must not change what the tests see.
    monkeypatch.delenv("VAPI_RECEIVER_CONFIG", raising=False)
    monkeypatch.delenv("VAPI_SERVER_SECRET", raising=False)
    # Each test gets its own durable inbox, instead of ./vapi-inbox.sqlite3 in the checkout.
    monkeypatch.setenv("VAPI_INBOX_PATH", str(tmp_path / "inbox.sqlite3"))


@pytest.fixture(autouse=True)
def _close_served_clients() -> Iterator[None]:
    yield
    close_served()  # the clients `tests.served.served` opened: run their apps' shutdown
