"""What users subclass and register: `CallHandler`, the `tool` decorator and `ToolError`."""

from __future__ import annotations

from handlers.call_handler import CallHandler
from handlers.registry import HandlerEntry, HandlerRegistry
from handlers.tools import ToolError, ToolSpec, tool

__all__ = ["CallHandler", "HandlerEntry", "HandlerRegistry", "ToolError", "ToolSpec", "tool"]
