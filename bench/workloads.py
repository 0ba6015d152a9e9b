"""What the benchmark sends: realistic Vapi bodies, each request made unique by a counter.

A body is kept as a template split at `MARK`; request `n` is the parts joined by `n` as
eight digits. Every request is therefore a different delivery (fresh `timestamp`, fresh
`toolCallId`), as in production, so the inbox's duplicate check and the tool-result replay
never answer from a cache, and every body of a workload has the same length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from receiver.testing import REMOVE, make_message, make_tool_call

#: The org secret every server checks (the alternatives as their tutorials do).
SECRET: Final = "bench-org-secret-3f9a2c"
PATH: Final = "/vapi"
VAPISERVE_PATH: Final = "/tools/lookup_order/vapi"
HEADERS: Final = {"content-type": "application/json", "x-vapi-secret": SECRET}

MARK: Final = b"@SEQ@"
SEQ_DIGITS: Final = 8
TOOL_NAME: Final = "lookup_order"
TOOL_ARGUMENTS: Final = {"order_id": "A-1042"}

_TIMESTAMP: Final = 1790000000000  # replaced by "17900" + the counter: still 13 digits
_TOOL_CALL_ID: Final = "call_benchseq"


def lookup_order(order_id: str) -> dict[str, str]:
    """The one tool every server serves: no I/O, so the framework is what is measured."""
    return {"orderId": order_id, "status": "shipped", "carrier": "UPS", "eta": "Tuesday"}


#: The floor's fixed answer: what the others compute for a tool-calls request.
FIXED_TOOL_ANSWER: Final = json.dumps(
    {
        "results": [
            {
                "toolCallId": _TOOL_CALL_ID,
                "name": TOOL_NAME,
                "result": json.dumps(lookup_order(**TOOL_ARGUMENTS)),
            }
        ]
    },
    separators=(",", ":"),
).encode()


@dataclass(frozen=True)
class Template:
    """A request body with `MARK` where the per-request counter goes."""

    parts: tuple[bytes, ...]

    def render(self, seq: int) -> bytes:
        """The body of request number `seq`."""
        return str(seq % 10**SEQ_DIGITS).zfill(SEQ_DIGITS).encode().join(self.parts)

    @property
    def size(self) -> int:
        return len(self.render(0))

    @property
    def raw(self) -> bytes:
        """The template with its marks, as the load generators read it from a file."""
        return MARK.join(self.parts)


@dataclass(frozen=True)
class Workload:
    """One kind of traffic: a body template, where it goes, and how many senders at once.

    Attributes:
        name: Short id used in the results.
        title: What a reader sees in the table.
        template: The Vapi envelope sent to the floor, the receiver and FastAPI.
        connections: Concurrent keep-alive connections of the load generator.
        vapiserve_template: The same tool call in vapiserve's own format, when it has one.
    """

    name: str
    title: str
    template: Template
    connections: int
    vapiserve_template: Template | None = None


def workloads() -> tuple[Workload, ...]:
    """The three workloads of the issue: a tool call, a 2-hour report, a status burst."""
    return (
        Workload(
            "tool-calls",
            "tool-calls (~2 KB with the call object)",
            tool_calls_template(),
            connections=16,
            vapiserve_template=vapiserve_template(),
        ),
        Workload(
            "end-of-call-report",
            "end-of-call-report of a 2-hour call (~1 MB)",
            envelope_template(make_message("end-of-call-report", minutes=120)),
            connections=4,
        ),
        Workload(
            "status-update",
            "status-update burst (64 connections)",
            envelope_template(make_message("status-update")),
            connections=64,
        ),
    )


def tool_calls_template() -> Template:
    """A tool-calls envelope with the call, phone number and customer; no artifact, so ~2 KB."""
    # Arguments as a JSON string, the schema's form, so the SDK's models accept the body too.
    call = make_tool_call(TOOL_NAME, TOOL_ARGUMENTS, id=_TOOL_CALL_ID, arguments_as_json=True)
    envelope = make_message("tool-calls", tool_calls=[call], assistant=REMOVE, artifact=REMOVE)
    return envelope_template(envelope)


def vapiserve_template() -> Template:
    """vapiserve's batch format (`{"toolCalls": [...]}`): it does not accept Vapi's envelope."""
    body = {
        "toolCalls": [{"toolCallId": _TOOL_CALL_ID, "name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}]
    }
    return _split(_dumps(body), seq_tool_call=True, seq_timestamp=False)


def envelope_template(envelope: dict[str, Any]) -> Template:
    """A template of `envelope` with its timestamp (and tool call id, if any) made unique."""
    envelope["message"]["timestamp"] = _TIMESTAMP
    return _split(_dumps(envelope), seq_tool_call=True, seq_timestamp=True)


def _dumps(value: object) -> bytes:
    # Compact, as Vapi's Node.js servers send it.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _split(body: bytes, *, seq_tool_call: bool, seq_timestamp: bool) -> Template:
    marked = body
    if seq_timestamp:
        marked = _replace_once(marked, b'"timestamp":%d' % _TIMESTAMP, b'"timestamp":17900' + MARK)
    if seq_tool_call:
        marked = marked.replace(
            f'"{_TOOL_CALL_ID}"'.encode(), f'"{_TOOL_CALL_ID}'.encode() + MARK + b'"'
        )
    return Template(tuple(marked.split(MARK)))


def _replace_once(body: bytes, old: bytes, new: bytes) -> bytes:
    if body.count(old) != 1:
        raise ValueError(f"expected exactly one {old!r} in the body")
    return body.replace(old, new)
