"""A complete receiver: `python example_app.py`, then point a Vapi server URL at /vapi.

It shows both ways to register handlers: a `CallHandler` subclass for one call flow (in
the `handlers` package next to this file, where an app keeps its handlers), and decorators
on the receiver. Configuration comes from `$VAPI_RECEIVER_CONFIG` (a TOML file) or
`$VAPI_SERVER_SECRET`; with neither, a fresh development secret is generated and printed, so
the receiver is closed to strangers even on first run.
"""

from __future__ import annotations

import logging
import os
import secrets

import uvicorn

from handlers import Support
from receiver import LevelConfig, Receiver, ReceiverConfig, ToolError, config_from_env
from receiver.models import (
    Call,
    KnowledgeBaseRequestMessage,
    Message,
    StatusUpdateMessage,
    TransferDestinationRequestMessage,
)
from receiver.responses import (
    Document,
    KnowledgeBaseResponse,
    NumberDestination,
    TransferDestinationResponse,
)

log = logging.getLogger("example_app")


def load_config() -> ReceiverConfig:
    """The configured credentials, or a one-off development secret printed for the user."""
    if config := config_from_env():
        return config
    dev_secret = secrets.token_urlsafe(24)
    print(
        "No configuration found ($VAPI_RECEIVER_CONFIG or $VAPI_SERVER_SECRET).\n"
        f"Generated a development secret for the org level: {dev_secret}\n"
        "Send it as the x-vapi-secret header, e.g.\n"
        f"  curl -H 'content-type: application/json' -H 'x-vapi-secret: {dev_secret}' "
        '-d \'{"message": {"type": "hang"}}\' '
        f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}/vapi",
        flush=True,
    )
    return ReceiverConfig(org=LevelConfig((dev_secret,)), source="generated dev secret")


receiver = Receiver(config=load_config(), handlers=[Support()])


@receiver.on("transfer-destination-request")
def transfer(
    message: TransferDestinationRequestMessage, call: Call | None
) -> TransferDestinationResponse:
    return TransferDestinationResponse(
        destination=NumberDestination(number="+14155550123", message="Connecting you to billing."),
    )


@receiver.on("knowledge-base-request")
async def knowledge(message: KnowledgeBaseRequestMessage) -> KnowledgeBaseResponse:
    return KnowledgeBaseResponse(
        documents=[
            Document(content="Orders ship within 2 business days.", similarity=0.92),
            Document(content="Returns are free within 30 days.", similarity=0.81),
        ]
    )


@receiver.on("status-update")
async def track(message: StatusUpdateMessage, call: Call | None) -> None:
    log.info("call %s is %s", call.id if call else "?", message.status)


@receiver.tool("get_time")
def get_time(timezone: str = "UTC") -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return datetime.now(ZoneInfo(timezone)).strftime("%H:%M")
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {timezone!r}") from None


@receiver.on_error
def alert(error: Exception, message: Message) -> None:
    log.warning("handler failed for %s: %s", message.type, error)


app = receiver.app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    print(f"Vapi server URL: http://{host}:{port}/vapi  (health: /health)", flush=True)
    uvicorn.run(app, host=host, port=port, proxy_headers=True)


if __name__ == "__main__":
    main()
