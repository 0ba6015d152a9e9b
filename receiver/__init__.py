"""A secure, typed receiver for Vapi server-URL messages.

Start with `Receiver`; register handlers with its decorators or a `CallHandler` subclass
(`on_<type>` methods, `@tool` methods); serve `receiver.app` with uvicorn. Message models
are in `receiver.models`, answers in `receiver.responses`, the test kit in `receiver.testing`.
"""

from __future__ import annotations

from receiver.authentication import Verified, authenticate
from receiver.call_handler import CallHandler
from receiver.config import LevelConfig, ReceiverConfig, config_from_env, load_config
from receiver.core import Outcome
from receiver.errors import ConfigError, ReceiverError, RegistrationError, RequestError
from receiver.log import JsonLineFormatter, OneLineFilter
from receiver.receiver import Receiver
from receiver.tools import ToolError, tool

__all__ = [
    "CallHandler",
    "ConfigError",
    "JsonLineFormatter",
    "LevelConfig",
    "OneLineFilter",
    "Outcome",
    "Receiver",
    "ReceiverConfig",
    "ReceiverError",
    "RegistrationError",
    "RequestError",
    "ToolError",
    "Verified",
    "authenticate",
    "config_from_env",
    "load_config",
    "tool",
]
