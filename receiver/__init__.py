"""A secure, typed receiver for Vapi server-URL messages.

Start with `Receiver`; register handlers with its decorators or a `handlers.CallHandler`
subclass; serve `receiver.app` with uvicorn.

The names below are loaded on first use (PEP 562): `handlers` builds on `receiver.models`
while `Receiver` builds on `handlers`, so importing this package must not pull in the
whole receiver before `handlers` has finished importing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from receiver.authentication import Verified as Verified
    from receiver.authentication import authenticate as authenticate
    from receiver.config import LevelConfig as LevelConfig
    from receiver.config import ReceiverConfig as ReceiverConfig
    from receiver.config import config_from_env as config_from_env
    from receiver.config import load_config as load_config
    from receiver.core import Outcome as Outcome
    from receiver.errors import ConfigError as ConfigError
    from receiver.errors import ReceiverError as ReceiverError
    from receiver.errors import RegistrationError as RegistrationError
    from receiver.errors import RequestError as RequestError
    from receiver.receiver import Receiver as Receiver

_HOMES = {
    "Verified": "receiver.authentication",
    "authenticate": "receiver.authentication",
    "ConfigError": "receiver.errors",
    "LevelConfig": "receiver.config",
    "Outcome": "receiver.core",
    "Receiver": "receiver.receiver",
    "ReceiverConfig": "receiver.config",
    "ReceiverError": "receiver.errors",
    "RegistrationError": "receiver.errors",
    "RequestError": "receiver.errors",
    "config_from_env": "receiver.config",
    "load_config": "receiver.config",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if home := _HOMES.get(name):
        return getattr(importlib.import_module(home), name)
    raise AttributeError(f"module 'receiver' has no attribute {name!r}")
