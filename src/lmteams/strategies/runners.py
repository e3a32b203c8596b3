"""Every consensus strategy by name (:data:`RUNNERS`), and :func:`run_strategy`, which runs one.

Apart from the package's ``__init__`` so that importing one part of the strategies (the
result of an ask, the lean majority path of :mod:`lmteams.strategies.ask`) does not import
them all: this module loads every strategy, and numpy with the learned ones.
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

__all__ = ["RUNNERS", "run_strategy"]


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
