"""Decoding JSON from the sender: bounded, strict, and with errors that say what is wrong.

The envelope and every tool call's `arguments` string come from the network, so they are
decoded by `pydantic_core.from_json` rather than `json.loads`. It is faster on Vapi's bodies
(a 1 MB end-of-call report in 4.4 ms instead of 7.5 ms), it stops at a fixed nesting depth
without recursing in Python, and it refuses what no answer could carry: NaN and Infinity,
numbers too large for a float (`1e400`, which would decode to infinity), and `\\ud800`-style
escapes that are half of a UTF-16 pair (valid JSON, but no character, so neither UTF-8 nor
SQLite can hold them).
"""

from __future__ import annotations

import math
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
            levels (line 1 column 202)`, `unpaired UTF-16 surrogate escape
            (\\ud800-\\udfff) at line 1 column 7` or `number too large, it overflows to
            infinity (message.call.cost)`.
    """
    try:
        value = from_json(data, allow_inf_nan=False, cache_strings=True)
    except ValueError as exc:
        raise ValueError(_reason(str(exc))) from None
    text = data.encode() if isinstance(data, str) else data
    if _may_overflow(text) and (where := _infinite_at(value)) is not None:
        raise ValueError(f"number too large, it overflows to infinity ({where})")
    return value


# The decoder turns a number beyond a float's range (about 1.8e308) into `inf` without a
# word. Such a number has an exponent of three digits, or 200 digits before it (a two-digit
# exponent adds at most 99). A body that may hold one is walked to find it; finding the
# candidates costs 1 ms for 1 MB (a regular expression costs 10 to 30), the walk 20.
_SHAPE: Final = bytes(
    ord("0") if chr(c).isdigit() else ord("e") if chr(c) in "eE" else c if c == ord("+") else 32
    for c in range(256)
)
_LONG_RUN: Final = b"0" * 200
_EXPONENTS: Final = (b"0e000", b"0e+000")
_NUMBER_BEFORE: Final = frozenset(b":[, \t\r\n")
_NUMBER_PART: Final = frozenset(b"0123456789.-")
#: Bytes of body per candidate checked one by one before the body is simply walked: ids are
#: full of hex such as `5e123` (one id in ten has one), but a check costs as much as walking
#: about 50 bytes, so a body crafted with many of them costs no more than one walk.
_BYTES_PER_CANDIDATE: Final = 50


def _may_overflow(data: bytes) -> bool:
    shape = data.translate(_SHAPE)
    if _LONG_RUN in shape:
        return True
    candidates, limit = 0, len(data) // _BYTES_PER_CANDIDATE
    for marker in _EXPONENTS:
        at = shape.find(marker)
        while at != -1:
            candidates += 1
            if candidates > limit or _starts_value(data, at):
                return True
            at = shape.find(marker, at + 1)
    return False


def _starts_value(data: bytes, at: int) -> bool:
    """Whether the number-like text ending at `at` begins where a JSON value may begin."""
    while at >= 0 and data[at] in _NUMBER_PART:
        at -= 1
    return at < 0 or data[at] in _NUMBER_BEFORE


def _infinite_at(value: object) -> str | None:
    """Where in `value` a float is infinite (`message.x[2]`), or `None` if none is.

    A path is built only for containers, not for each string or number in them, so the walk
    costs about what decoding does.
    """
    if isinstance(value, float):
        return "the whole document" if math.isinf(value) else None
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        children = (
            item.items()
            if isinstance(item, dict)
            else enumerate(item)
            if isinstance(item, list)
            else ()
        )
        for key, child in children:
            if isinstance(child, float) and math.isinf(child):
                return _step(path, key)
            if isinstance(child, dict | list):
                stack.append((child, _step(path, key)))
    return None


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key[:50]}" if path else key[:50]


def _reason(message: str) -> str:
    # The decoder's messages are accurate but terse; say in the sender's terms what to fix.
    where = message.rpartition(" at ")[2] if " at line " in message else ""
    if message.startswith("recursion limit exceeded"):
        return f"nested deeper than {MAX_JSON_DEPTH} levels ({where})"
    if "surrogate" in message or "end of hex escape" in message:
        return f"unpaired UTF-16 surrogate escape (\\ud800-\\udfff) at {where}"
    return message.splitlines()[0][:200] if message else "invalid JSON"
