"""Any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, OpenAI) via the official SDK.

The SDK's own retries are turned off: retry, backoff and circuit breaking are lmteams policies
applied above every backend alike. SDK errors are translated into lmteams errors here, at the
one place they enter, and the API key is scrubbed from every message that leaves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import openai as openai_sdk
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lmteams.errors import (
    AuthenticationFailed,
    BadOutput,
    ConfigError,
    InvalidRequest,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
)
from lmteams.messages import Usage
from lmteams.models.base import (
    ChatMessage,
    Completion,
    ModelBackend,
    Sampling,
    sampling_to_request,
)

PLACEHOLDER_KEY = "not-needed"


class OpenAIOptions(BaseModel):
    """Settings of an ``openai`` model. Unset values fall back to environment variables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(
        None, description="Endpoint, e.g. http://127.0.0.1:8080/v1; env LMTEAMS_OPENAI_BASE_URL."
    )
    model: str | None = Field(
        None, description="Model name at the endpoint; env LMTEAMS_OPENAI_MODEL."
    )
    api_key: SecretStr | None = Field(
        None, description="Prefer api_key_env over a key in the file."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")
    timeout_s: float = Field(120.0, gt=0, le=3600)
    ready_timeout_s: float = Field(5.0, gt=0, le=600, description="Start-up reachability check.")
    check_on_start: bool = True


class OpenAIBackend(ModelBackend):
    kind = "openai"
    can_logprobs = True
    can_json_schema = True
    can_embed = True  # through the endpoint's /embeddings route

    def __init__(self, options: OpenAIOptions, *, name: str = "openai") -> None:
        self.options = options
        self.name = name
        base_url = (
            options.base_url
            or os.environ.get("LMTEAMS_OPENAI_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
        )
        if not base_url:
            raise ConfigError(
                "no endpoint: set base_url in the team file or LMTEAMS_OPENAI_BASE_URL",
                field="base_url",
            )
        self.base_url = base_url
        self.model = options.model or os.environ.get("LMTEAMS_OPENAI_MODEL") or name
        key = options.api_key.get_secret_value() if options.api_key else None
        key = key or os.environ.get(options.api_key_env) or PLACEHOLDER_KEY
        self._secret = key if key != PLACEHOLDER_KEY else None
        self._client = openai_sdk.AsyncOpenAI(
            base_url=base_url, api_key=key, timeout=options.timeout_s, max_retries=0
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(name={self.name!r}, base_url={self.base_url!r}, model={self.model!r})"
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def translate(self, exc: Exception) -> ModelError:
        """Map an SDK exception to the lmteams error tree (the most specific match wins)."""
        where: dict[str, Any] = {"model": self.name}
        message = self._redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, openai_sdk.APITimeoutError):
            return ModelTimeout(f"timed out calling {self.base_url}", **where)
        if isinstance(exc, openai_sdk.APIConnectionError):
            return ModelUnavailable(f"cannot reach {self.base_url}: {message}", **where)
        if isinstance(exc, openai_sdk.RateLimitError):
            return RateLimited(message, retry_after_s=_retry_after(exc), **where)
        if isinstance(exc, openai_sdk.AuthenticationError | openai_sdk.PermissionDeniedError):
            return AuthenticationFailed(f"{self.base_url} refused the credentials", **where)
        if isinstance(exc, openai_sdk.APIStatusError):
            status = exc.status_code
            if status in (408, 409, 425) or status >= 500:
                return ModelUnavailable(message, **where)
            return InvalidRequest(message, **where)
        return ModelUnavailable(message, **where)

    async def check_ready(self) -> None:
        if not self.options.check_on_start:
            return
        try:
            await self._client.models.list(timeout=self.options.ready_timeout_s)
        except openai_sdk.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise ConfigError(
                    f"{self.base_url} refused the API key (HTTP {exc.status_code})", field="api_key"
                ) from None
            # Some compatible servers do not implement /models; a status reply proves reachability.
        except openai_sdk.APIError as exc:
            raise ConfigError(
                f"cannot reach {self.base_url}: {self._redact(str(exc))}", field="base_url"
            ) from None

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        kwargs: dict[str, Any] = {"model": self.model, **sampling_to_request(messages, sampling)}
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(**kwargs)
        except openai_sdk.APIError as exc:
            raise self.translate(exc) from None
        latency_s = time.perf_counter() - started
        if not response.choices:
            raise BadOutput("the endpoint returned no choices", model=self.name)
        choice = response.choices[0]
        logprobs = None
        if choice.logprobs is not None and choice.logprobs.content:
            logprobs = tuple(float(t.logprob) for t in choice.logprobs.content)
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            usage=Usage(
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
            ),
            latency_s=latency_s,
            finish_reason=str(choice.finish_reason or "stop"),
            model=self.name,
            token_logprobs=logprobs,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            response = await self._client.embeddings.create(model=self.model, input=list(texts))
        except openai_sdk.APIError as exc:
            raise self.translate(exc) from None
        rows = sorted(response.data, key=lambda item: item.index)
        return [[float(x) for x in item.embedding] for item in rows]

    async def aclose(self) -> None:
        await self._client.close()


def _retry_after(exc: openai_sdk.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
