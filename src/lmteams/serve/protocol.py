"""The contract between the HTTP front and whatever serves a completion.

The front (``lmteams.serve.app``) owns keys, limits and the OpenAI error shape; a
:class:`CompletionHandler` only turns a checked request into a chat completion. ``serve-model``
plugs in the embedded engine (``lmteams.serve.engine``); a team can plug in the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from lmteams.errors import LMTeamsError

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from lmteams.serve.app import Front

ErrorType = Literal[
    "invalid_request_error", "authentication_error", "rate_limit_error", "server_error"
]


class ApiError(LMTeamsError):
    """A request refused or failed, answered as ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: ErrorType = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def _content(value: Any) -> Any:
    # Checked before the union, so the error names the field rather than a union member.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, dict) for part in value):
        return value
    raise ValueError("must be a string, a list of content parts or null")


class Message(BaseModel):
    """One chat message; fields lmteams does not read (``tool_calls`` ...) pass through."""

    model_config = ConfigDict(extra="allow", frozen=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Annotated[str | list[dict[str, Any]] | None, BeforeValidator(_content)] = None
    name: str | None = None

    def text(self) -> str:
        """The message's text; for content parts, the text parts (others by their JSON size)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        texts = []
        for part in self.content:
            text = part.get("text")
            texts.append(text if isinstance(text, str) else repr(part))
        return "\n".join(texts)


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat-completion request that the front checks.

    Sampling fields it does not check (``temperature``, ``stop``, ``seed`` ...) pass through.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model: str | None = None
    messages: list[Message]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stream: bool = False
    n: int | None = Field(None, ge=1)

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, messages: list[Message]) -> list[Message]:
        if not messages:
            raise ValueError("must contain at least one message")
        return messages


class CompletionHandler(Protocol):
    """What serves the completions behind the front.

    ``body`` is the checked request as OpenAI JSON with ``max_tokens`` set within the cap.
    Errors are raised as :class:`ApiError`, or as ``lmteams.errors`` model errors, which the
    front maps to a status (see ``lmteams.serve.app.api_error_for``).
    """

    @property
    def models(self) -> Sequence[str]:
        """The model names served, the default first."""
        ...

    async def wait_ready(self) -> None:
        """Return once a completion can be served (a model loaded, a team started)."""
        ...

    async def count_prompt_tokens(self, model: str, body: dict[str, Any]) -> int:
        """The prompt's tokens as the model will see them, chat template included.

        Called only when :func:`lmteams.serve.limits.prompt_token_bound` exceeds the cap.
        """
        ...

    async def complete(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """One ``chat.completion`` object."""
        ...

    async def open_stream(self, model: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """Start a streamed completion; its iterator yields server-sent-event bytes.

        Errors known before the first byte are raised here, so they get a status code.
        """
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RoutesProvider(Protocol):
    """A handler that serves more than the OpenAI endpoints (a team's A2A agent).

    Its routes get the front, so they keep the same key, limits and concurrency gate.
    """

    def routes(self, front: Front) -> Sequence[BaseRoute]: ...
