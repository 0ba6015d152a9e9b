"""One call flow in the subclass style: pick the assistant, look up orders, keep the report."""

from __future__ import annotations

import logging
import os

from receiver import CallHandler, OneLineFilter, ToolError, tool
from receiver.models import AssistantRequestMessage, Call, EndOfCallReportMessage
from receiver.responses import AssistantResponse

log = logging.getLogger("example_app")
log.addFilter(OneLineFilter())  # ids in our lines come from payloads: keep them on one line

ORDERS = {
    "A-1042": {"status": "shipped", "carrier": "UPS", "eta": "Thursday"},
    "A-1043": {"status": "processing"},
}


class Support(CallHandler):
    """One call flow: pick the assistant, look up orders, keep the report."""

    async def on_assistant_request(
        self, message: AssistantRequestMessage, call: Call | None
    ) -> AssistantResponse:
        caller = message.customer.number if message.customer else None
        log.info("incoming call from %s", caller or "an unknown number")
        return AssistantResponse(assistant_id=os.environ.get("DEMO_ASSISTANT_ID", "asst-3b9d2f10"))

    @tool
    async def lookup_order(self, order_id: str) -> dict[str, str]:
        """Vapi's model calls this with the order id the caller spoke."""
        order = ORDERS.get(order_id.strip().upper())
        if order is None:
            raise ToolError(f"No order {order_id} was found; ask the caller to repeat it.")
        return order

    def on_end_of_call_report(self, message: EndOfCallReportMessage, call: Call | None) -> None:
        # Sync handlers run in a thread pool, after Vapi already has its 200.
        transcript = message.artifact.transcript or ""
        log.info(
            "call %s ended (%s), %d transcript characters",
            call.id if call else "?",
            message.ended_reason,
            len(transcript),
        )
