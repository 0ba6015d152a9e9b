"""`VapiTestClient`: post messages to a receiver in-process, as Vapi would, and read answers.

It wraps Starlette's `TestClient`, which needs the `httpx2` package (in the `dev` extra).
It is imported only when a client is created, so `receiver.testing.make_message` keeps
working without the test dependencies.

    client = VapiTestClient(receiver)
    assert client.tool_call("lookup_order", order_id="A-1042") == {"status": "shipped"}
    with pytest.raises(ToolCallError, match="No order"):
        client.tool_call("lookup_order", order_id="Z-0")
    assert client.assistant_request(customer_number="+14155550100") == {"assistantId": "a-1"}
    assert client.send("end-of-call-report").status_code == 200

Every request carries the credential Vapi would attach for the level that wins under the
receiver's own configuration (`winning_credential`): an `x-vapi-secret`, a Bearer token, an
HMAC signature over the exact bytes sent, or an OAuth2 token that the client first fetches
from the receiver's own token endpoint, as Vapi does.
Informational handlers have run by the time `send` returns, because the underlying
`TestClient` waits for the response's background tasks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from receiver.credentials import SECRET_HEADER
from receiver.oauth import FORM
from receiver.samples.factories import make_message
from receiver.signing import (
    AttachedCredential,
    TokenSource,
    TokenUnavailable,
    winning_credential,
)

if TYPE_CHECKING:
    from httpx2 import Response
    from starlette.testclient import TestClient

    from receiver.receiver import Receiver

__all__ = ["ToolCallError", "ToolOutcome", "UnexpectedResponse", "VapiTestClient"]

Json = dict[str, Any]


class UnexpectedResponse(AssertionError):
    """The receiver did not answer with a 200 JSON object (a 401, a 400, an empty body...).

    An `AssertionError`, so pytest reports it as a failed expectation, with the status and
    the receiver's own error message. The response is in `response`.
    """

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


class ToolCallError(Exception):
    """A tool answered with an `error` result instead of a `result`.

    Attributes:
        name: The tool's name.
        error: The error text Vapi would hand to the model.
        outcome: The whole result entry, decoded.
    """

    def __init__(self, outcome: ToolOutcome) -> None:
        super().__init__(f"tool {outcome.name!r} answered with an error: {outcome.error}")
        self.name = outcome.name
        self.error = outcome.error
        self.outcome = outcome


@dataclass(frozen=True)
class ToolOutcome:
    """One entry of a tool-calls answer, with its `result` decoded.

    Attributes:
        tool_call_id: The id Vapi sent, echoed back.
        name: The tool's name.
        result: The result string JSON-decoded when it is JSON (a tool returning
            `{"status": "shipped"}` gives that dict back), else the string itself; `None`
            on error. A tool returning the string `"42"` therefore reads back as `42`.
        error: The error text, or `None` on success.
        message: The spoken `message` object sent with the result, if any.
        raw: The entry exactly as answered.
    """

    tool_call_id: str
    name: str
    result: Any
    error: str | None = None
    message: Json | None = None
    raw: Json = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


class VapiTestClient:
    """Posts realistic messages to a `Receiver` in-process, with the right credential.

    Args:
        receiver: The receiver under test; its configuration decides the credential.
        secret: Send this `x-vapi-secret` on every message instead of the winning
            level's, e.g. to check that a wrong secret is refused.

    Use it as a context manager to run the app's start-up and shut-down as well.

    Attributes:
        http: The underlying Starlette `TestClient`, for anything else (`http.get("/health")`).
        url: Where messages are posted (`http://testserver/vapi`); HMAC plans that sign
            `{url}` sign this.
        last_response: The response to the latest request, for its status, headers or bytes.
        last_credential: What the latest message was sent with, and its `note` if the
            receiver was bound to refuse it.
    """

    def __init__(self, receiver: Receiver, *, secret: str | None = None) -> None:
        try:
            from starlette.testclient import TestClient
        except RuntimeError as exc:  # Starlette raises this when httpx2 is missing
            raise RuntimeError(
                f"VapiTestClient needs the test dependencies: pip install 'vapi-receiver[dev]' "
                f"({exc})"
            ) from None
        self.receiver = receiver
        self.secret = secret
        self.http: TestClient = TestClient(receiver.app)
        self.url = str(self.http.base_url).rstrip("/") + receiver.path
        self.last_response: Response | None = None
        self.last_credential: AttachedCredential | None = None
        self._tokens = TokenSource(self._post_form)

    def __enter__(self) -> Self:
        self.http.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.http.__exit__(exc_type, exc, traceback)

    # -- sending -----------------------------------------------------------------------------

    def post(
        self,
        envelope: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> Response:
        """Post a ready envelope `{"message": {...}}`, such as a captured delivery.

        Args:
            envelope: The body to send, JSON-encoded here.
            headers: Extra headers; one named like a computed credential header replaces it.
            authenticate: `False` sends no credential at all.

        Returns:
            The response (also kept as `last_response`).

        Raises:
            UnexpectedResponse: the receiver's token endpoint refused to issue the OAuth2
                token the message needs.
        """
        body = json.dumps(envelope).encode()
        self.last_credential = None
        sent = {"content-type": "application/json"}
        if authenticate:
            sent |= self.credential_headers(envelope, body=body)
        sent |= {name.lower(): value for name, value in (headers or {}).items()}
        response = self.http.post(self.receiver.path, content=body, headers=sent)
        self.last_response = response
        return response

    def send(self, type: str, /, **overrides: Any) -> Response:
        """Post `make_message(type, **overrides)` and return the response.

        Example:
            >>> client.send("status-update", status="ended").status_code
            200
        """
        return self.post(make_message(type, **overrides))

    def credential_headers(
        self, envelope: Mapping[str, Any], *, body: bytes | None = None
    ) -> dict[str, str]:
        """The headers that authenticate `envelope`, as Vapi would send them.

        Args:
            envelope: The message to authenticate; its winning level decides the credential.
            body: The exact bytes that will be sent, which HMAC signatures cover; by
                default the JSON encoding that `post` sends.

        Raises:
            UnexpectedResponse: the receiver's token endpoint refused an OAuth2 token.
        """
        if self.secret is not None:
            return {SECRET_HEADER: self.secret}
        message = envelope.get("message")
        if not isinstance(message, Mapping):
            return {}
        credential = winning_credential(message, self.receiver.config)
        self.last_credential = credential
        if body is None:
            body = json.dumps(envelope).encode()
        try:
            return credential.headers_for(body, url=self.url, mint=self._tokens)
        except TokenUnavailable as exc:
            assert self.last_response is not None  # the token endpoint's answer
            raise UnexpectedResponse(str(exc), self.last_response) from None

    def _post_form(self, path: str, form: bytes) -> tuple[int, bytes]:
        """How the client reaches the receiver's OAuth2 token endpoint."""
        response = self.http.post(path, content=form, headers={"content-type": FORM})
        self.last_response = response
        return response.status_code, response.content

    # -- reading answers ---------------------------------------------------------------------

    def answer(self, type: str, /, **overrides: Any) -> Json:
        """Send a request type and return its JSON answer.

        Raises:
            UnexpectedResponse: the status is not 200 or the body is not a JSON object.
        """
        return self._json(type, self.send(type, **overrides))

    def assistant_request(self, **overrides: Any) -> Json:
        """The answer to an assistant-request, e.g. `{"assistantId": "..."}`.

        Args:
            **overrides: As for `make_message`: `phone_number_id=`, `customer_number=`,
                `call__phone_call_provider="vonage"`, ...

        Raises:
            UnexpectedResponse: the status is not 200 or the body is not a JSON object.
        """
        return self.answer("assistant-request", **overrides)

    def tool_call(self, name: str, /, **arguments: Any) -> Any:
        """Call one tool the way Vapi's model would and return its decoded result.

        Args:
            name: The tool (function) name.
            **arguments: The arguments the model supplies.

        Returns:
            The result, JSON-decoded when it is JSON, else the string (see `ToolOutcome`).

        Raises:
            ToolCallError: the tool answered with an error (unknown tool, bad arguments,
                `ToolError`, exception, timeout); its `error` is the text the model sees.
            UnexpectedResponse: the receiver refused the request or answered malformed.
        """
        (outcome,) = self.tool_calls((name, arguments))
        if not outcome.ok:
            raise ToolCallError(outcome)
        return outcome.result

    def tool_calls(self, *calls: Any, **overrides: Any) -> list[ToolOutcome]:
        """Send one tool-calls request with several calls; errors are returned, not raised.

        Args:
            *calls: `(name, arguments)` pairs, bare names, or `make_tool_call()` dicts.
            **overrides: As for `make_message`, e.g. `assistant_id="asst-1"`.

        Returns:
            One outcome per result, in the order the receiver answered them.

        Raises:
            UnexpectedResponse: the receiver refused the request, answered malformed, or
                left a tool call without a result.
        """
        envelope = make_message("tool-calls", tool_calls=list(calls), **overrides)
        response = self.post(envelope)
        results = self._json("tool-calls", response).get("results")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise UnexpectedResponse(
                f"tool-calls answer has no results list: {results!r}", response
            )
        outcomes = [_outcome(result) for result in results]
        sent = [call["id"] for call in envelope["message"]["toolCallList"]]
        missing = set(sent) - {outcome.tool_call_id for outcome in outcomes}
        if missing:
            raise UnexpectedResponse(
                f"tool-calls answer has no result for toolCallId {', '.join(sorted(missing))}",
                response,
            )
        return outcomes

    def _json(self, type: str, response: Response) -> Json:
        if response.status_code != 200:
            note = self.last_credential.note if self.last_credential else ""
            known = f" (the test client knew: {note})" if note else ""
            raise UnexpectedResponse(
                f"{type} was answered {response.status_code}: {response.text[:500]}{known}",
                response,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UnexpectedResponse(
                f"{type} answer is not a JSON object: {response.text[:500]!r}", response
            )
        return body


def _outcome(entry: Json) -> ToolOutcome:
    error = entry.get("error")
    result = entry.get("result")
    message = entry.get("message")
    return ToolOutcome(
        tool_call_id=str(entry.get("toolCallId", "")),
        name=str(entry.get("name", "")),
        result=_decode(result) if error is None else None,
        error=None if error is None else str(error),
        message=message if isinstance(message, dict) else None,
        raw=entry,
    )


def _decode(result: object) -> Any:
    if not isinstance(result, str):
        return result
    try:
        return json.loads(result)
    except ValueError:
        return result
