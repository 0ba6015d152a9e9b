"""Decoding JSON from the sender: bounded, strict, and with errors that say what is wrong.

The envelope and every tool call's `arguments` string come from the network, so they are
decoded by `pydantic_core.from_json` rather than `json.loads`. It is faster on Vapi's bodies
(a 1 MB end-of-call report in 4.4 ms instead of 7.5 ms), it stops at a fixed nesting depth
without recursing in Python, and it refuses what no answer could carry: NaN and Infinity,
and `\\ud800`-style escapes that are half of a UTF-16 pair (valid JSON, but no character,
so neither UTF-8 nor SQLite can hold them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic_core import from_json

MAX_JSON_DEPTH: Final = 200
"""Deepest nesting of objects accepted in a body or in tool arguments (arrays: one more).

It is the decoder's own fixed limit, enforced while decoding; a lower one of our own would
need a second walk over the value, which costs more than decoding it (10 ms for 1 MB).
Vapi's messages nest about 10 levels, so this only refuses hostile input, and it keeps any
later recursive code (models, digests, `json.dumps`) far from Python's recursion limit."""


def decode_json(data: bytes | str) -> object:
    """The value of one JSON document.

    Raises:
        ValueError: with a one-line reason and position, e.g. `nested deeper than 200
            levels (line 1 column 202)` or `unpaired UTF-16 surrogate escape
            (\\ud800-\\udfff) at line 1 column 7`.
    """
    try:
        return from_json(data, allow_inf_nan=False, cache_strings=True)
    except ValueError as exc:
        raise ValueError(_reason(str(exc))) from None


def json_kind(value: object) -> str:
    """What a decoded JSON value is, in an error message's words: "an array", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def _reason(message: str) -> str:
    # The decoder's messages are accurate but terse; say in the sender's terms what to fix.
    where = message.rpartition(" at ")[2] if " at line " in message else ""
    if message.startswith("recursion limit exceeded"):
        return f"nested deeper than {MAX_JSON_DEPTH} levels ({where})"
    if "surrogate" in message or "end of hex escape" in message:
        return f"unpaired UTF-16 surrogate escape (\\ud800-\\udfff) at {where}"
    return message.splitlines()[0][:200] if message else "invalid JSON"
