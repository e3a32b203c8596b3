"""Consensus strategies that call models: the imperative shell around :mod:`lmteams.consensus`.

Each strategy is a coroutine taking a :class:`~lmteams.strategies.base.Context` (an open team,
the question, the settings) and returning an :class:`~lmteams.strategies.result.AskResult` with its cost.
The pure rules it applies live in :mod:`lmteams.consensus`; the names match its catalog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lmteams.consensus.answers import Extractor
from lmteams.consensus.catalog import STRATEGIES, check_strategy
from lmteams.consensus.settings import ConsensusSpec
from lmteams.strategies import adaptive, debate, gentest, judge, learned, program, routed, voting
from lmteams.strategies.base import Context, FirstAnswers
from lmteams.strategies.embeddings import Embedder
from lmteams.strategies.result import AskResult, ProgressCallback
from lmteams.team import Team

Strategy = Callable[[Context], Awaitable[AskResult]]

RUNNERS: dict[str, Strategy] = {
    "majority": voting.majority,
    "plurality": voting.plurality,
    "weighted": voting.weighted,
    "confidence": voting.confidence,
    "quorum": voting.quorum,
    "judge": judge.judge,
    "debate": debate.debate,
    "moa": debate.moa,
    "learned": learned.learned,
    "adaptive": adaptive.adaptive,
    "cascade": adaptive.cascade,
    "program": program.program,
    "gentest": gentest.gentest,
    "routed": routed.routed,
    "single": voting.single,
    "greedy": voting.greedy,
}
assert set(RUNNERS) == set(STRATEGIES), "every cataloged strategy has a runner"

__all__ = ["RUNNERS", "Context", "FirstAnswers", "run_strategy"]


async def run_strategy(
    team: Team,
    question: str,
    name: str,
    settings: ConsensusSpec,
    extract: Extractor,
    *,
    on_progress: ProgressCallback | None = None,
    cache: FirstAnswers | None = None,
    embedder: Embedder | None = None,
) -> AskResult:
    """Answer ``question`` through the open ``team`` with strategy ``name``.

    ``cache`` shares the nodes' independent first answers between strategies run on the same
    question (an evaluation); each strategy still reports the cost of every answer it used.
    """
    ctx = Context(
        team,
        question,
        settings,
        extract,
        on_progress=on_progress,
        cache=cache,
        embedder=embedder,
    )
    return await RUNNERS[check_strategy(name)](ctx)
