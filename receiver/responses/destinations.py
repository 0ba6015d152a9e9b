"""Where a call goes: transfer destinations and handoff destinations.

The length limits are the ones Vapi's API enforces (OpenAPI `TransferDestinationNumber`);
the SDK does not check them, so without this a too-long caller id would only be found out
when a live transfer fails.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from receiver.responses._base import (
    JsonObject,
    OutboundModel,
    present,
    tag_by_type,
    tag_str_or_model,
)
from receiver.responses.messages import CustomMessage

TransferMode = Literal[
    "rolling-history",
    "swap-system-message-in-history",
    "swap-system-message-in-history-and-remove-transfer-tool-messages",
    "delete-history",
]

SpokenBeforeTransfer = Annotated[
    Annotated[str, Tag("str")] | Annotated[CustomMessage, Tag("CustomMessage")],
    Discriminator(tag_str_or_model("CustomMessage")),
]
"""Said to the caller before connecting: a string (`""` transfers silently) or a
`CustomMessage` with language variants. Without it Vapi says "Transferring the call now"."""


class NumberDestination(OutboundModel):
    """Transfer to a phone number.

    Example:
        `NumberDestination(number="+14155551234", message="Connecting you to sales.")`

    Args:
        number: E.164 by default (`+14155551234`), 3 to 40 characters.
        extension: Digits dialled after connecting, 1 to 10 characters.
        caller_id: Caller id shown to the destination, at most 40 characters; also
            `"{{customer.number}}"` or `"{{phoneNumber.number}}"`.
        message: Said before connecting; see `SpokenBeforeTransfer`.
        transfer_plan: Vapi's `TransferPlan` object (blind transfer if absent).
        number_e164_check_enabled: `False` allows non-E.164 numbers on SIP trunks
            (alphanumeric with an optional leading `+`).
        name: Your label for the destination, shown in the call log.
        description: Used by the model to choose a destination.
    """

    type: Literal["number"] = "number"
    number: str = Field(min_length=3, max_length=40)
    extension: str | None = Field(default=None, min_length=1, max_length=10)
    caller_id: str | None = Field(default=None, max_length=40)
    message: SpokenBeforeTransfer | None = None
    transfer_plan: JsonObject | None = None
    number_e164_check_enabled: bool | None = None
    name: str | None = None
    description: str | None = None


class SipDestination(OutboundModel):
    """Transfer to a SIP URI.

    Example:
        `SipDestination(sip_uri="sip:desk@pbx.example.com", sip_headers={"X-Ticket": "42"})`

    Args:
        sip_uri: The SIP URI to transfer to.
        sip_headers: Extra headers added to the SIP REFER.
        caller_id: At most 40 characters; only with `transferPlan.sipVerb="dial"`.
        message: Said before connecting; see `SpokenBeforeTransfer`.
        transfer_plan: Vapi's `TransferPlan` object.
        name: Your label for the destination.
        description: Used by the model to choose a destination.
    """

    type: Literal["sip"] = "sip"
    sip_uri: str = Field(min_length=1)
    sip_headers: JsonObject | None = None
    caller_id: str | None = Field(default=None, max_length=40)
    message: SpokenBeforeTransfer | None = None
    transfer_plan: JsonObject | None = None
    name: str | None = None
    description: str | None = None


class AssistantDestination(OutboundModel):
    """Transfer to another assistant of the squad (transfer-destination-request only).

    Example:
        `AssistantDestination(assistant_name="Billing", transfer_mode="rolling-history")`

    Args:
        assistant_name: The squad member's name.
        transfer_mode: What happens to the conversation history; `rolling-history` if absent.
        message: Said before the switch; see `SpokenBeforeTransfer`.
        name: Your label for the destination.
        description: Used by the model to choose a destination.
    """

    type: Literal["assistant"] = "assistant"
    assistant_name: str = Field(min_length=1)
    transfer_mode: TransferMode | None = None
    message: SpokenBeforeTransfer | None = None
    name: str | None = None
    description: str | None = None


InboundDestination = Annotated[
    Annotated[NumberDestination, Tag("NumberDestination")]
    | Annotated[SipDestination, Tag("SipDestination")],
    Discriminator(
        tag_by_type({"number": "NumberDestination", "sip": "SipDestination"}),
        custom_error_type="destination_type",
        custom_error_message="must be a number or sip destination (type 'number' or 'sip')",
    ),
]
"""The destinations an assistant-request answer may transfer to."""

TransferDestination = Annotated[
    Annotated[NumberDestination, Tag("NumberDestination")]
    | Annotated[SipDestination, Tag("SipDestination")]
    | Annotated[AssistantDestination, Tag("AssistantDestination")],
    Discriminator(
        tag_by_type(
            {
                "number": "NumberDestination",
                "sip": "SipDestination",
                "assistant": "AssistantDestination",
            }
        ),
        custom_error_type="destination_type",
        custom_error_message=(
            "must be a number, sip or assistant destination (type 'number', 'sip' or 'assistant')"
        ),
    ),
]
"""The destinations a transfer-destination-request answer may name."""


class HandoffAssistantDestination(OutboundModel):
    """Hand the call to an assistant, in answer to a dynamic handoff.

    Example:
        `HandoffAssistantDestination(assistant_id="a1b2...", variable_extraction_plan={...})`

    Args:
        assistant_id: A saved assistant.
        assistant_name: A squad member by name.
        assistant: A transient assistant (a `CreateAssistantDTO` object).
        assistant_overrides: Overrides applied to the destination assistant.
        variable_extraction_plan: Variables to extract from the conversation for it.
        context_engineering_plan: How the history is trimmed before the handoff.
        description: Used by the model to choose a destination.
    """

    type: Literal["assistant"] = "assistant"
    assistant_id: str | None = None
    assistant_name: str | None = None
    assistant: JsonObject | None = None
    assistant_overrides: JsonObject | None = None
    variable_extraction_plan: JsonObject | None = None
    context_engineering_plan: JsonObject | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _names_an_assistant(self) -> Self:
        if not present(self, ("assistant_id", "assistant_name", "assistant")):
            raise ValueError(
                "an assistant handoff destination needs assistantId, assistantName or assistant"
            )
        return self


class HandoffSquadDestination(OutboundModel):
    """Hand the call to a squad, in answer to a dynamic handoff.

    Example:
        `HandoffSquadDestination(squad_id="s1...", entry_assistant_name="Triage")`

    Args:
        squad_id: A saved squad.
        squad: A transient squad (a `CreateSquadDTO` object).
        entry_assistant_name: The member to start with; the first one if absent.
        squad_overrides: Overrides applied to every member.
        variable_extraction_plan: Variables to extract from the conversation.
        context_engineering_plan: How the history is trimmed before the handoff.
        description: Used by the model to choose a destination.
    """

    type: Literal["squad"] = "squad"
    squad_id: str | None = None
    squad: JsonObject | None = None
    entry_assistant_name: str | None = None
    squad_overrides: JsonObject | None = None
    variable_extraction_plan: JsonObject | None = None
    context_engineering_plan: JsonObject | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _names_a_squad(self) -> Self:
        if not present(self, ("squad_id", "squad")):
            raise ValueError("a squad handoff destination needs squadId or squad")
        return self


def _handoff_tag(value: Any) -> str:
    return (
        tag_by_type(
            {"assistant": "HandoffAssistantDestination", "squad": "HandoffSquadDestination"}
        )(value)
        or "dict"
    )


HandoffDestination = Annotated[
    Annotated[HandoffAssistantDestination, Tag("HandoffAssistantDestination")]
    | Annotated[HandoffSquadDestination, Tag("HandoffSquadDestination")]
    | Annotated[dict[str, Any], Tag("dict")],
    Discriminator(_handoff_tag),
]
"""A handoff destination: assistant and squad destinations are checked, any other object
(including `{}`, which means "no handoff") is passed through, as the SDK types it as an
arbitrary object."""
