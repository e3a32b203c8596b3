"""`ask`: one question to every node at once, answers extracted and decided by vote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, cast

from lmteams.config import NodeSpec, TeamSpec
from lmteams.consensus.answers import Extractor, get_extractor
from lmteams.consensus.catalog import check_strategy
from lmteams.consensus.quorum import check_faults
from lmteams.consensus.settings import ConsensusSpec
from lmteams.consensus.voting import majority
from lmteams.errors import ModelError
from lmteams.limits import check_text
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.state.store import EventStore
from lmteams.strategies.result import (
    AskResult,
    NodeAnswer,
    ProgressCallback,
    decided,
    failed_answer,
    node_answer,
    votes_of,
)
from lmteams.team import Team

Options = ConsensusSpec | Mapping[str, Any] | None


def resolve(spec: TeamSpec, consensus: str | None, options: Options) -> tuple[str, ConsensusSpec]:
    """The strategy and its settings: flags (``consensus``, ``options``) over the team file."""
    if isinstance(options, ConsensusSpec):
        settings = options
    else:
        settings = spec.consensus.with_overrides(options or {})
        if options:
            settings.check_team(spec.node_names, list(spec.models), prefix="--")
    name = check_strategy(consensus) if consensus is not None else settings.strategy
    if name == "quorum" and settings.faults is not None:  # fail before any work starts
        check_faults(len(spec.nodes), settings.faults)
    return name, settings


async def ask(
    spec: TeamSpec,
    question: str,
    store: EventStore,
    *,
    consensus: str | None = None,
    options: Options = None,
    extractor: str | Extractor = "auto",
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    on_progress: ProgressCallback | None = None,
) -> AskResult:
    """Open a run for ``spec``, ask the team ``question`` and decide by ``consensus``.

    ``consensus`` names a strategy (see :data:`lmteams.consensus.catalog.STRATEGIES`; default:
    the team file's ``consensus.strategy``, else majority); ``options`` overrides the team
    file's ``consensus:`` settings. A node that fails is reported as failed and does not vote;
    the run still completes. Every strategy reports its calls, tokens and wall time.
    """
    check_text(question, field="question")  # blank or past the limit: refused before any call
    extract = get_extractor(extractor, question=question)
    name, settings = resolve(spec, consensus, options)
    # Everything the decision depends on is logged, so `lmteams resume` decides the same way.
    params: dict[str, Any] = {
        "question": question,
        "consensus": name,
        "options": settings.model_dump(mode="json"),
    }
    if isinstance(extractor, str):
        params["extractor"] = extractor
    team = Team(spec, store, kind="ask", params=params, runtime=runtime, backends=backends)
    async with team:
        result = await ask_team(
            team,
            question,
            consensus=name,
            options=settings,
            extractor=extract,
            on_progress=on_progress,
        )
        team.result = result.model_dump(mode="json")
    return result


async def ask_team(
    team: Team,
    question: str,
    *,
    consensus: str | None = None,
    options: Options = None,
    extractor: str | Extractor = "auto",
    on_progress: ProgressCallback | None = None,
) -> AskResult:
    """Ask an open team ``question`` and decide by ``consensus`` (default: majority).

    Many questions can go through one open team (one run); each gets its own decision event.
    Majority over exact answers takes a lean path: one concurrent fan-out and a vote.
    """
    settings = options if isinstance(options, ConsensusSpec) else None
    if options is None:
        settings = team.spec.consensus
    if (
        settings is not None
        and settings.similarity == "exact"
        and settings.answer_format == "text"
        and (consensus or settings.strategy) == "majority"
    ):
        return await _majority(
            team, question, get_extractor(extractor, question=question), on_progress
        )
    from lmteams.strategies.runners import run_strategy  # the others load on first use

    name, settings = resolve(team.spec, consensus, options)
    return await run_strategy(
        team,
        question,
        name,
        settings,
        get_extractor(extractor, question=question),
        on_progress=on_progress,
    )


async def _majority(
    team: Team, question: str, extract: Extractor, on_progress: ProgressCallback | None
) -> AskResult:
    """Every node answers concurrently; the most common answer wins."""
    spec = team.spec
    started = time.perf_counter()
    calls_before = team.totals.calls
    prompt_before = team.totals.prompt_tokens
    completion_before = team.totals.completion_tokens
    nodes = spec.nodes
    answers: list[NodeAnswer | None] = [None] * len(nodes)  # in team order (it breaks ties)
    left = len(nodes)
    result: AskResult | None = None

    def decide() -> AskResult:
        done = cast(list[NodeAnswer], answers)
        return decided(
            team,
            question,
            "majority",
            majority(votes_of(done)),
            done,
            calls=team.totals.calls - calls_before,
            prompt_tokens=team.totals.prompt_tokens - prompt_before,
            completion_tokens=team.totals.completion_tokens - completion_before,
            wall_s=time.perf_counter() - started,
        )

    def record(i: int, answer: NodeAnswer) -> None:
        nonlocal left, result
        answers[i] = answer
        left -= 1
        if left == 0:
            # The last answer decides at once: its decision is logged in the same step as the
            # replies, so one commit holds them all (deciding after the tasks are gathered
            # came a loop iteration late and cost a commit of its own, per ask).
            result = decide()

    async def one(i: int, node: NodeSpec) -> None:
        node_name = node.name
        if on_progress:
            on_progress(node_name, "running", None)
        try:
            reply = await team.call(node_name, question, durable=False)
        except ModelError as exc:
            failed = failed_answer(spec, node, exc)
            if on_progress:
                on_progress(node_name, "failed", failed)
            record(i, failed)
            return
        answered = node_answer(spec, reply, extract, node=node)
        if on_progress:
            on_progress(node_name, "done", answered)
        record(i, answered)

    async with asyncio.TaskGroup() as group:
        for i, node in enumerate(nodes):
            group.create_task(one(i, node))
    if result is None:  # a team of no nodes
        result = decide()
    await team.wait_durable()  # one commit barrier before the result is used
    return result
