"""The FastAPI route a tutorial would have you write: pydantic models of the message.

Models cover what such a handler reads (the call, the tool call list, the status, the
report's artifact and analysis); the secret is compared as tutorials do. Everything is
validated before the answer, as FastAPI does for a typed body parameter.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from bench.workloads import PATH, SECRET, lookup_order


class Customer(BaseModel):
    number: str | None = None


class Call(BaseModel):
    id: str
    orgId: str | None = None
    type: str | None = None
    status: str | None = None
    assistantId: str | None = None
    phoneNumberId: str | None = None
    customer: Customer | None = None


class Function(BaseModel):
    name: str
    arguments: dict[str, Any] | str = {}


class ToolCall(BaseModel):
    id: str
    type: str = "function"
    function: Function


class ArtifactMessage(BaseModel):
    role: str
    message: str | None = None
    time: float | None = None
    endTime: float | None = None
    secondsFromStart: float | None = None
    duration: float | None = None


class Artifact(BaseModel):
    messages: list[ArtifactMessage] = []
    transcript: str | None = None
    recordingUrl: str | None = None


class Analysis(BaseModel):
    summary: str | None = None
    successEvaluation: str | None = None


class Message(BaseModel):
    type: str
    timestamp: int | None = None
    call: Call | None = None
    toolCallList: list[ToolCall] | None = None
    status: str | None = None
    endedReason: str | None = None
    artifact: Artifact | None = None
    analysis: Analysis | None = None


class VapiRequest(BaseModel):
    message: Message


def create_app() -> FastAPI:
    app = FastAPI()
    seen: Counter[str] = Counter()

    @app.post(PATH)
    async def vapi_webhook(
        request: VapiRequest, x_vapi_secret: str | None = Header(default=None)
    ) -> dict[str, Any]:
        if x_vapi_secret != SECRET:
            raise HTTPException(status_code=401, detail="invalid secret")
        message = request.message
        if message.type == "tool-calls":
            results = []
            for tool_call in message.toolCallList or []:
                arguments = tool_call.function.arguments
                if isinstance(arguments, str):
                    arguments = json.loads(arguments)
                result = lookup_order(**arguments)
                results.append(
                    {
                        "toolCallId": tool_call.id,
                        "name": tool_call.function.name,
                        "result": json.dumps(result),
                    }
                )
            return {"results": results}
        seen[f"{message.type}:{message.status}"] += 1
        return {}

    return app
