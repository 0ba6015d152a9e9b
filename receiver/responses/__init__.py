"""Typed answers to Vapi's request messages, and validation of answers given as dicts.

A handler answers a request type with the model for it (see `RESPONSE_MODELS`) or with a
plain dict; `answer_to_json` turns either into the exact JSON object Vapi reads, or raises
`InvalidAnswer` naming the field at fault. The `safe_*` functions give the safe answer
when there is no handler or it fails. `voice-request` is not here: it is answered with raw
PCM audio, not JSON.

Example:
    >>> answer_to_json("campaign.predial", PredialResponse(eligible=True))
    {'eligible': True}
    >>> answer_to_json("tool-calls", {"results": [{"toolCallId": "c1", "name": "f", "result": 1}]})
    {'results': [{'toolCallId': 'c1', 'name': 'f', 'result': '1'}]}
"""

from __future__ import annotations

from receiver.responses._base import OutboundModel, VapiAnswer, stringify_result
from receiver.responses.answers import (
    AssistantResponse,
    Document,
    EndpointingResponse,
    FunctionCallResponse,
    HandoffDestinationResponse,
    KnowledgeBaseResponse,
    PredialResponse,
    ToolCallResult,
    ToolCallsResponse,
    ToolResult,
    TransferDestinationResponse,
)
from receiver.responses.destinations import (
    AssistantDestination,
    HandoffAssistantDestination,
    HandoffDestination,
    HandoffSquadDestination,
    InboundDestination,
    NumberDestination,
    SipDestination,
    TransferDestination,
    TransferMode,
)
from receiver.responses.messages import CustomMessage, TextContent, ToolMessage, ToolMessageType
from receiver.responses.safe_answers import (
    ASSISTANT_REQUEST_ERROR,
    FUNCTION_CALL_ERROR,
    HANDOFF_ERROR,
    SAFE_ENDPOINTING_SECONDS,
    TOOL_ERROR,
    TRANSFER_ERROR,
    safe_answer,
    safe_assistant_request,
    safe_endpointing,
    safe_function_call,
    safe_handoff_destination,
    safe_knowledge_base,
    safe_predial,
    safe_tool_calls,
    safe_transfer_destination,
)
from receiver.responses.validation import (
    RESPONSE_MODELS,
    InvalidAnswer,
    answer_to_json,
    describe_errors,
    unknown_keys,
)

__all__ = [
    "ASSISTANT_REQUEST_ERROR",
    "FUNCTION_CALL_ERROR",
    "HANDOFF_ERROR",
    "RESPONSE_MODELS",
    "SAFE_ENDPOINTING_SECONDS",
    "TOOL_ERROR",
    "TRANSFER_ERROR",
    "AssistantDestination",
    "AssistantResponse",
    "CustomMessage",
    "Document",
    "EndpointingResponse",
    "FunctionCallResponse",
    "HandoffAssistantDestination",
    "HandoffDestination",
    "HandoffDestinationResponse",
    "HandoffSquadDestination",
    "InboundDestination",
    "InvalidAnswer",
    "KnowledgeBaseResponse",
    "NumberDestination",
    "OutboundModel",
    "PredialResponse",
    "SipDestination",
    "TextContent",
    "ToolCallResult",
    "ToolCallsResponse",
    "ToolMessage",
    "ToolMessageType",
    "ToolResult",
    "TransferDestination",
    "TransferDestinationResponse",
    "TransferMode",
    "VapiAnswer",
    "answer_to_json",
    "describe_errors",
    "safe_answer",
    "safe_assistant_request",
    "safe_endpointing",
    "safe_function_call",
    "safe_handoff_destination",
    "safe_knowledge_base",
    "safe_predial",
    "safe_tool_calls",
    "safe_transfer_destination",
    "stringify_result",
    "unknown_keys",
]
