"""Each public entry point imports on its own, and imports flow one way.

`receiver` is the only package the distribution installs, so everything a user needs comes
from it with plain imports: no lazy loading, no package of ours that a user's own module
could shadow. `handlers` is the example app's package, built on `receiver` like any app.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "from receiver import CallHandler, Receiver, ToolError, tool",
        "import receiver.models",
        "import receiver.responses",
        "from receiver.samples import MESSAGE_TYPES, make_message",
        "from receiver.testing import VapiTestClient, make_message",
        "import handlers",
        "import example_app",
    ],
)
def test_imports_in_a_fresh_interpreter(statement: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", statement],
        capture_output=True,
        text=True,
        timeout=60,
        env={"VAPI_SERVER_SECRET": "import-test", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr


def test_the_framework_never_imports_the_example_app_or_the_test_kit() -> None:
    """Importing the receiver, its CLI and its message samples loads neither `handlers`
    (the example app's, which a user's own `handlers` module would replace) nor
    `receiver.testing` (test-only, and it needs the `dev` extra)."""
    probe = (
        "import sys, receiver, receiver.cli, receiver.cli.doctor, receiver.cli.send, "
        "receiver.doctor, receiver.samples, receiver.signing\n"
        "print(sorted(m for m in sys.modules if m == 'handlers' or m.startswith"
        "(('handlers.', 'receiver.testing'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env={"PATH": ""}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
