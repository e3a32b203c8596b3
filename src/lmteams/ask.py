"""`ask`: one question to every node at once, answers extracted and decided by vote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lmteams.config import TeamSpec
from lmteams.consensus.answers import Answer, Extractor, get_extractor
from lmteams.consensus.voting import Vote, majority
from lmteams.errors import ModelError
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.state.store import EventStore
from lmteams.team import Reply, Team

NodeStatus = Literal["waiting", "running", "done", "failed"]
ProgressCallback = Callable[[str, NodeStatus, "NodeAnswer | None"], None]


class NodeAnswer(BaseModel):
    """One node's contribution to an ask."""

    model_config = ConfigDict(frozen=True)

    node: str
    role: str
    model: str
    status: Literal["done", "failed"]
    answer: str | None = None
    answer_key: str | None = None
    reply: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


class AskResult(BaseModel):
    """Everything ``lmteams ask`` reports; also its ``--json`` output."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    question: str
    answer: str | None
    agreement: float
    support: float
    valid_votes: float
    tie: bool
    tied: list[str]
    decided_by: str
    nodes: list[NodeAnswer]
    calls: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def node_answer(team: TeamSpec, reply: Reply, extractor: Extractor) -> NodeAnswer:
    spec = team.node(reply.node)
    answer = extractor(reply.text)
    return NodeAnswer(
        node=reply.node,
        role=spec.role,
        model=team.model_of(spec),
        status="done",
        answer=answer.text or None,
        answer_key=answer.key or None,
        reply=reply.text,
        prompt_tokens=reply.usage.prompt_tokens,
        completion_tokens=reply.usage.completion_tokens,
        latency_s=reply.latency_s,
    )


def votes_of(answers: list[NodeAnswer]) -> list[Vote]:
    """One vote per node that answered, in team order (which breaks ties)."""
    return [
        Vote(a.node, Answer(a.answer_key or "", a.answer or ""))
        for a in answers
        if a.status == "done"
    ]


async def ask(
    spec: TeamSpec,
    question: str,
    store: EventStore,
    *,
    extractor: str | Extractor = "auto",
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    on_progress: ProgressCallback | None = None,
) -> AskResult:
    """Ask every node ``question`` concurrently and decide the team's answer by majority.

    A node that fails is reported as failed and does not vote; the run still completes.
    """
    extract = get_extractor(extractor)
    started = time.perf_counter()
    params: dict[str, Any] = {"question": question, "consensus": "majority"}
    team = Team(spec, store, kind="ask", params=params, runtime=runtime, backends=backends)
    async with team:

        async def one(node_name: str) -> NodeAnswer:
            if on_progress:
                on_progress(node_name, "running", None)
            node = spec.node(node_name)
            try:
                reply = await team.call(node_name, question)
            except ModelError as exc:
                failed = NodeAnswer(
                    node=node_name,
                    role=node.role,
                    model=spec.model_of(node),
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}",
                )
                if on_progress:
                    on_progress(node_name, "failed", failed)
                return failed
            answered = node_answer(spec, reply, extract)
            team.event(
                "answer_extracted",
                {"answer": answered.answer, "key": answered.answer_key},
                node=node_name,
            )
            if on_progress:
                on_progress(node_name, "done", answered)
            return answered

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(name)) for name in spec.node_names]
        answers = [t.result() for t in tasks]
        decision = majority(votes_of(answers))
        result = AskResult(
            run_id=team.run_id,
            question=question,
            answer=decision.answer.text if decision.answer else None,
            agreement=decision.agreement,
            support=decision.support,
            valid_votes=decision.total,
            tie=decision.tie,
            tied=[a.text for a in decision.tied],
            decided_by=decision.reason,
            nodes=answers,
            calls=team.totals.calls,
            prompt_tokens=team.totals.usage.prompt_tokens,
            completion_tokens=team.totals.usage.completion_tokens,
            wall_s=time.perf_counter() - started,
        )
        team.event("decision", result.model_dump(mode="json", exclude={"nodes"}))
        team.result = result.model_dump(mode="json")
    return result
