"""Keyword overrides for the message factories: snake_case paths into camelCase JSON.

Tests read best with Python keywords (`call__assistant_id="asst-1"`), while Vapi's JSON is
camelCase (`call.assistantId`). This module is the one place that turns the first into the
second, so every factory resolves overrides the same way.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

__all__ = ["REMOVE", "apply_overrides", "camel_case", "check_known"]


class _Remove(enum.Enum):
    """The type of `REMOVE`; an enum member so it survives copy, deepcopy and pickle."""

    REMOVE = "REMOVE"

    def __repr__(self) -> str:
        return "REMOVE"


#: Override value that deletes the key instead of setting it (`assistant=REMOVE`).
REMOVE: Final = _Remove.REMOVE

#: A segment is converted only when it is plain snake_case; anything else (camelCase, a
#: leading underscore, upper case) is taken as the literal JSON key.
_SNAKE: Final = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+")


def camel_case(segment: str) -> str:
    """The JSON key for one keyword segment: `phone_number_id` -> `phoneNumberId`.

    Keys that are not plain snake_case are returned unchanged, which is how a key whose
    camelCase would be wrong stays reachable (`messagesOpenAIFormatted=...`).

    Args:
        segment: One part of an override keyword, between `__` separators.

    Returns:
        The key to use in the JSON object.
    """
    if not _SNAKE.fullmatch(segment):
        return segment
    head, *rest = segment.split("_")
    return head + "".join(part.capitalize() for part in rest)


def check_known(
    overrides: Mapping[str, Any], keys: Collection[str], convenience: Collection[str]
) -> None:
    """Refuse a keyword whose first path segment is no key of the object it would go into.

    Without this a misplaced keyword (`send("tool-calls", secret="wrong")`, meant as a
    credential) silently becomes a payload field and the test passes for the wrong reason.

    Args:
        overrides: Keyword name -> value, convenience keywords already taken out.
        keys: The JSON keys the object has or its model knows (camelCase).
        convenience: The convenience keywords that were accepted, named in the error.

    Raises:
        TypeError: A keyword's first segment is not in `keys`; the message lists the
            convenience keywords and the keys, as keywords.
    """
    known = set(keys)
    unknown = [k for k in overrides if camel_case(k.split("__", 1)[0]) not in known]
    if unknown:
        paths = sorted({_snake_case(key) for key in known})
        raise TypeError(
            f"unknown keyword {', '.join(map(repr, unknown))}: it is no key of this message. "
            f"Convenience keywords: {', '.join(sorted(convenience)) or 'none'}. Paths start "
            f"with: {', '.join(paths)} (walk deeper with __, e.g. call__assistant_id=). To "
            "add a key no model knows on purpose, set it on the returned dict"
        )


def _snake_case(key: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
    return snake if camel_case(snake) == key else key


def apply_overrides(root: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Apply keyword overrides to `root` in place, in the order given.

    Each keyword is a path: `__` walks into nested objects, creating dicts on the way (or
    replacing a `null`), and a segment of digits indexes into an existing list. The value
    is deep-copied and set as is (its own keys are never converted); `REMOVE` deletes the
    key and is a no-op when the key is already absent.

    Args:
        root: The object the paths start from, usually `envelope["message"]`.
        overrides: Keyword name -> value.

    Raises:
        ValueError: A keyword has an empty segment (`call____id`, `_`-only parts).
        TypeError: A path walks into something that is neither an object nor a list.
        IndexError: A list index is out of range.
    """
    for keyword, value in overrides.items():
        segments = [camel_case(s) for s in keyword.split("__")]
        if "" in segments:
            raise ValueError(f"override {keyword!r} has an empty path segment")
        _set_path(root, segments, value, keyword)


def _set_path(root: dict[str, Any], segments: list[str], value: Any, keyword: str) -> None:
    removing = value is REMOVE
    node: Any = root
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        if isinstance(node, list):
            index = _list_index(node, segment, keyword)
            if last:
                if removing:
                    del node[index]
                else:
                    node[index] = copy.deepcopy(value)
                return
            if node[index] is None:
                if removing:
                    return
                node[index] = {}
            node = node[index]
        elif isinstance(node, dict):
            if last:
                if removing:
                    node.pop(segment, None)
                else:
                    node[segment] = copy.deepcopy(value)
                return
            if node.get(segment) is None:
                if removing:
                    return
                node[segment] = {}
            node = node[segment]
        else:
            walked = ".".join(segments[:depth])
            raise TypeError(
                f"override {keyword!r}: {walked} is a {type(node).__name__}, not an object"
            )


def _list_index(items: list[Any], segment: str, keyword: str) -> int:
    if not segment.isdigit():
        raise TypeError(f"override {keyword!r}: {segment!r} indexes a list; use a number")
    index = int(segment)
    if index >= len(items):
        raise IndexError(f"override {keyword!r}: index {index} of a list of {len(items)}")
    return index
