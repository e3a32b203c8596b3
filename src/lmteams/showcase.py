"""Each member alone beside the team, question by question: what `make demo` shows.

For every labeled question, each node that answers on a model answers alone (greedy, its own
run), then the team answers with its consensus strategy. Every answer is scored the way
``lmteams eval`` scores it (:func:`lmteams.consensus.scoring.item_extractor`), and the team's
evidence is kept: for the ``program`` strategy, the program whose printed result carried the vote.
Every call is an ordinary ask run in the event log (``lmteams runs``, ``lmteams show RUN``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from lmteams.config import TeamSpec
from lmteams.consensus.datasets import Item
from lmteams.consensus.scoring import gold_key, item_extractor
from lmteams.models.base import ModelBackend
from lmteams.runtime.pool import BackendPool
from lmteams.state.events import ProgramRun
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.strategies.result import AskResult

TOOL_BACKENDS = ("python", "retrieval", "mcp")


class Answered(BaseModel):
    """One answer to one question: a member's alone, or the team's."""

    model_config = ConfigDict(frozen=True)

    who: str
    model: str
    answer: str | None
    correct: bool
    error: str | None = None
    run_id: str
    calls: int
    wall_s: float


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str
    program: str
    printed: str


class ShowcaseItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    question: str
    label: str
    members: list[Answered]
    team: Answered
    evidence: Evidence | None = None


class Showcase(BaseModel):
    """The whole comparison; also ``lmteams demo --json``."""

    model_config = ConfigDict(frozen=True)

    team: str
    strategy: str
    items: list[ShowcaseItem]
    wall_s: float

    @property
    def members(self) -> list[str]:
        return [m.who for m in self.items[0].members] if self.items else []

    def right(self, who: str) -> int:
        """Questions ``who`` (a member, or "team") answered right."""
        if who == "team":
            return sum(item.team.correct for item in self.items)
        return sum(m.correct for item in self.items for m in item.members if m.who == who)


def _answered(result: AskResult, who: str, model: str, gold: str) -> Answered:
    failed = next((n.error for n in result.nodes if n.status == "failed"), None)
    return Answered(
        who=who,
        model=model,
        answer=result.answer,
        correct=result.answer is not None and result.answer_key == gold,
        error=None if result.answer is not None else failed or "no answer",
        run_id=result.run_id,
        calls=result.calls,
        wall_s=result.wall_s,
    )


def _evidence(store: EventStore, result: AskResult) -> Evidence | None:
    """The program behind the winning vote, when the strategy ran programs."""
    for record in store.events(result.run_id, types=["program_run"]):
        run = record.event
        if isinstance(run, ProgramRun) and run.ok and run.vote == result.answer:
            return Evidence(
                node=record.node or "", program=run.program or "", printed=run.stdout.strip()
            )
    return None


async def showcase(
    spec: TeamSpec,
    items: Sequence[Item],
    store: EventStore,
    *,
    strategy: str | None = None,
    on_step: Callable[[str], None] | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
) -> Showcase:
    """Ask every model node alone, then the team (``strategy``, default the team file's).

    ``on_step`` gets one plain line per answer, as it arrives; ``backends`` overrides the
    team's model backends (tests). Every ask runs on the same backends: each embedded model
    is loaded once for the whole showcase, and closed at its end.
    """
    async with BackendPool(backends) as pool:
        return await _showcase(spec, items, store, strategy, on_step, pool.backends_for(spec))


async def _showcase(
    spec: TeamSpec,
    items: Sequence[Item],
    store: EventStore,
    strategy: str | None,
    on_step: Callable[[str], None] | None,
    backends: Mapping[str, ModelBackend],
) -> Showcase:
    started = time.perf_counter()
    members = [n for n in spec.nodes if spec.models[spec.model_of(n)].backend not in TOOL_BACKENDS]
    say = on_step or (lambda line: None)
    done: list[ShowcaseItem] = []
    name = strategy or spec.consensus.strategy
    for number, item in enumerate(items, 1):
        extract = item_extractor(item.question, item.answer, item.answer_type)
        gold = gold_key(item.answer, extract)
        alone = []
        for node in members:
            result = await ask(
                spec,
                item.question,
                store,
                consensus="greedy",
                options={"node": node.name},
                extractor=extract,
                backends=backends,
            )
            alone.append(_answered(result, node.name, spec.model_of(node), gold))
            mark = "right" if alone[-1].correct else "wrong"
            say(f"[{number}/{len(items)}] {node.name} alone: {alone[-1].answer!r} ({mark})")
        result = await ask(
            spec, item.question, store, consensus=name, extractor=extract, backends=backends
        )
        team = _answered(result, "team", name, gold)
        mark = "right" if team.correct else "wrong"
        say(f"[{number}/{len(items)}] team ({name}): {team.answer!r} ({mark})")
        done.append(
            ShowcaseItem(
                question=item.question,
                label=item.answer,
                members=alone,
                team=team,
                evidence=_evidence(store, result),
            )
        )
    return Showcase(team=spec.name, strategy=name, items=done, wall_s=time.perf_counter() - started)
