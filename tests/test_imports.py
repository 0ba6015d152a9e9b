"""Each public entry point imports on its own, whatever is imported first."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import handlers",
        "from handlers import CallHandler, ToolError, tool",
        "from receiver import Receiver",
        "import receiver.models",
        "from receiver.testing import make_message",
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
