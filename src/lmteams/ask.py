"""`ask`: one question to every node at once, answers extracted and decided by vote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class NodeAnswer:
    """One node's contribution to an ask (a dataclass: one is built per node call)."""

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
    """Open a run for ``spec``, ask every node ``question`` and decide by majority.

    A node that fails is reported as failed and does not vote; the run still completes.
    """
    extract = get_extractor(extractor)
    params: dict[str, Any] = {"question": question, "consensus": "majority"}
    team = Team(spec, store, kind="ask", params=params, runtime=runtime, backends=backends)
    async with team:
        result = await ask_team(team, question, extractor=extract, on_progress=on_progress)
        team.result = result.model_dump(mode="json")
    return result


async def ask_team(
    team: Team,
    question: str,
    *,
    extractor: str | Extractor = "auto",
    on_progress: ProgressCallback | None = None,
) -> AskResult:
    """Ask every node of an open team ``question`` concurrently and decide by majority.

    Many questions can go through one open team (one run); each gets its own decision event.
    """
    extract = get_extractor(extractor)
    spec = team.spec
    started = time.perf_counter()
    calls_before = team.totals.calls
    prompt_before = team.totals.prompt_tokens
    completion_before = team.totals.completion_tokens

    async def one(node_name: str) -> NodeAnswer:
        if on_progress:
            on_progress(node_name, "running", None)
        try:
            reply = await team.call(node_name, question, durable=False)
        except ModelError as exc:
            node = spec.node(node_name)
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
        if on_progress:
            on_progress(node_name, "done", answered)
        return answered

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(name)) for name in spec.node_names]
    answers = [t.result() for t in tasks]
    await team.wait_durable()  # one commit barrier before the replies are used
    decision = majority(votes_of(answers))
    # Every field is built here from checked values; skip re-validating each node's answer.
    result = AskResult.model_construct(
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
        calls=team.totals.calls - calls_before,
        prompt_tokens=team.totals.prompt_tokens - prompt_before,
        completion_tokens=team.totals.completion_tokens - completion_before,
        wall_s=time.perf_counter() - started,
    )
    decision_event = result.model_dump(mode="json", exclude={"nodes"})
    decision_event["votes"] = {a.node: a.answer_key for a in answers if a.status == "done"}
    team.event("decision", decision_event)
    return result
