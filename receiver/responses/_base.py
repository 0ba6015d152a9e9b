"""Shared pieces of the answer models: the wire conventions and the tool-result string rule."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticSerializationError, to_jsonable_python

_LINE_BREAKS: Final = re.compile(r"[\r\n]+")
_SURROGATES: Final = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """`text` with each UTF-16 surrogate code point replaced by U+FFFD.

    A Python string can hold half of a UTF-16 pair (decoded from bytes with `surrogateescape`,
    cut from a longer string, read from a legacy API), but UTF-8 cannot: the answer could not
    be sent, nor a tool result stored. The replacement character keeps the rest of the text.
    """
    return _SURROGATES.sub("\ufffd", text)


def stringify_result(value: object) -> str:
    """Turn a tool's return value into the single-line string Vapi expects.

    Vapi appends `result`/`error` to the conversation as text, requires them to be strings,
    and line breaks in them are reported to break its parsing (docs/protocol.md#timeouts). So a
    `str` is kept with every run of line breaks (`\\r\\n`, `\\n`, `\\r`) collapsed into one
    space, and anything else is JSON-encoded (default separators, `ensure_ascii=False`) after
    pydantic's `to_jsonable_python`, which handles models, dataclasses, datetimes, UUIDs,
    enums and sets. JSON text never contains a raw line break, so the output is one line.
    Half of a UTF-16 surrogate pair, which UTF-8 cannot carry, becomes U+FFFD.

    Args:
        value: Whatever a tool returned.

    Returns:
        `"ok"` for `"ok"`, `'{"status": "shipped"}'` for `{"status": "shipped"}`, `"null"`
        for `None`, `"42"` for `42`.

    Raises:
        TypeError: if `value` has no JSON form (an arbitrary object, a function), so the
            mistake is reported where it is made rather than sent as a useless `repr`.
        ValueError: if `value` holds an infinite or NaN float, which `json.dumps` would
            write as `Infinity`/`NaN`: not JSON, so not an answer Vapi can read.
    """
    if isinstance(value, str):
        return without_surrogates(_LINE_BREAKS.sub(" ", value))
    try:
        jsonable = to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise TypeError(
            f"a value of type {type(value).__name__} cannot be JSON-encoded as a tool result; "
            "return a str, number, bool, None, dict, list, pydantic model or dataclass"
        ) from exc
    try:
        text = json.dumps(jsonable, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ValueError(
            "a tool result cannot hold an infinite or NaN number: JSON has no form for it"
        ) from None
    return without_surrogates(text)


def _single_line_or_none(value: object) -> object:
    """Field validator form of `stringify_result` that keeps `None` (field omitted)."""
    if value is None:
        return None
    try:
        return stringify_result(value)
    except TypeError as exc:  # pydantic reports ValueError, not TypeError, as a field error
        raise ValueError(str(exc)) from exc


SingleLine = Annotated[str, BeforeValidator(_single_line_or_none)]
"""A tool-result string: non-strings are JSON-encoded and line breaks collapsed on input."""


def _plain_object(value: object) -> object:
    """Let a pydantic model (e.g. the SDK's `CreateAssistantDto`) stand in for a JSON object."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


JsonObject = Annotated[dict[str, Any], BeforeValidator(_plain_object)]
"""A JSON object passed to Vapi as is (assistant, overrides, transfer plan, ...).

Those schemas are large and change often, so they are not modelled here; Vapi validates them.
A pydantic model (such as one from the `vapi` SDK) is accepted and dumped by alias.
"""


class VapiModel(BaseModel):
    """Base of every object this package sends to Vapi.

    Python code uses snake_case (`tool_call_id`), the wire uses camelCase (`toolCallId`);
    both spellings are accepted on input. Keys this package does not know are kept and sent
    verbatim, so a field Vapi adds tomorrow can be used today: spell such keys exactly as
    Vapi does (camelCase), since they are not translated. Assignments are validated too, so
    a model stays valid when changed after construction.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_assignment=True,
    )

    def to_vapi(self) -> dict[str, Any]:
        """The JSON-ready dict of this object, exactly as Vapi expects it.

        Keys are the camelCase wire names, fields left at `None` are omitted (Vapi's schema
        marks them optional, not nullable, so `null` is not a valid value), and the object
        is bare: answers are never wrapped in `messageResponse`, because that wrapper
        exists only in Vapi's OpenAPI document and not in what its servers read
        (docs/protocol.md#response-wrapping). `None` values inside free-form objects (an
        `assistant`, overrides) are kept, since there they are the user's data.

        Returns:
            A new dict containing only JSON types, safe to mutate or `json.dumps`.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class VapiAnswer(VapiModel):
    """Base of the answer models; `message_type` is the request type each one answers."""

    message_type: ClassVar[str]


def tag_by_type(tags: Mapping[str, str]) -> Callable[[Any], str | None]:
    """A pydantic discriminator that picks a union member from the `type` key.

    Works for both mappings and model instances. Tags are class names, which lets
    `answer_to_json` drop them from error paths (see `UNION_TAGS`).
    """

    def pick(value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
        return tags.get(kind) if isinstance(kind, str) else None

    return pick


def tag_str_or_model(model_tag: str) -> Callable[[Any], str]:
    """Discriminator for `str | SomeModel` fields, so a bad value gets one error, not two."""

    def pick(value: Any) -> str:
        return "str" if isinstance(value, str) else model_tag

    return pick


UNION_TAGS: Final = frozenset(
    {
        "str",
        "dict",
        "CustomMessage",
        "NumberDestination",
        "SipDestination",
        "AssistantDestination",
        "HandoffAssistantDestination",
        "HandoffSquadDestination",
    }
)
"""Every union tag used in this package; they appear in pydantic error locations."""


def present(model: BaseModel, names: tuple[str, ...]) -> list[str]:
    """The wire names of the fields in `names` that are set (not `None`) on `model`."""
    fields = type(model).model_fields
    return [fields[name].alias or name for name in names if getattr(model, name) is not None]
