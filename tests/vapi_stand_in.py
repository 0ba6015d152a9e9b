"""A stand-in for Vapi's API: the endpoints `link` and `serve --link` call, with Vapi's checks.

Real Vapi cannot be reached from the tests, so this Starlette app plays it, served by real
uvicorn (`tests.live_server`). It does what the documentation says Vapi does:

- every request needs `Authorization: Bearer <the key>`, else 401 with Vapi's message;
- an unknown id is a 404;
- `POST /phone-number/buy` takes `areaCode` (exactly 3 characters), `name` (at most 40),
  `assistantId`, `serverUrl`, `serverUrlSecret`, refuses any other property the way NestJS
  does (`property x should not exist`), and answers 201 with the number in the legacy shape
  (flat `serverUrl`/`serverUrlSecret`, Stripe and telephony fields);
- `PATCH` replaces the top-level fields it is given (`server` whole, as Vapi does; `null`
  clears a field), checks a phone number's `provider` and the `server` object's keys;
- objects may be in the current shape (`server`) or the legacy one.

It records every request, and can be told to stall or fail the next PATCH.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY = "vapi-test-private-key-0a1b2c3d4e5f"
ORG_ID = "org-5e1f"

_SERVER_KEYS = frozenset(
    {
        "url",
        "timeoutSeconds",
        "credentialId",
        "headers",
        "backoffPlan",
        "staticIpAddressesEnabled",
        "encryptedPaths",
        "secret",
    }
)
_PHONE_NUMBER_KEYS = frozenset(
    {
        "provider",
        "name",
        "assistantId",
        "squadId",
        "workflowId",
        "server",
        "serverUrl",
        "serverUrlSecret",
        "fallbackDestination",
        "hooks",
    }
)
_ASSISTANT_KEYS = frozenset({"name", "server", "serverUrl", "serverUrlSecret", "serverMessages"})
_ORG_KEYS = frozenset({"name", "server", "serverUrl", "serverUrlSecret"})
_BUY_KEYS = frozenset({"areaCode", "name", "assistantId", "serverUrl", "serverUrlSecret"})


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class StandInVapi:
    """The API's state: its objects by (kind, id), and what it was asked."""

    key: str = API_KEY
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    stall_patches_s: float = 0.0
    """Apply a PATCH, then wait this long before answering (an answer lost on the way)."""
    fail_patches: int | None = None
    """Answer every PATCH with this status, changing nothing."""
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def add(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[(kind, obj["id"])] = copy.deepcopy(obj)
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        return self.objects[(kind, object_id)]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    @property
    def app(self) -> Starlette:
        routes = [
            Route("/phone-number/buy", self._buy, methods=["POST"]),
            Route("/org", self._orgs, methods=["GET"]),
        ]
        for kind in ("phone-number", "assistant", "org"):
            routes.append(Route(f"/{kind}/{{id}}", self._object, methods=["GET", "PATCH"]))
        return Starlette(routes=routes)

    # -- endpoints -----------------------------------------------------------------------------

    async def _buy(self, request: Request) -> JSONResponse:
        body = await self._admit(request)
        if isinstance(body, JSONResponse):
            return body
        problems = _unknown(body, _BUY_KEYS)
        code = body.get("areaCode")
        if not isinstance(code, str):
            problems.append("areaCode must be a string")
        elif len(code) < 3:
            problems.append("areaCode must be longer than or equal to 3 characters")
        elif len(code) > 3:
            problems.append("areaCode must be shorter than or equal to 3 characters")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 40):
            problems.append("name must be shorter than or equal to 40 characters")
        if problems:
            return _bad_request(problems)
        now = "2025-06-01T12:00:00.000Z"
        number = {
            "id": str(uuid.uuid4()),
            "orgId": ORG_ID,
            "provider": "vapi",
            "number": f"+1{code}555{next(self._numbers):04d}",
            "name": name,
            "assistantId": body.get("assistantId"),
            "serverUrl": body.get("serverUrl"),
            "serverUrlSecret": body.get("serverUrlSecret"),
            "createdAt": now,
            "updatedAt": now,
            "stripeSubscriptionId": "sub_1Q2w3E4r5T6y",
            "stripeSubscriptionStatus": "active",
            "stripeSubscriptionCurrentPeriodStart": now,
            "twilioAccountSid": None,
            "credentialId": None,
        }
        self.add("phone-number", number)
        return JSONResponse(number, status_code=201)

    async def _orgs(self, request: Request) -> JSONResponse:
        body = await self._admit(request)
        if isinstance(body, JSONResponse):
            return body
        return JSONResponse([obj for (kind, _), obj in self.objects.items() if kind == "org"])

    async def _object(self, request: Request) -> JSONResponse:
        body = await self._admit(request)
        if isinstance(body, JSONResponse):
            return body
        kind = request.url.path.split("/")[1]
        object_id = request.path_params["id"]
        obj = self.objects.get((kind, object_id))
        if obj is None:
            name = {"phone-number": "phoneNumber"}.get(kind, kind)
            return JSONResponse(
                {"message": f"Couldn't Find {name}", "error": "Not Found", "statusCode": 404},
                status_code=404,
            )
        if request.method == "GET":
            return JSONResponse(obj)
        if self.fail_patches is not None:
            return JSONResponse(
                {"message": "Internal server error", "statusCode": self.fail_patches},
                status_code=self.fail_patches,
            )
        allowed = {"phone-number": _PHONE_NUMBER_KEYS, "assistant": _ASSISTANT_KEYS}.get(
            kind, _ORG_KEYS
        )
        problems = _unknown(body, allowed)
        if kind == "phone-number" and body.get("provider", obj.get("provider")) != obj.get(
            "provider"
        ):
            problems.append(f"provider must be {obj.get('provider')}")
        server = body.get("server")
        if server is not None:
            if not isinstance(server, dict):
                problems.append("server must be an object")
            else:
                problems += [f"server.{p}" for p in _unknown(server, _SERVER_KEYS)]
                if not isinstance(server.get("url", ""), str):
                    problems.append("server.url must be a string")
        if problems:
            return _bad_request(problems)
        for key, value in body.items():
            if value is None:
                obj.pop(key, None)
            else:
                obj[key] = copy.deepcopy(value)
        obj["updatedAt"] = "2025-06-01T12:30:00.000Z"
        if self.stall_patches_s:
            await asyncio.sleep(self.stall_patches_s)
        return JSONResponse(obj)

    async def _admit(self, request: Request) -> Any:
        """The JSON body of an authorised request, or the error answer."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode(errors="replace")
        authorization = request.headers.get("authorization")
        self.requests.append(Recorded(request.method, request.url.path, body, authorization))
        if authorization != f"Bearer {self.key}":
            return JSONResponse(
                {
                    "message": "Invalid Key. Hot tip, you may be using the private key instead "
                    "of the public key, or vice versa.",
                    "error": "Unauthorized",
                    "statusCode": 401,
                },
                status_code=401,
            )
        if not isinstance(body, dict):
            return _bad_request(["body must be a JSON object"])
        return body


def _unknown(body: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    return [f"property {key} should not exist" for key in body if key not in allowed]


def _bad_request(problems: list[str]) -> JSONResponse:
    return JSONResponse(
        {"message": problems, "error": "Bad Request", "statusCode": 400}, status_code=400
    )


def phone_number(object_id: str, **fields: Any) -> dict[str, Any]:
    """A phone number object as `GET /phone-number/{id}` returns it (current shape)."""
    return {
        "id": object_id,
        "orgId": ORG_ID,
        "provider": "vapi",
        "number": "+14155550100",
        "name": "Support line",
        "createdAt": "2025-05-01T09:00:00.000Z",
        "updatedAt": "2025-05-01T09:00:00.000Z",
        **fields,
    }
