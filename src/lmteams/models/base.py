"""The one small interface every model (and tool) backend implements.

Chat messages and sampling settings go in; text, token usage, latency and a finish reason come
out. Failures are raised as the typed errors of :mod:`lmteams.errors`, so callers can tell a
transient failure (retry it) from a permanent one (do not).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lmteams.errors import InvalidRequest
from lmteams.frozen import quick_init
from lmteams.messages import Usage
from lmteams.models.sampling import Sampling as Sampling  # re-exported: its old home

Role = Literal["system", "user", "assistant", "tool"]


@quick_init
@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@quick_init
@dataclass(frozen=True, slots=True)
class Completion:
    """What a backend returns for one call (a slotted dataclass: built once per call)."""

    text: str
    usage: Usage
    latency_s: float
    finish_reason: str = "stop"
    model: str = ""
    # Log-probability of each generated token, when the backend reports them and they were asked.
    token_logprobs: tuple[float, ...] | None = None


class ModelBackend(ABC):
    """A model endpoint. One instance may be shared by many nodes and called concurrently.

    Subclasses declare what they can do with class attributes and implement :meth:`complete`.
    """

    #: Registry name of the backend kind ("embedded", "openai", ...).
    kind: ClassVar[str] = "abstract"
    #: The backend can return per-token log-probabilities.
    can_logprobs: ClassVar[bool] = False
    #: The backend can constrain output to a JSON schema.
    can_json_schema: ClassVar[bool] = False
    #: Calls run on this machine's CPU or GPU, not on a remote service.
    is_local: ClassVar[bool] = False
    #: The backend can embed texts (:meth:`embed`).
    can_embed: ClassVar[bool] = False

    #: Model name as reported in completions and events.
    name: str = ""

    @abstractmethod
    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        """Run one chat completion.

        Cancelling the awaiting task abandons the call; the caller's ``asyncio.timeout`` is the
        deadline. Raises a :class:`~lmteams.errors.ModelError` subclass on failure.
        """

    async def check_ready(self) -> None:
        """Fail fast with a :class:`~lmteams.errors.ConfigError` if the backend cannot serve.

        Called once when a team starts; the default assumes a backend is always ready.
        """
        return None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (backends that declare :attr:`can_embed`).

        Cancelling the awaiting task abandons the call. The default raises
        :class:`~lmteams.errors.InvalidRequest`: this backend cannot embed.
        """
        raise InvalidRequest(f"the {self.kind} backend cannot embed texts", model=self.name)

    async def aclose(self) -> None:
        """Release what the backend holds (an engine shared with other backends is released
        when the last of them closes)."""
        return None


def sampling_to_request(messages: Sequence[ChatMessage], sampling: Sampling) -> dict[str, Any]:
    """The OpenAI chat-completion request for ``messages`` under ``sampling`` (the JSON that
    llama.cpp's server and OpenAI-compatible endpoints take; the endpoint's model name aside)."""
    request: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if sampling.seed is not None:
        request["seed"] = sampling.seed
    if sampling.stop:
        request["stop"] = list(sampling.stop)
    if sampling.logprobs:
        request["logprobs"] = True
    if sampling.json_schema is not None:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": sampling.json_schema, "strict": True},
        }
    return request


#: The node on whose behalf the current call runs; set by the runtime around each call, so a
#: shared backend (or a scripted test model) can tell its callers apart.
current_node: ContextVar[str | None] = ContextVar("lmteams_current_node", default=None)
