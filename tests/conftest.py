"""Fixtures and hooks for every test; shared helpers are in `tests/helpers.py`.

Two markers let a developer leave out the expensive tests (`pytest -m "not sdk and not slow"`);
CI runs them all:

- `sdk`: checks against `vapi-server-sdk`, the schema oracle, whose import alone takes about
  30 s. Tests that use the `sdk` or `sdk_union` fixtures get the marker here.
- `slow`: tests that take seconds: a subprocess, a real server, a kill -9 and a restart, a
  long property search. Marked by hand.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import pg_url  # noqa: F401  (a fixture: a fresh PostgreSQL database)
from tests.served import close_served

SDK_FIXTURES = frozenset({"sdk", "sdk_union"})
"""Fixtures that import the SDK; a test using one is marked `sdk`."""

# Receivers built at import time or in module-scoped fixtures (before the fixture below runs)
# keep their durable inbox out of the checkout too; the directory goes when pytest exits.
_INBOX_DIR = tempfile.TemporaryDirectory(prefix="vapi-inbox-tests-")
os.environ["VAPI_INBOX_PATH"] = os.path.join(_INBOX_DIR.name, "inbox.sqlite3")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SDK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sdk)


@pytest.fixture(autouse=True)
def _no_receiver_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A developer's own VAPI_* variables must not change what the tests see.
    monkeypatch.delenv("VAPI_RECEIVER_CONFIG", raising=False)
    monkeypatch.delenv("VAPI_SERVER_SECRET", raising=False)
    monkeypatch.delenv("VAPI_RECEIVER_INBOX_URL", raising=False)
    # Each test gets its own durable inbox, instead of ./vapi-inbox.sqlite3 in the checkout.
    monkeypatch.setenv("VAPI_INBOX_PATH", str(tmp_path / "inbox.sqlite3"))


@pytest.fixture(autouse=True)
def _close_served_clients() -> Iterator[None]:
    yield
    close_served()  # the clients `tests.served.served` opened: run their apps' shutdown
