"""Safe answers for when a request type has no handler, or its handler fails or overruns.

Every request type gets an answer that is valid for Vapi and that does the least harm when
we do not know what the right answer is: refuse rather than guess, never transfer or dial
on a guess, keep the call going where that is possible. Each function returns a new dict,
ready to send as the JSON body (docs/protocol.md#receiver-decisions, decisions 4 and 5).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from receiver.responses._base import stringify_result
from receiver.responses.answers import (
    AssistantResponse,
    EndpointingResponse,
    FunctionCallResponse,
    HandoffDestinationResponse,
    KnowledgeBaseResponse,
    PredialResponse,
    TransferDestinationResponse,
)

ASSISTANT_REQUEST_ERROR: Final = (
    "Sorry, we cannot take your call right now. Please try again later."
)
"""Spoken to the caller, so it is written for them and reveals nothing about the failure."""

TRANSFER_ERROR: Final = "No transfer destination is available; the call was not transferred."
"""Read by the assistant's model, which keeps the call and can tell the caller."""

HANDOFF_ERROR: Final = "No handoff destination is available; the call was not handed off."
"""Added to the conversation, so the current assistant knows why it still has the call."""

TOOL_ERROR: Final = "The tool failed and returned no result."
"""Default per-call error of a tool-calls fallback, read by the model."""

FUNCTION_CALL_ERROR: Final = "Error: the function failed and returned no result."
"""The legacy answer has only `result`, so the failure is spelled out in it."""

SAFE_ENDPOINTING_SECONDS: Final = 1.5
"""Vapi's own wait when it cannot tell whether the caller has finished
(`transcriptionEndpointingPlan.onNoPunctuationSeconds` defaults to 1.5 s)."""


def safe_assistant_request(error: str = ASSISTANT_REQUEST_ERROR) -> dict[str, Any]:
    """`{"error": ...}`: refuse the call politely.

    Safe because any assistant we picked without the handler could be the wrong one (wrong
    customer, language, tenant or permissions); an error is spoken and the call ends with
    `assistant-request-returned-error`. Note that Vapi uses the phone number's
    `fallbackDestination` only when the request *fails*, not for an error answer; to
    transfer instead, configure a destination answer as the fallback.
    """
    return AssistantResponse(error=error or ASSISTANT_REQUEST_ERROR).to_vapi()


def safe_tool_calls(calls: Iterable[tuple[str, str]], error: str = TOOL_ERROR) -> dict[str, Any]:
    """`{"results": [{"toolCallId", "name", "error"}, ...]}`: one error per tool call.

    Safe because Vapi matches results to calls by `toolCallId`: an error for each id lets
    the model (or the tool's `request-failed` message) tell the caller it did not work,
    instead of waiting for a result that never comes or inventing one. Built without
    validation so that it cannot fail even on a malformed request; with no calls it is
    `{"results": [], "error": ...}`.

    Args:
        calls: `(toolCallId, function name)` of every call in the request.
        error: Why they failed, e.g. `"get_order timed out after 15 s"`; made single-line.
    """
    text = stringify_result(error or TOOL_ERROR)
    results = [{"toolCallId": call_id, "name": name, "error": text} for call_id, name in calls]
    return {"results": results} if results else {"results": [], "error": text}


def safe_transfer_destination(error: str = TRANSFER_ERROR) -> dict[str, Any]:
    """`{"error": ...}`: do not transfer.

    Safe because transferring a caller to a guessed number or SIP URI could connect them
    to a stranger (and cost money); with an error the assistant keeps the call and can
    explain.
    """
    return TransferDestinationResponse(error=error or TRANSFER_ERROR).to_vapi()


def safe_handoff_destination(error: str = HANDOFF_ERROR) -> dict[str, Any]:
    """`{"destination": {}, "error": ...}`: no handoff.

    `destination` is required by Vapi's schema, and an empty one means no handoff; the
    error is added to the conversation so the current assistant, which keeps the call,
    knows why.
    """
    return HandoffDestinationResponse(destination={}, error=error or HANDOFF_ERROR).to_vapi()


def safe_knowledge_base() -> dict[str, Any]:
    """`{"documents": []}`: no retrieved context.

    Safe because the model then answers from its prompt alone, as if nothing relevant was
    found; a `message` would instead make the assistant say canned text to every question.
    """
    return KnowledgeBaseResponse().to_vapi()


def safe_endpointing() -> dict[str, Any]:
    """`{"timeoutSeconds": 1.5}`: wait as Vapi does when it is unsure the caller finished.

    Cutting a caller off mid-sentence is worse than a second of extra silence, and Vapi
    restarts the wait on every new transcript, so a generous value costs little; 1.5 s is
    Vapi's own default for that uncertain case (`onNoPunctuationSeconds`). The documented
    example of 0.5 s is a value for a model that *knows* the turn is over.
    """
    return EndpointingResponse(timeout_seconds=SAFE_ENDPOINTING_SECONDS).to_vapi()


def safe_predial() -> dict[str, Any]:
    """`{"eligible": false}`: do not dial this contact.

    Not calling is the safe failure: a campaign call placed without the eligibility check
    (consent, do-not-call lists, business hours) cannot be undone. Vapi also treats any
    non-boolean answer as "do not dial"; `false` records the contact as skipped.
    """
    return PredialResponse(eligible=False).to_vapi()


def safe_function_call(error: str = FUNCTION_CALL_ERROR) -> dict[str, Any]:
    """`{"result": "Error: ..."}`: the legacy answer has no error field, so say it in `result`.

    The model reads the sentence and can tell the caller, instead of treating silence or an
    empty string as success.
    """
    return FunctionCallResponse(result=error or FUNCTION_CALL_ERROR).to_vapi()


def safe_answer(
    message_type: str,
    *,
    error: str | None = None,
    tool_calls: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The safe answer for `message_type`; see the `safe_*` function of each type.

    Every `safe_*` function replaces an empty error text by its default, so a fallback
    never fails to build.

    Args:
        message_type: A request type in `RESPONSE_MODELS`.
        error: Replaces the default error text where the answer has one (assistant-request,
            tool-calls, transfer, handoff, function-call); ignored elsewhere.
        tool_calls: For tool-calls, `(toolCallId, name)` of every call.

    Raises:
        KeyError: for `voice-request` (answer raw audio, or nothing) and types that are not
            answered at all.
    """
    if message_type == "tool-calls":
        return safe_tool_calls(tool_calls, error or TOOL_ERROR)
    with_error = {
        "assistant-request": (safe_assistant_request, ASSISTANT_REQUEST_ERROR),
        "transfer-destination-request": (safe_transfer_destination, TRANSFER_ERROR),
        "handoff-destination-request": (safe_handoff_destination, HANDOFF_ERROR),
        "function-call": (safe_function_call, FUNCTION_CALL_ERROR),
    }
    if message_type in with_error:
        build, default = with_error[message_type]
        return build(error or default)
    without_error = {
        "knowledge-base-request": safe_knowledge_base,
        "call.endpointing.request": safe_endpointing,
        "campaign.predial": safe_predial,
    }
    if message_type in without_error:
        return without_error[message_type]()
    raise KeyError(f"{message_type!r} has no JSON fallback answer")
