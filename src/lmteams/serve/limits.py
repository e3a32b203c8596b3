"""What one request to a served model may ask for: the limits and the pure checks against them.

Nothing here does I/O, so the same rules hold for whatever serves the completion (one embedded
model, or a whole team) and are tested without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmteams.serve.protocol import ApiError, ChatRequest, Message

# A chat template wraps each message in a few special tokens (role markers, separators) and
# adds a generation prompt at the end; 16 per message and 16 overall covers the templates of
# the models lmteams ships and the common open ones with room to spare.
TEMPLATE_TOKENS_PER_MESSAGE = 16
TEMPLATE_TOKENS_OVERALL = 16


class ServeLimits(BaseModel):
    """Caps on a served model's requests; each one answered with an OpenAI-style error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(
        1 << 20, ge=1024, le=1 << 30, description="Request body size; larger bodies get 413."
    )
    max_prompt_tokens: int = Field(
        8192, ge=1, le=1 << 24, description="Prompt tokens after the chat template; else 400."
    )
    max_tokens: int = Field(
        2048,
        ge=1,
        le=1 << 24,
        description="Largest max_tokens a request may ask for (400 above it); also the default.",
    )
    max_concurrent: int = Field(
        16, ge=1, le=4096, description="Requests served at once; one more is answered 429."
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Time a client has to send its whole body; a slower one gets 408.",
    )


def prompt_token_bound(messages: Sequence[Message]) -> int:
    """An upper bound on a prompt's tokens, computed without a tokenizer.

    Byte-level BPE tokenizers (SmolLM2's, and those of nearly every open model) never spend
    more than one token per UTF-8 byte, so the bytes of the text plus the template's special
    tokens bound the count. When the bound fits the cap no tokenizer needs to run.
    """
    total = TEMPLATE_TOKENS_OVERALL
    for message in messages:
        total += TEMPLATE_TOKENS_PER_MESSAGE + len(message.role.encode())
        total += len(message.text().encode())
        if message.name:
            total += len(message.name.encode())
    return total


def requested_max_tokens(request: ChatRequest) -> int | None:
    """The completion cap the client asked for (``max_completion_tokens`` wins, as in OpenAI)."""
    if request.max_completion_tokens is not None:
        return request.max_completion_tokens
    return request.max_tokens


def check_request(request: ChatRequest, limits: ServeLimits, models: Sequence[str]) -> str:
    """Apply the limits that need no tokenizer; return the model name the request is for.

    Raises :class:`ApiError` (404 for an unknown model, 400 for a cap exceeded).
    """
    model = request.model if request.model is not None else models[0]
    if model not in models:
        raise ApiError(
            404,
            f"The model {model!r} does not exist; this server serves: {', '.join(models)}",
            type="invalid_request_error",
            param="model",
            code="model_not_found",
        )
    asked = requested_max_tokens(request)
    if asked is not None and asked > limits.max_tokens:
        field = (
            "max_completion_tokens" if request.max_completion_tokens is not None else "max_tokens"
        )
        raise ApiError(
            400,
            f"{field} is {asked}, above this server's limit of {limits.max_tokens}",
            type="invalid_request_error",
            param=field,
            code="max_tokens_too_large",
        )
    if request.n is not None and request.n != 1:
        raise ApiError(
            400, "only n=1 is supported", type="invalid_request_error", param="n", code=None
        )
    return model


def check_prompt_tokens(tokens: int, limits: ServeLimits) -> None:
    if tokens > limits.max_prompt_tokens:
        raise ApiError(
            400,
            f"the prompt has {tokens} tokens, above this server's limit of "
            f"{limits.max_prompt_tokens}",
            type="invalid_request_error",
            param="messages",
            code="context_length_exceeded",
        )


def forwarded_body(request: ChatRequest, limits: ServeLimits) -> dict[str, Any]:
    """The request as the completion handler gets it: ``max_tokens`` always set, within the cap.

    A request without a cap would otherwise generate until the context is full.
    """
    body = request.model_dump(exclude_none=True, exclude={"max_completion_tokens"})
    body["max_tokens"] = requested_max_tokens(request) or limits.max_tokens
    return body
