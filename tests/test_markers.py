"""A developer's quick run, `pytest -m "not sdk and not slow"`, leaves out what is slow.

The SDK's import alone takes about 30 s, so the quick run must not import it at all: every
test that needs it is marked `sdk`, by hand or by the conftest hook for the SDK fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs pytest in a fresh interpreter

TESTS = Path(__file__).resolve().parent
SDK_USERS = ["test_models.py", "test_responses.py", "test_factories.py", "test_vapi_objects.py"]

PROBE = """
import sys, pytest
code = pytest.main(sys.argv[1:])
print("SDK imported:", "vapi" in sys.modules)
sys.exit(code)
"""


def test_the_quick_run_never_imports_the_sdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "-q", "-p", "no:cacheprovider", "-m", "not sdk"]
        + [str(TESTS / name) for name in SDK_USERS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=TESTS.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "deselected" in result.stdout
    assert result.stdout.rstrip().endswith("SDK imported: False")
