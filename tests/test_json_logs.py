"""`JsonLineFormatter`: one JSON object per line, with the fields the receiver attaches."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.testclient import TestClient

from receiver import ConfigError, JsonLineFormatter, Receiver
from receiver.log import OneLineFilter, message_fields, show_lines
from receiver.testing import make_message
from tests.helpers import SECRET, post


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(OneLineFilter())
    logger = logging.getLogger("test_json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_time_level_logger_message_and_extra_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    fields = message_fields({"type": "status-update", "call": {"id": "call-9"}})
    logger.info("answered %d in %.1f ms", 200, 0.4, extra={**fields, "latency_ms": 0.4})
    (line,) = lines(stream)
    assert line.pop("time").endswith("+00:00")
    assert line == {
        "level": "INFO",
        "logger": "test_json_logs",
        "message": "answered 200 in 0.4 ms",
        "message_type": "status-update",
        "call_id": "call-9",
        "latency_ms": 0.4,
    }  # ids the payload lacked are left out, not null


def test_payload_text_cannot_break_the_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    hostile = 'call-1\n{"level": "CRITICAL", "message": "forged"}\u2028\x1b[2J'
    try:
        raise ValueError(hostile)
    except ValueError:
        logger.exception("failed for %s", hostile, extra={"call_id": hostile})
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.isascii()
    (line,) = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback") and "ValueError" in line["exception"]
    assert "forged" in line["call_id"]  # kept as data, inside its own field


def test_values_json_cannot_encode_are_written_as_text(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.warning("odd", extra={"when": object, "color_message": "\x1b[1modd\x1b[0m"})
    (line,) = lines(stream)
    assert line["when"] == "<class 'object'>"
    assert "color_message" not in line  # uvicorn's coloured copy of the message


def test_the_current_span_ties_the_line_to_its_trace(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    with TracerProvider().get_tracer("t").start_as_current_span("work") as span:
        logger.info("inside")
    logger.info("outside")
    inside, outside = lines(stream)
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in outside


def test_a_dict_config_can_name_the_formatter() -> None:
    handler = logging.StreamHandler(io.StringIO())
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "receiver.JsonLineFormatter"}},
        "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"test_json_logs.dict": {"handlers": ["h"], "propagate": False}},
    }
    logging.config.dictConfig(config)
    configured = logging.getLogger("test_json_logs.dict")
    assert isinstance(configured.handlers[0].formatter, JsonLineFormatter)
    configured.handlers.clear()
    handler.close()


def test_log_format_is_checked() -> None:
    with pytest.raises(ConfigError, match="log_format must be one of 'text', 'json', not 'xml'"):
        Receiver(config={"org": {"secret": SECRET}, "receiver": {"log_format": "xml"}})
    receiver = Receiver(config={"org": {"secret": SECRET}}, log_format="json")
    assert receiver.config.log_format == "json"


def test_json_asked_for_while_the_application_configured_logging_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="vapi_receiver"):  # a handler is in place
        show_lines("json")
    assert any("receiver.JsonLineFormatter()" in r.getMessage() for r in caplog.records)


def test_the_receiver_lines_carry_their_fields_as_json(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(config={"org": {"secret": SECRET}})
    with TestClient(receiver.app) as client, caplog.at_level(logging.INFO, "vapi_receiver"):
        post(client, make_message("hang", call_id="call-77"))
    formatter = JsonLineFormatter()
    answered = next(r for r in caplog.records if r.getMessage().startswith("answered"))
    line = json.loads(formatter.format(answered))
    assert line["call_id"] == "call-77" and line["message_type"] == "hang"
    assert SECRET not in json.dumps([formatter.format(r) for r in caplog.records])
