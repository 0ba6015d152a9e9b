"""One model per request type that Vapi waits on, plus the pieces of a tool-calls answer.

Each model checks what Vapi documents as required and the combinations that would make an
answer do nothing, so a handler's mistake surfaces in a test instead of on a live call.
`to_vapi()` (from `OutboundModel`) gives the JSON-ready dict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, model_validator
from pydantic.dataclasses import dataclass

from receiver.responses._base import (
    JsonObject,
    OutboundModel,
    SingleLine,
    VapiAnswer,
    present,
    stringify_result,
)
from receiver.responses.destinations import (
    HandoffDestination,
    InboundDestination,
    TransferDestination,
)
from receiver.responses.messages import CustomMessage, ToolMessage

_RESULT_MESSAGE_TYPES = ("request-complete", "request-failed")
_ENTRY_POINTS = ("assistant_id", "assistant", "squad_id", "squad", "workflow_id", "workflow")


class AssistantResponse(VapiAnswer):
    """The answer to `assistant-request`: who takes this inbound call.

    Give exactly one entry point (`assistant_id`, `assistant`, `squad_id`, `squad`,
    `workflow_id` or `workflow`), or a `destination` to transfer at once without any
    assistant, or an `error` to refuse the call. Vapi's precedence is error > destination >
    entry point.

    Examples:
        `AssistantResponse(assistant_id="5b3c...", assistant_overrides={"variableValues": {}})`
        `AssistantResponse(destination=NumberDestination(number="+14155551234"))`
        `AssistantResponse(error="Sorry, we are closed.")`

    Args:
        assistant_id, squad_id, workflow_id: A saved assistant, squad or workflow.
        assistant, squad, workflow: A transient one (a Create*DTO object).
        assistant_overrides, squad_overrides, workflow_overrides: Settings and
            `variableValues` (template variables) applied on top.
        destination: A number or SIP destination to transfer to, no AI involved.
        error: Spoken to the caller, then the call ends; must not be empty.
    """

    message_type: ClassVar[str] = "assistant-request"

    assistant_id: str | None = None
    assistant: JsonObject | None = None
    squad_id: str | None = None
    squad: JsonObject | None = None
    workflow_id: str | None = None
    workflow: JsonObject | None = None
    assistant_overrides: JsonObject | None = None
    squad_overrides: JsonObject | None = None
    workflow_overrides: JsonObject | None = None
    destination: InboundDestination | None = None
    error: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _says_who_answers(self) -> Self:
        entry_points = present(self, _ENTRY_POINTS)
        if len(entry_points) > 1:
            raise ValueError(
                f"assistant-request answer has {' and '.join(entry_points)}; give exactly one "
                "entry point (it is undefined which one Vapi would use)"
            )
        if not entry_points and self.destination is None and self.error is None:
            raise ValueError(
                "assistant-request answer needs one of assistantId, assistant, squadId, squad, "
                "workflowId, workflow, destination or error"
            )
        return self


class ToolCallResult(OutboundModel):
    """The outcome of one tool call inside a `tool-calls` answer.

    `result` and `error` are converted with `stringify_result` on input (non-strings are
    JSON-encoded, line breaks collapsed), because Vapi reads them only as single-line
    strings. Both are appended to the conversation; on success Vapi speaks `message` (if
    `request-complete`), else the tool's own `request-complete` message, else the model's
    reply; on error the same with `request-failed`.

    Example:
        `ToolCallResult(tool_call_id="call_1", name="get_order", result={"status": "shipped"})`

    Args:
        tool_call_id: Exactly the `toolCallList[i].id` being answered.
        name: The function name; required by Vapi's schema although some docs omit it.
        result: The value on success.
        error: What went wrong, for the model.
        message: A `request-complete` or `request-failed` message to speak.
        metadata: Passed on to clients, not to the model.
    """

    tool_call_id: str
    name: str
    result: SingleLine | None = None
    error: SingleLine | None = None
    message: ToolMessage | None = None
    metadata: JsonObject | None = None

    @model_validator(mode="after")
    def _message_fits(self) -> Self:
        if self.message is not None and self.message.type not in _RESULT_MESSAGE_TYPES:
            raise ValueError(
                "a tool result message must be request-complete or request-failed, "
                f"not {self.message.type}"
            )
        return self


class ToolCallsResponse(VapiAnswer):
    """The answer to `tool-calls`: one result per call in `toolCallList`.

    Example:
        `ToolCallsResponse(results=[ToolCallResult(tool_call_id="call_1", name="f", result="ok")])`

    Args:
        results: One per tool call, ids unique.
        error: An error for the whole request; needed when `results` is empty.
    """

    message_type: ClassVar[str] = "tool-calls"

    results: list[ToolCallResult] = Field(default_factory=list)
    error: SingleLine | None = None

    @model_validator(mode="after")
    def _answers_something(self) -> Self:
        if not self.results and self.error is None:
            raise ValueError("tool-calls answer needs at least one result or an error")
        counts = Counter(result.tool_call_id for result in self.results)
        repeated = sorted(call_id for call_id, count in counts.items() if count > 1)
        if repeated:
            raise ValueError(f"tool-calls answer repeats toolCallId {', '.join(repeated)}")
        return self


def _to_tool_message(value: object) -> object:
    if isinstance(value, Mapping):
        return ToolMessage.model_validate(value)
    return value


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class ToolResult:
    """What a tool function returns when it wants more than a value; never sent itself.

    A tool may return any value (it becomes `result`), raise (it becomes `error`), or
    return a `ToolResult` to set the error text, a spoken message or metadata itself.

    Examples:
        `ToolResult({"status": "shipped"}, message="It has shipped.")`
        `ToolResult(error="No order with that number.", message="Sorry, I could not find it.")`
        `ToolResult("ok", message=ToolMessage.complete("Done.", role="system"))`

    Args:
        result: The value; JSON-encoded unless a str.
        error: Set to report a failure; `result` is then omitted unless also given.
        message: What Vapi says once the tool has answered. A plain string is the natural
            spelling: it becomes `ToolMessage.complete(text)`, or `ToolMessage.failed(text)`
            when `error` is set. A `ToolMessage` (or a mapping with its fields) sets the
            other options. Checked on construction, so the attribute is always a
            `request-complete` or `request-failed` `ToolMessage`, or `None`.
        metadata: Passed on to clients.
    """

    result: Any = None
    error: str | None = None
    message: Annotated[
        ToolMessage | Mapping[str, Any] | str | None, BeforeValidator(_to_tool_message)
    ] = None
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _message_is_a_result_message(self) -> Self:
        # A string is what users write first; it is only ever said after the answer, so its
        # type follows from whether the tool failed. The type check here turns a run-time
        # "invalid answer" on a live call into an error where the ToolResult is built.
        if isinstance(self.message, str):
            spoken = ToolMessage(
                type="request-failed" if self.error is not None else "request-complete",
                content=self.message,
            )
            object.__setattr__(self, "message", spoken)
        elif (
            isinstance(self.message, ToolMessage) and self.message.type not in _RESULT_MESSAGE_TYPES
        ):
            raise ValueError(
                f"a tool result message must be request-complete or request-failed, not "
                f'{self.message.type}: use message="text", ToolMessage.complete(...) or '
                "ToolMessage.failed(...)"
            )
        return self

    def to_tool_call_result(self, tool_call_id: str, name: str) -> ToolCallResult:
        """The `ToolCallResult` for the call `tool_call_id` of function `name`.

        `result` is omitted only when an `error` is given without one. Otherwise it is
        `stringify_result(result)`, so `ToolResult()` answers `"null"`: Vapi needs a
        result for every call, and `null` is what the function returned.

        Raises:
            TypeError: if `result` has no JSON form (see `stringify_result`).
        """
        omit = self.result is None and self.error is not None
        return ToolCallResult(
            tool_call_id=tool_call_id,
            name=name,
            result=None if omit else stringify_result(self.result),
            error=self.error,
            message=self.message,
            metadata=self.metadata,
        )


class TransferDestinationResponse(VapiAnswer):
    """The answer to `transfer-destination-request`: where a `transferCall` goes.

    Example:
        `TransferDestinationResponse(destination=NumberDestination(number="+14155551234"))`

    Args:
        destination: A number, SIP or assistant destination.
        message: Spoken while transferring (any of the four `ToolMessage` types).
        error: Set to not transfer; needed when there is no destination.
    """

    message_type: ClassVar[str] = "transfer-destination-request"

    destination: TransferDestination | None = None
    message: ToolMessage | None = None
    error: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _decides(self) -> Self:
        if self.destination is None and self.error is None:
            raise ValueError(
                "transfer-destination-request answer needs a destination or an error "
                "(error means: do not transfer)"
            )
        return self


class HandoffDestinationResponse(VapiAnswer):
    """The answer to `handoff-destination-request` (a dynamic handoff).

    `destination` is required by Vapi's schema; `{}` or an `error` means no handoff, and the
    error is added to the conversation.

    Example:
        `HandoffDestinationResponse(destination=HandoffAssistantDestination(assistant_name="Billing"))`

    Args:
        destination: A `HandoffAssistantDestination`, `HandoffSquadDestination` or an object.
        result: The tool result recorded for the handoff call (single line).
        error: Why there is no handoff.
    """

    message_type: ClassVar[str] = "handoff-destination-request"

    destination: HandoffDestination
    result: SingleLine | None = None
    error: SingleLine | None = None


class Document(OutboundModel):
    """A retrieved document for a `knowledge-base-request` answer.

    Args:
        content: The text given to the model.
        similarity: Its relevance score.
        uuid: Your id for it.
    """

    content: str
    similarity: float = Field(allow_inf_nan=False)
    uuid: str | None = None


class KnowledgeBaseResponse(VapiAnswer):
    """The answer to `knowledge-base-request`.

    `documents` go to the model with the conversation; a `message` instead bypasses the
    model and is spoken as is. `KnowledgeBaseResponse()` (no documents) lets the model answer
    without retrieved context.

    Example:
        `KnowledgeBaseResponse(documents=[Document(content="Open 9-5.", similarity=0.92)])`

    Args:
        documents: Retrieved documents, best first.
        message: A `CustomMessage`, or a mapping validated as one (`type` optional).
    """

    message_type: ClassVar[str] = "knowledge-base-request"

    documents: list[Document] = Field(default_factory=list)
    message: CustomMessage | None = None


class EndpointingResponse(VapiAnswer):
    """The answer to `call.endpointing.request`.

    Example:
        `EndpointingResponse(timeout_seconds=0.8)`

    Args:
        timeout_seconds: How long to wait after the caller's last words before treating
            the turn as finished; Vapi restarts the wait on every new transcript. A finite
            number >= 0 (an int or float; strings and bools are refused).
    """

    message_type: ClassVar[str] = "call.endpointing.request"

    timeout_seconds: float = Field(ge=0, allow_inf_nan=False, strict=True)


class PredialResponse(VapiAnswer):
    """The answer to `campaign.predial`: whether to dial this campaign contact.

    `eligible` must be a real bool: Vapi counts anything but a JSON boolean as a pre-dial
    failure, so `"true"` or `1` is refused here rather than coerced.

    Example:
        `PredialResponse(eligible=True)`
    """

    message_type: ClassVar[str] = "campaign.predial"

    eligible: StrictBool


class FunctionCallResponse(VapiAnswer):
    """The answer to the legacy `function-call` message: `{"result": "<string>"}`.

    There is no error field; report failures inside `result`. Non-strings are JSON-encoded.

    Example:
        `FunctionCallResponse(result={"temperature": 21})`
    """

    message_type: ClassVar[str] = "function-call"

    result: SingleLine
