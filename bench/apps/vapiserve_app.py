"""vapiserve (PyPI), written as its README says: a `@tool` function served by its server.

It serves tools only, at `/tools/<name>/vapi`, in its own format `{"toolCalls": [{toolCallId,
name, arguments}]}`: it does not accept Vapi's envelope `{"message": {...}}` and has no
authentication. Its README's `serve(tool)` builds a `VapiServer`, adds the tool and calls
`uvicorn.run`; here the same app runs under the benchmark's uvicorn settings instead.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from vapiserve import VapiServer, tool  # type: ignore[import-untyped]

from bench.workloads import TOOL_NAME
from bench.workloads import lookup_order as _lookup_order


async def lookup_order(order_id: str) -> dict[str, str]:
    return _lookup_order(order_id)


def create_app() -> FastAPI:
    # vapiserve calls logging.basicConfig(level=INFO) on import and logs every body at INFO;
    # every server in the benchmark runs with logging at WARNING.
    logging.getLogger().setLevel(logging.WARNING)
    server = VapiServer()
    server.add_tool(tool(name=TOOL_NAME)(lookup_order))  # what `@tool(name=...)` does
    app: FastAPI = server.app
    return app
