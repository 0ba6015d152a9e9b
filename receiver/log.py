"""The package's one logger, and the fields every line about a message carries.

Fields go both into the text (readable in a terminal) and into `extra` (for JSON log
formatters), so a line can be traced to its call without the body ever being logged.

Log lines interpolate values from payloads (ids, types, tool names, error texts): a newline
in one would let a sender write a line of its own. The logger escapes every control and
non-printable character in the text of its lines, and `message_fields` in the fields.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import traceback
from collections.abc import Mapping
from typing import Any, Final

LOGGER_NAME: Final = "vapi_receiver"
logger: Final = logging.getLogger(LOGGER_NAME)

#: The format of the lines when the application configured no logging (`show_lines`).
DEFAULT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


#: uvicorn's loggers with handlers of their own, which `show_lines` gives its format.
_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.access")


def show_lines(log_format: str = "text") -> None:
    """Give the receiver's logger a stderr handler at INFO (or uvicorn's `--log-level`, when
    higher) when nothing would show its lines.

    `uvicorn my_app:app` configures only uvicorn's own loggers: without this, the INFO lines
    (start-up, every answer) are dropped and warnings come out bare through Python's
    last-resort handler. Called when the app starts, after the application module has run,
    so any logging it configured (`logging.basicConfig`, uvicorn's `--log-config`, a
    handler on `vapi_receiver`) is already in place and wins: then this does nothing.

    uvicorn's own handlers, when they still have uvicorn's default formatters, get the same
    format, so that from here on every line has its time, level and logger name (or is one
    JSON object).

    Args:
        log_format: `"text"` (`DEFAULT_FORMAT`) or `"json"` (`JsonLineFormatter`).
    """
    if logger.hasHandlers():
        if log_format == "json" and not _shows_json():
            logger.warning(
                "log_format = 'json' is not applied: the application configured logging "
                "itself; give its handlers receiver.JsonLineFormatter() instead"
            )
        return
    formatter = JsonLineFormatter() if log_format == "json" else logging.Formatter(DEFAULT_FORMAT)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        # `uvicorn --log-level warning` sets uvicorn's loggers, not ours: follow it, so that
        # a quiet server does not format and write a line for every answer.
        chosen = logging.getLogger("uvicorn.error").level
        logger.setLevel(chosen if chosen > logging.INFO else logging.INFO)
    for name in _UVICORN_LOGGERS:
        for theirs in logging.getLogger(name).handlers:
            if type(theirs.formatter).__module__ == "uvicorn.logging":  # its defaults, untouched
                theirs.setFormatter(formatter)


def _shows_json() -> bool:
    current: logging.Logger | None = logger
    while current is not None:
        if any(isinstance(h.formatter, JsonLineFormatter) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


#: Attributes every `LogRecord` has (the others were added through `extra`), and uvicorn's
#: copy of its message with terminal colours.
_NOT_FIELDS: Final = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        *("message", "asctime", "taskName", "color_message"),
    }
)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's fields.

    The fields are what the record got through `extra`: for the receiver's lines the
    message type, call, assistant and phone number ids and, where timed, `latency_ms`
    (`message_fields`). An exception comes as its traceback text under `exception`; while an
    OpenTelemetry span is current, `trace_id` and `span_id` tie the line to its trace.

    Non-ASCII characters are escaped, so no value can break the line. Use it as the formatter
    of any handler: `logging.StreamHandler().setFormatter(JsonLineFormatter())`, or in a
    `dictConfig` as `{"()": "receiver.JsonLineFormatter"}`.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _NOT_FIELDS and value is not None and key not in line:
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        line.update(_trace_ids())
        return json.dumps(line, default=str)


def _trace_ids() -> dict[str, str]:
    global _current_span
    if _current_span is None:
        try:
            from opentelemetry.trace import get_current_span
        except ImportError:
            _current_span = False
        else:
            _current_span = get_current_span
    if _current_span is False:
        return {}
    context = _current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


#: OpenTelemetry's `get_current_span` once looked up; `False` when it is not installed.
_current_span: Any = None


def printable(text: str) -> str:
    r"""`text` with every control or non-printable character escaped (`\n` as `\x0a`).

    Backslashes are kept as they are, so escaping twice changes nothing.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def message_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    """Non-secret identifiers of a raw message: type, call id, assistant and phone number."""
    call = message.get("call")
    call = call if isinstance(call, Mapping) else {}
    return {
        "message_type": _short_id(message.get("type")),
        "call_id": _short_id(call.get("id")),
        "assistant_id": _short_id(call.get("assistantId")),
        "phone_number_id": _short_id(call.get("phoneNumberId")),
    }


def describe(fields: Mapping[str, Any]) -> str:
    """`key=value` pairs for the text of a log line, skipping empty ones."""
    return " ".join(f"{key}={value}" for key, value in fields.items() if value not in (None, ""))


class OneLineFilter(logging.Filter):
    """Escapes what a record interpolates: no value can add a line, or rewrite a terminal.

    The receiver's logger has one. Add one to your own loggers (or to a handler, to cover
    every logger it serves) when they interpolate payload values such as a call id.

    Arguments are wrapped, not formatted, so that the message stays a template (log services
    group records by it) and numbers keep their `%d` and `%.1f`. A traceback keeps its
    lines, but the messages of its exceptions (which may quote a payload, as a handler's
    `ValueError(call.id)` does) are escaped in it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = printable(record.msg)  # an f-string would carry payload text here
        if isinstance(record.args, Mapping):
            record.args = {key: _Escaped.wrap(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_Escaped.wrap(value) for value in record.args)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = _traceback(record.exc_info[1])
        return True


class _Escaped:
    """A logged value whose `%s` and `%r` come out printable."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    @classmethod
    def wrap(cls, value: object) -> object:
        return value if isinstance(value, int | float) else cls(value)

    def __str__(self) -> str:
        return printable(str(self.value))

    def __repr__(self) -> str:
        return printable(repr(self.value))


def _traceback(error: BaseException) -> str:
    text = "".join(traceback.format_exception(error)).rstrip("\n")
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # the chain of causes
        seen.add(id(current))
        with contextlib.suppress(Exception):  # an exception whose str() fails shows as such
            message = str(current)
            if not message.isprintable():
                text = text.replace(message, printable(message))
        current = current.__cause__ or current.__context__
    return text


def _short_id(value: object) -> str | None:
    # Ids are short strings; anything else (or something huge) is not worth logging.
    return printable(value[:100]) if isinstance(value, str) else None


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


logger.addFilter(OneLineFilter())
