"""Find the receiver that a `module:attribute` string names, as uvicorn finds an app.

Both `vapi-receiver serve my_app:receiver` and the pytest ini option
`vapi_receiver = "my_app:receiver"` name a receiver this way. The attribute may be the
`Receiver` or its ASGI app (`app = receiver.app`); for an app, the module is searched for
the receiver that built it, so its configuration is known either way.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any

from receiver.errors import ReceiverError
from receiver.receiver import Receiver

__all__ = ["LocateError", "Located", "locate"]


class LocateError(ReceiverError):
    """The `module:attribute` string is malformed, or names nothing importable."""


@dataclass(frozen=True)
class Located:
    """What a `module:attribute` string named.

    Attributes:
        app: The ASGI app to serve.
        receiver: The receiver behind it, or `None` for an app not built by one.
    """

    app: Any
    receiver: Receiver | None


def locate(spec: str) -> Located:
    """Import `module:attribute` (dotted attribute paths allowed) from the current directory.

    Raises:
        LocateError: naming what is wrong: the format, the module or the attribute.
            Errors raised by the module's own code while importing propagate unchanged,
            so the user sees their traceback.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise LocateError(f"{spec!r} must be module:attribute, e.g. my_app:receiver")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        raise LocateError(f"no module named {exc.name!r} (looked in {os.getcwd()})") from None
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise LocateError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if isinstance(value, Receiver):
        return Located(value.app, value)
    if not callable(value):
        raise LocateError(f"{spec} is a {type(value).__name__}, not a Receiver or an ASGI app")
    owner = next(
        (
            candidate
            for candidate in vars(module).values()
            if isinstance(candidate, Receiver) and candidate.__dict__.get("app") is value
        ),
        None,
    )
    return Located(value, owner)
