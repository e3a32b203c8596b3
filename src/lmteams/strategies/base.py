"""What every strategy shares: calling nodes through the team, counting what it cost, grouping
answers, and turning a decision into an :class:`~lmteams.strategies.result.AskResult` plus a decision event.

A strategy's cost is what its answer used: the calls it made, their tokens and its wall time.
When an evaluation runs several strategies on one question, their independent first answers are
shared through a :class:`FirstAnswers` cache; a cached answer still counts toward the cost of
every strategy that uses it (its call, tokens and latency), so each strategy reports what it
would have cost on its own.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lmteams.config import TeamSpec
from lmteams.consensus.answers import Answer, Extractor, json_first
from lmteams.consensus.confidence import confidence_of
from lmteams.consensus.grouping import group_by_text, group_by_vectors, mergeable
from lmteams.consensus.settings import ConsensusSpec
from lmteams.consensus.structured import structured_request
from lmteams.consensus.voting import Decision, Vote
from lmteams.errors import ConfigError, ModelError
from lmteams.models.base import ModelBackend
from lmteams.models.registry import backend_type
from lmteams.strategies.embeddings import Embedder, team_embedder
from lmteams.strategies.result import (
    AskResult,
    NodeAnswer,
    ProgressCallback,
    decided,
    failed_answer,
    node_answer,
)
from lmteams.team import Team

Chat = str | list[dict[str, str]]


@dataclass(slots=True)
class FirstAnswers:
    """Each node's independent answer to one question, kept for the strategies that follow."""

    question: str
    by_node: dict[str, NodeAnswer] = field(default_factory=dict)


@dataclass(slots=True)
class Cost:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_wall_s: float = 0.0  # latency of shared answers this strategy used

    def add(self, answer: NodeAnswer) -> None:
        self.calls += 1
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens


class Context:
    """One strategy answering one question through an open team."""

    def __init__(
        self,
        team: Team,
        question: str,
        settings: ConsensusSpec,
        extract: Extractor,
        *,
        on_progress: ProgressCallback | None = None,
        cache: FirstAnswers | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.team = team
        self.spec = team.spec
        self.question = question
        self.settings = settings
        # answer_format json: the question with the reply's shape, and its schema
        self.structured = (
            structured_request(question, settings.answer_schema)
            if settings.answer_format == "json"
            else None
        )
        self.extract = json_first(extract) if self.structured else extract
        self.on_progress = on_progress
        self.cache = cache if cache is not None and cache.question == question else None
        self.embedder = embedder
        self.cost = Cost()
        self.started = time.perf_counter()
        self._logprobs: dict[str, bool] = {}

    # -- calling nodes ---------------------------------------------------------------------

    def wants_logprobs(self, node: str) -> bool:
        if node not in self._logprobs:
            self._logprobs[node] = backend_can(self.spec, node, "can_logprobs")
        return self._logprobs[node]

    async def call(
        self, node: str, chat: Chat, sampling: dict[str, Any] | None = None
    ) -> tuple[NodeAnswer, str]:
        """One node's reply as an answer (failed if the call fails), and its raw text."""
        if self.on_progress:
            self.on_progress(node, "running", None)
        try:
            reply = await self.team.call(node, chat, sampling=sampling, durable=False)
        except ModelError as exc:
            failed = failed_answer(self.spec, self.spec.node(node), exc)
            self.cost.calls += 1
            if self.on_progress:
                self.on_progress(node, "failed", failed)
            return failed, ""
        answer = node_answer(self.spec, reply, self.extract)
        confidence, source = confidence_of(reply.text, reply.token_logprobs)
        served_by = getattr(reply, "served_by", None)  # set when fault handling rerouted it
        answer = replace(
            answer,
            confidence=confidence,
            confidence_source=source,
            served_by=served_by if served_by and served_by != node else None,
        )
        self.cost.add(answer)
        if self.on_progress:
            self.on_progress(node, "done", answer)
        return answer, reply.text

    async def fan_out(
        self, calls: Sequence[tuple[str, Chat, dict[str, Any] | None]]
    ) -> list[NodeAnswer]:
        """Concurrent calls; one commit barrier before the replies are used."""
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self.call(n, c, s)) for n, c, s in calls]
        await self.team.wait_durable()
        return [t.result()[0] for t in tasks]

    async def first_answers(self, nodes: Sequence[str]) -> list[NodeAnswer]:
        """Each node's independent answer to the question (shared through the cache)."""
        cached = {n: self.cache.by_node[n] for n in nodes if self.cache and n in self.cache.by_node}
        missing = [n for n in nodes if n not in cached]
        fresh = await self.fan_out([self.first_request(n) for n in missing])
        for answer in cached.values():
            self.cost.add(answer)
            if self.on_progress:
                self.on_progress(answer.node, answer.status, answer)
        if cached and not missing:  # the wave would have taken as long as its slowest call
            self.cost.cached_wall_s += max(a.latency_s for a in cached.values())
        if self.cache is not None:
            for answer in fresh:
                self.cache.by_node[answer.node] = answer
        merged = {**cached, **{a.node: a for a in fresh}}
        return [merged[n] for n in nodes]

    def first_request(
        self, node: str, *, logprobs: bool = True
    ) -> tuple[str, Chat, dict[str, Any] | None]:
        """A first answer's call: the question (structured: with the reply's shape, and its
        schema for a backend that can constrain its output)."""
        wanted = logprobs and self.wants_logprobs(node)
        sampling: dict[str, Any] = {"logprobs": True} if wanted else {}
        if self.structured is None:
            return node, self.question, sampling or None
        prompt, schema = self.structured
        if backend_can(self.spec, node, "can_json_schema"):
            sampling["json_schema"] = schema
        return node, prompt, sampling or None

    # -- answers ---------------------------------------------------------------------------

    async def grouped(self, answers: Sequence[NodeAnswer]) -> list[NodeAnswer]:
        """Answers with similar free text merged into one group (see consensus.grouping)."""
        method = self.settings.similarity
        if method == "exact":
            return list(answers)
        extracted = [Answer(a.answer_key or "", a.answer or "") for a in answers]
        if method == "embedding":
            vectors = await self._vectors(extracted)
            regrouped = group_by_vectors(extracted, vectors, self.settings.threshold)
        else:
            regrouped = group_by_text(extracted, method, self.settings.threshold)
        return [
            replace(a, answer_key=g.key or None, answer=g.text or None)
            if a.status == "done" and a.answer_key
            else a
            for a, g in zip(answers, regrouped, strict=True)
        ]

    async def _vectors(self, answers: Sequence[Answer]) -> dict[str, list[float]]:
        texts = list(dict.fromkeys(a.key for a in answers if mergeable(a.key)))
        if len(texts) < 2:
            return {}
        if self.embedder is None:
            model = self.settings.embedding_model
            if model is None:
                raise ConfigError(
                    "similarity: embedding needs embedding_model", field="embedding_model"
                )
            self.embedder = team_embedder(self.team, model)
        vectors = await self.embedder(texts)
        return dict(zip(texts, vectors, strict=True))

    # -- result ----------------------------------------------------------------------------

    def result(
        self,
        strategy: str,
        decision: Decision,
        answers: Sequence[NodeAnswer],
        detail: dict[str, Any] | None = None,
        *,
        answer: Answer | None = None,
    ) -> AskResult:
        """The strategy's result, logged as this question's decision event."""
        cost = self.cost
        return decided(
            self.team,
            self.question,
            strategy,
            decision,
            answers,
            calls=cost.calls,
            prompt_tokens=cost.prompt_tokens,
            completion_tokens=cost.completion_tokens,
            wall_s=time.perf_counter() - self.started + cost.cached_wall_s,
            answer=answer,
            detail=detail,
        )


def votes(answers: Sequence[NodeAnswer], weights: dict[str, float] | None = None) -> list[Vote]:
    """One vote per answering node, in the given order (which breaks ties)."""
    return [
        Vote(a.node, Answer(a.answer_key or "", a.answer or ""), (weights or {}).get(a.node, 1.0))
        for a in answers
        if a.status == "done"
    ]


def backend_can(spec: TeamSpec, node: str, capability: str) -> bool:
    """Whether the node's backend class declares ``capability`` (e.g. ``can_logprobs``)."""
    kind = spec.models[spec.model_of(spec.node(node))].backend
    try:
        module = importlib.import_module(backend_type(kind).module)
    except (ImportError, ConfigError):
        return False
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ModelBackend) and value.kind == kind:
            return bool(getattr(value, capability, False))
    return False
