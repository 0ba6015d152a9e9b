"""A secure, typed receiver for Vapi server-URL messages.

Start with `Receiver`; register handlers with its decorators or a `handlers.CallHandler`
subclass; serve `receiver.app` with uvicorn.
"""

from __future__ import annotations

from receiver.config import LevelConfig, ReceiverConfig, config_from_env, load_config
from receiver.core import Outcome
from receiver.errors import ConfigError, ReceiverError, RegistrationError, RequestError
from receiver.receiver import Receiver

__all__ = [
    "ConfigError",
    "LevelConfig",
    "Outcome",
    "Receiver",
    "ReceiverConfig",
    "ReceiverError",
    "RegistrationError",
    "RequestError",
    "config_from_env",
    "load_config",
]
