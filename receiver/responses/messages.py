"""What the assistant says around a transfer, a tool call or a knowledge-base lookup."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from receiver.responses._base import OutboundModel

ToolMessageType = Literal[
    "request-start", "request-complete", "request-failed", "request-response-delayed"
]


class TextContent(OutboundModel):
    """One language variant of a spoken message.

    Args:
        text: What is said in that language.
        language: ISO 639 code, e.g. `"en"`, `"de"`, `"yue"`. When the caller's language has
            no variant, Vapi translates the first one.
    """

    type: Literal["text"] = "text"
    text: str
    language: str = Field(min_length=2)


class CustomMessage(OutboundModel):
    """A message spoken as is: `{"type": "custom-message", "content": ...}`.

    Used for a knowledge-base answer that bypasses the model, and as a destination's
    `message` when it needs language variants. `type` defaults to `"custom-message"`, so the
    docs' form `{"role": "assistant", "content": "..."}` validates too (the `role` is kept)
    and the result satisfies both the schema and the docs (docs/protocol.md#knowledge-base-message).

    Example:
        `CustomMessage(content="Our opening hours are 9 to 5.")`
    """

    type: Literal["custom-message"] = "custom-message"
    content: str | None = None
    contents: list[TextContent] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.content is None and self.contents is None:
            raise ValueError("a custom-message needs content or contents")
        return self


class ToolMessage(OutboundModel):
    """A message Vapi speaks (or, with `role="system"`, hands the model) around a request.

    The `type` says when: `request-start` while waiting, `request-response-delayed` after
    `timing_milliseconds` without an answer, `request-complete` on success,
    `request-failed` on error. A tool-call result accepts only the last two; a
    transfer-destination answer accepts all four. Fields that Vapi reads only for some types
    are refused on the others, since they would be silently ignored on a live call.

    Example:
        `ToolMessage.complete("Your order has shipped.")`, or
        `ToolMessage(type="request-failed", content="Sorry, that did not work.")`

    Args:
        type: When the message is used.
        content: What is said.
        contents: Language variants; they take precedence over `content`.
        role: `"assistant"` (default) speaks `content`; `"system"` passes it to the model
            as a hint and the model's reply is spoken. Complete/failed only.
        end_call_after_spoken_enabled: Hang up after saying it. Complete/failed only;
            ignored with `role="system"`.
        blocking: Start only after the message is spoken. `request-start` only.
        timing_milliseconds: Delay before it is said. `request-response-delayed` only.
        conditions: Conditions on the tool-call arguments for this message to apply.
    """

    type: ToolMessageType
    content: str | None = None
    contents: list[TextContent] | None = None
    role: Literal["assistant", "system"] | None = None
    end_call_after_spoken_enabled: bool | None = None
    blocking: bool | None = None
    timing_milliseconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    conditions: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _fields_fit_type(self) -> Self:
        only_for = {
            "role": ("request-complete", "request-failed"),
            "end_call_after_spoken_enabled": ("request-complete", "request-failed"),
            "blocking": ("request-start",),
            "timing_milliseconds": ("request-response-delayed",),
        }
        fields = type(self).model_fields
        for name, types in only_for.items():
            if getattr(self, name) is not None and self.type not in types:
                raise ValueError(
                    f"{fields[name].alias} applies only to {' and '.join(types)} messages, "
                    f"not {self.type}"
                )
        return self

    @classmethod
    def complete(cls, content: str, **fields: Any) -> ToolMessage:
        """A `request-complete` message; `fields` are the other optional fields."""
        return cls(type="request-complete", content=content, **fields)

    @classmethod
    def failed(cls, content: str, **fields: Any) -> ToolMessage:
        """A `request-failed` message; `fields` are the other optional fields."""
        return cls(type="request-failed", content=content, **fields)
