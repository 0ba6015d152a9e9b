"""pytest plugin: the `vapi_client` fixture, a `VapiTestClient` for your receiver.

Installed with the package (entry point `pytest11`), so there is nothing to enable. Name
your receiver in one of two ways:

- a `vapi_receiver` fixture in your `conftest.py`, which can build a fresh receiver per
  test or patch its dependencies first::

      @pytest.fixture
      def vapi_receiver():
          return my_app.receiver

- or, with no code, an ini option (`pyproject.toml`)::

      [tool.pytest.ini_options]
      vapi_receiver = "my_app:receiver"      # a Receiver, or the app it built

Then::

    def test_lookup(vapi_client):
        assert vapi_client.tool_call("lookup_order", order_id="A-1042")["status"] == "shipped"
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from receiver.receiver import Receiver
    from receiver.testing.client import VapiTestClient

INI_OPTION = "vapi_receiver"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_OPTION,
        help="module:attribute of the Receiver the vapi_client fixture posts to",
        default="",
    )


@pytest.fixture
def vapi_receiver(request: pytest.FixtureRequest) -> Receiver:
    """The receiver named by the `vapi_receiver` ini option; override it in conftest.py."""
    from receiver.locate import LocateError, locate

    spec = str(request.config.getini(INI_OPTION) or "")
    if not spec:
        pytest.fail(
            "vapi_client needs to know your receiver: define a `vapi_receiver` fixture in "
            'conftest.py, or set vapi_receiver = "my_app:receiver" under '
            "[tool.pytest.ini_options]",
            pytrace=False,
        )
    try:
        found = locate(spec)
    except LocateError as exc:
        pytest.fail(f"{INI_OPTION} = {spec!r}: {exc}", pytrace=False)
    if found.receiver is None:
        pytest.fail(f"{INI_OPTION} = {spec!r} is not a Receiver (nor its app)", pytrace=False)
    return found.receiver


@pytest.fixture
def vapi_client(vapi_receiver: Receiver, tmp_path: Path) -> Iterator[VapiTestClient]:
    """A `VapiTestClient` for `vapi_receiver`, with the app's start-up and shut-down run.

    The receiver's inbox and recording are moved to the test's `tmp_path` first, so tests
    never touch the application's real files.
    """
    from receiver.testing.client import VapiTestClient

    vapi_receiver.keep_files_in(tmp_path)
    with VapiTestClient(vapi_receiver) as client:
        yield client
