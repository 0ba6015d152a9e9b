"""The base class users subclass to keep one call flow's handlers together."""

from __future__ import annotations


class CallHandler:
    """Group handlers for one deployment in a class; register an instance with the receiver.

    Methods are found by name, the way Starlette's `HTTPEndpoint` finds `get` and `post`:

    - `on_<type>` handles that message type, with `-` and `.` written as `_` and camelCase
      as snake_case (`on_end_of_call_report`, `on_call_endpointing_request`,
      `on_assistant_speech_started`). It takes `(self, message)` or `(self, message, call)`.
      For request types its return value is the answer.
    - `on_any(self, message, call)` observes every message; `on_error(self, error, message)`
      hears about every handler failure.
    - methods decorated with `@tool` are tools, named after the method.

    A method starting with `on_` that matches no type is refused at registration, so a typo
    fails at start-up instead of silently never running. Methods may be sync (they run in a
    thread pool) or async.
    """
