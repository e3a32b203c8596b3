"""A node: one team member with a role, a system prompt, sampling defaults and a backend.

A :class:`NodeWorker` turns a request envelope into a reply envelope. It holds no reference to
the coordinator, so any runtime can host it: an asyncio task in this process, or a Ray actor on
another machine.

A sampled call's seed is derived from the node's seed and the conversation
(:func:`question_seed`), so a node's samples differ from question to question (independent
votes) while the same question to the same node samples the same way (repeatable runs, durable
replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from lmteams.errors import ModelError
from lmteams.messages import Envelope
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling

_SAMPLING_OVERRIDES = ("max_tokens", "stop", "logprobs", "json_schema", "temperature", "seed")


class NodeWorker:
    """Executes requests addressed to one node."""

    __slots__ = ("_system", "backend", "name", "role", "sampling", "system_prompt")

    def __init__(
        self, name: str, role: str, system_prompt: str, sampling: Sampling, backend: ModelBackend
    ) -> None:
        self.name = name
        self.role = role
        self.system_prompt = system_prompt
        self.sampling = sampling
        self.backend = backend
        self._system = ChatMessage("system", system_prompt)

    def sampling_for(self, overrides: dict[str, Any] | None) -> Sampling:
        if not overrides:
            return self.sampling
        update = {k: v for k, v in overrides.items() if k in _SAMPLING_OVERRIDES}
        if "stop" in update:
            update["stop"] = tuple(update["stop"])
        return self.sampling.model_copy(update=update)

    def messages_for(self, payload: dict[str, Any]) -> list[ChatMessage]:
        system = self._system
        if system.content is not self.system_prompt:  # the prompt was replaced since
            system = self._system = ChatMessage("system", self.system_prompt)
        messages = [system]
        for raw in payload["messages"]:
            messages.append(
                raw if isinstance(raw, ChatMessage) else ChatMessage(raw["role"], raw["content"])
            )
        return messages

    async def handle(self, request: Envelope) -> Envelope:
        """Run the request's chat on this node's backend and return the reply envelope.

        Raises :class:`~lmteams.errors.ModelError` (with ``node`` set) when the call fails; the
        caller's cancellation or timeout abandons the call.
        """
        payload = request.payload
        messages = self.messages_for(payload)
        sampling = self.sampling_for(payload.get("sampling"))
        if sampling.seed is not None and sampling.temperature > 0.0:  # greedy needs no seed
            sampling = sampling.model_copy(update={"seed": question_seed(sampling.seed, messages)})
        try:
            completion = await self.backend.complete(messages, sampling)
        except ModelError as exc:
            exc.node = exc.node or self.name
            raise
        return request.reply(reply_payload(completion), usage=completion.usage, sender=self.name)


def question_seed(seed: int, messages: Sequence[ChatMessage]) -> int:
    """The seed of one sampled call: a hash of the node's ``seed`` and the conversation (every
    message but the node's own system prompt), in 0..2**31-1 (valid for llama.cpp and OpenAI)."""
    digest = blake2b((seed % (1 << 64)).to_bytes(8, "little"), digest_size=8)
    for message in messages:
        if message.role != "system":
            digest.update(message.role.encode())
            digest.update(message.content.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
    return int.from_bytes(digest.digest(), "little") & 0x7FFFFFFF


def reply_payload(completion: Completion) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "latency_s": completion.latency_s,
        "model": completion.model,
    }
    if completion.token_logprobs is not None:
        payload["token_logprobs"] = list(completion.token_logprobs)
    return payload
