"""The table of message types is complete, and the lists users see are read from it."""

from __future__ import annotations

import dataclasses

import pytest

from receiver import ReceiverConfig
from receiver.cli import main
from receiver.diagnosis import diagnose
from receiver.errors import RegistrationError
from receiver.message_types import INFORMATIONAL_TYPES, KNOWN_TYPES, REQUEST_TYPES
from receiver.models import Message
from receiver.models.catalogue import JSON, SPECS
from receiver.registry import HandlerRegistry
from receiver.responses import RESPONSE_MODELS, answer_to_json
from receiver.samples import MESSAGE_TYPES, make_message


def test_every_request_type_has_a_complete_row() -> None:
    config_fields = {field.name for field in dataclasses.fields(ReceiverConfig)}
    for name in REQUEST_TYPES:
        spec = SPECS[name]
        assert spec.name == name
        assert issubclass(spec.model, Message), name
        assert spec.budget in config_fields, name
        assert spec.fallback is not None, name
        if spec.media_type == JSON:
            assert spec.answer is RESPONSE_MODELS[name], name
        else:
            assert spec.answer is None, name  # audio has no JSON model
        assert spec.fallback_setting is None or spec.fallback_setting in config_fields


def test_informational_rows_have_no_answer_budget_or_fallback() -> None:
    for name in INFORMATIONAL_TYPES:
        spec = SPECS[name]
        assert issubclass(spec.model, Message), name
        assert (spec.answer, spec.fallback, spec.budget, spec.tools) == (None, None, None, False)


@pytest.mark.parametrize("name", REQUEST_TYPES)
def test_every_fallback_is_a_valid_answer_for_its_type(name: str) -> None:
    raw = make_message(name)["message"]
    fallback = SPECS[name].fallback
    assert fallback is not None
    answer = fallback(raw)
    if SPECS[name].media_type == JSON:
        assert isinstance(answer, dict)
        assert answer_to_json(name, answer) == answer
    else:
        assert answer == b""


def test_the_table_lists_each_known_type_once() -> None:
    assert set(REQUEST_TYPES).isdisjoint(INFORMATIONAL_TYPES)
    assert KNOWN_TYPES == set(REQUEST_TYPES) | set(INFORMATIONAL_TYPES) == set(SPECS)
    # The factories build every type, those without a model of their own as the envelope.
    assert set(MESSAGE_TYPES) == set(SPECS)


def test_send_lists_the_tables_types_in_its_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "--list"]) == 0
    listed = [line.strip() for line in capsys.readouterr().out.splitlines() if line[:1] == " "]
    assert listed == [t for t in (*REQUEST_TYPES, *INFORMATIONAL_TYPES) if t in MESSAGE_TYPES]


def test_the_registry_accepts_exactly_the_tables_types() -> None:
    registry = HandlerRegistry()
    for name in SPECS:
        registry.add(name, lambda message: None)
    assert {n for n in SPECS if registry.responder(n)} == set(REQUEST_TYPES)
    with pytest.raises(RegistrationError, match="did you mean 'tool-calls'"):
        registry.add("tool-call", lambda message: None)


def test_doctor_has_a_row_per_type_in_the_tables_order() -> None:
    scenario = diagnose(ReceiverConfig(insecure=True)).scenarios[0]
    names = list(dict.fromkeys(row.message_type for row in scenario.rows))
    assert names == [*REQUEST_TYPES, *INFORMATIONAL_TYPES]
    assert all(row.request == SPECS[row.message_type].request for row in scenario.rows)
