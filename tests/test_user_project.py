"""A user's project next to the installed distribution: the common module names are theirs.

The distribution's files are laid out in a directory of its own, as installing it would,
and a project with `handlers.py`, `models.py` and `config.py` next to its `app.py`
runs against that copy in a fresh interpreter: the import works and a real request through
`VapiTestClient` gets the user's answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SETUP = "from setuptools import setup; setup()"

USER_PROJECT = {
    "config.py": '''
        """The app's settings: a module name nearly every project has."""

        from receiver import LevelConfig, ReceiverConfig

        SECRET = "user-project-secret-2718"
        CONFIG = ReceiverConfig(org=LevelConfig((SECRET,)))
    ''',
    "models.py": '''
        """The app's own data models."""

        from pydantic import BaseModel


        class Order(BaseModel):
            id: str
            status: str


        ORDERS = {"A-1": Order(id="A-1", status="shipped")}
    ''',
    "handlers.py": '''
        """The app's handlers, in the subclass style."""

        from models import ORDERS
        from receiver import CallHandler, ToolError, tool
        from receiver.models import Call, StatusUpdateMessage

        SEEN: list[str] = []


        class Shop(CallHandler):
            @tool
            def lookup_order(self, order_id: str) -> dict[str, str]:
                order = ORDERS.get(order_id)
                if order is None:
                    raise ToolError(f"no order {order_id}")
                return order.model_dump()

            def on_status_update(self, message: StatusUpdateMessage, call: Call | None) -> None:
                SEEN.append(message.status)
    ''',
    "app.py": """
        from config import CONFIG
        from handlers import Shop
        from receiver import Receiver

        receiver = Receiver(config=CONFIG, handlers=[Shop()])
        app = receiver.app
    """,
    "check.py": """
        import json

        import handlers
        import receiver as framework
        from app import receiver
        from receiver.testing import ToolCallError, VapiTestClient

        with VapiTestClient(receiver) as client:
            found = client.tool_call("lookup_order", order_id="A-1")
            try:
                client.tool_call("lookup_order", order_id="Z-9")
                missing = None
            except ToolCallError as exc:
                missing = str(exc)
            status = client.send("status-update", status="ended").status_code
        seen = handlers.SEEN
        print(json.dumps({"found": found, "missing": missing, "status": status, "seen": seen}))
        print(framework.__file__)
    """,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the wheel holds, laid out by setuptools' `build_py` from the project's own
    configuration (the step that fills a wheel), built from a copy of the sources so the
    checkout stays clean."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("receiver", "handlers"):
        shutil.copytree(REPOSITORY / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "example_app.py"):
        shutil.copy(REPOSITORY / name, source / name)
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-c", SETUP, "--quiet", "build_py", "--build-lib", str(target)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


def test_the_distribution_installs_only_the_receiver_package(installed: Path) -> None:
    assert [p.name for p in installed.iterdir()] == ["receiver"]


def test_a_project_with_handlers_models_and_config_modules_runs(
    installed: Path, tmp_path: Path
) -> None:
    for name, text in USER_PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    result = subprocess.run(
        [sys.executable, "check.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        # The installed copy, not this checkout, provides `receiver`; the project's own
        # directory comes first on the path, as for any script.
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(installed)},
    )
    assert result.returncode == 0, result.stderr
    answers, framework = result.stdout.splitlines()
    assert json.loads(answers) == {
        "found": {"id": "A-1", "status": "shipped"},
        "missing": "tool 'lookup_order' answered with an error: no order Z-9",
        "status": 200,
        "seen": ["ended"],
    }
    assert Path(framework).is_relative_to(installed)
