"""Turning whatever a handler returned into the JSON dict sent to Vapi, or a clear error."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticSerializationError

from receiver.errors import ReceiverError
from receiver.responses._base import UNION_TAGS, OutboundModel, VapiAnswer
from receiver.responses.answers import (
    AssistantResponse,
    EndpointingResponse,
    FunctionCallResponse,
    HandoffDestinationResponse,
    KnowledgeBaseResponse,
    PredialResponse,
    ToolCallsResponse,
    ToolResult,
    TransferDestinationResponse,
)

logger = logging.getLogger("vapi_receiver")


class InvalidAnswer(ReceiverError, ValueError):
    """A handler's answer cannot be sent to Vapi; the message names the field and why.

    The receiver logs it and sends the safe fallback for the message type instead, since a
    malformed answer would fail the call in ways that are much harder to diagnose.
    """


RESPONSE_MODELS: Final[dict[str, type[VapiAnswer]]] = {
    model.message_type: model
    for model in (
        AssistantResponse,
        ToolCallsResponse,
        TransferDestinationResponse,
        HandoffDestinationResponse,
        KnowledgeBaseResponse,
        EndpointingResponse,
        PredialResponse,
        FunctionCallResponse,
    )
}
"""The answer model of every request type whose answer is JSON.

`voice-request` is deliberately absent: its answer is raw PCM audio (mono, signed 16-bit
little-endian at the requested `sampleRate`), not a JSON object, so no model applies.
"""

_MAX_SHOWN = 60
_MAX_REMEMBERED = 1000
_already_reported: set[tuple[str, tuple[str, ...]]] = set()


def answer_to_json(message_type: str, answer: object) -> dict[str, Any]:
    """Validate a handler's answer and return the dict to send as the JSON body.

    Accepts an instance of `RESPONSE_MODELS[message_type]` or a plain mapping, which is
    validated against that model (camelCase or snake_case keys). Keys the model does not
    know, at any depth, are passed through (Vapi may have added them) but reported: the
    first time a given set of unknown keys is seen for a message type it is logged as a
    warning on the `vapi_receiver` logger, later repeats at debug level, so a typo such as
    `reslt` is noticed without flooding the log on every call.

    Args:
        message_type: The request's `message.type`, e.g. `"tool-calls"`.
        answer: What the handler returned.

    Returns:
        The bare answer object (never wrapped in `messageResponse`), by alias, `None`
        fields omitted, e.g. `{"results": [{"toolCallId": "c1", "name": "f", "result": "ok"}]}`.

    Raises:
        InvalidAnswer: for a type without a JSON answer, a model of another type, a value
            that is neither model nor mapping, or a mapping that fails validation; the
            message names the offending field, e.g. `invalid tool-calls answer:
            results[0].name: Field required`.
    """
    model = RESPONSE_MODELS.get(message_type)
    if model is None:
        if message_type == "voice-request":
            raise InvalidAnswer(
                "voice-request is answered with raw PCM audio bytes, not a JSON object"
            )
        raise InvalidAnswer(f"{message_type!r} is not a request type with a JSON answer")
    if isinstance(answer, model):
        instance: VapiAnswer = answer
    elif isinstance(answer, Mapping):
        instance = _validate_mapping(message_type, model, answer)
    else:
        raise InvalidAnswer(_wrong_kind(message_type, model, answer))
    _report_unknown_keys(message_type, instance)
    try:
        return instance.to_vapi()
    except PydanticSerializationError as exc:
        raise InvalidAnswer(f"{message_type} answer cannot be encoded as JSON: {exc}") from exc


def _validate_mapping(
    message_type: str, model: type[VapiAnswer], answer: Mapping[Any, Any]
) -> VapiAnswer:
    bad_keys = [key for key in answer if not isinstance(key, str)]
    if bad_keys:
        raise InvalidAnswer(f"{message_type} answer keys must be strings, not {_show(bad_keys[0])}")
    try:
        return model.model_validate(dict(answer))
    except ValidationError as exc:
        raise InvalidAnswer(describe_errors(message_type, exc)) from exc


def _wrong_kind(message_type: str, model: type[VapiAnswer], answer: object) -> str:
    expected = f"a {message_type} answer must be a {model.__name__} or a mapping"
    if isinstance(answer, VapiAnswer):
        return f"{expected}, not {type(answer).__name__} (the answer to {answer.message_type})"
    if isinstance(answer, ToolResult):
        return (
            f"{expected}, not ToolResult (a ToolResult is what one tool function returns; "
            "the receiver builds the tool-calls answer from it)"
        )
    return f"{expected}, not {type(answer).__name__}"


def describe_errors(message_type: str, exc: ValidationError) -> str:
    """A one-line, human account of a validation failure of a `message_type` answer.

    Each problem is `path: reason`, paths in wire spelling (`results[0].toolCallId`);
    the answer-level rules, which already name the type, stand alone.
    """
    problems = [_describe_one(message_type, error) for error in exc.errors(include_url=False)]
    text = "; ".join(problems)
    return text if text.startswith(message_type) else f"invalid {message_type} answer: {text}"


def _describe_one(message_type: str, error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    reason = (
        str(ctx["error"]) if error["type"] == "value_error" and "error" in ctx else error["msg"]
    )
    if error["type"] not in ("missing", "value_error"):
        reason = f"{reason} (got {_show(error['input'])})"
    path = _path(error["loc"])
    return f"{path}: {reason}" if path else reason


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in UNION_TAGS:
            text += f".{part}" if text else part
    return text


def _show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


def unknown_keys(model: BaseModel) -> list[str]:
    """Paths of the keys in `model` and its nested models that no field declares.

    Free-form objects (an `assistant`, overrides, metadata) are not looked into.
    """
    return sorted(_walk_extras(model, ""))


def _walk_extras(value: object, prefix: str) -> Iterator[str]:
    if isinstance(value, OutboundModel):
        for key in value.model_extra or {}:
            yield f"{prefix}.{key}" if prefix else key
        for name in type(value).model_fields:
            alias = type(value).model_fields[name].alias or name
            yield from _walk_extras(getattr(value, name), f"{prefix}.{alias}" if prefix else alias)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_extras(item, f"{prefix}[{index}]")


def _report_unknown_keys(message_type: str, instance: VapiAnswer) -> None:
    keys = tuple(unknown_keys(instance))
    if not keys:
        return
    seen = (message_type, keys)
    level = logging.DEBUG if seen in _already_reported else logging.WARNING
    if len(_already_reported) < _MAX_REMEMBERED:
        _already_reported.add(seen)
    logger.log(
        level,
        "%s answer has keys this receiver does not know, sent as is: %s "
        "(a typo, or a field newer than this receiver?)",
        message_type,
        ", ".join(keys),
    )
