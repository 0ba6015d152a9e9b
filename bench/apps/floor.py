"""The floor: a bare Starlette endpoint that parses the JSON body and answers a fixed result.

Nothing can serve a Vapi request with less work, so the receiver's throughput is reported
as a fraction of this one's.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.workloads import FIXED_TOOL_ANSWER, PATH


async def endpoint(request: Request) -> Response:
    json.loads(await request.body())
    return Response(FIXED_TOOL_ANSWER, media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])
