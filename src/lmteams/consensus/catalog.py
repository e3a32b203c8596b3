"""The consensus strategies by name: what each does and whether it needs extra model calls.

The catalog is what ``--consensus`` validates against and what ``--help`` lists; the shell
(:mod:`lmteams.strategies`) holds the implementations under the same names. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmteams.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    name: str
    summary: str
    #: Calls beyond one independent answer per node (judge, debate rounds, layers...).
    extra_calls: bool = False


STRATEGIES: dict[str, StrategyInfo] = {
    s.name: s
    for s in (
        StrategyInfo("majority", "most common answer; ties broken by team order and reported"),
        StrategyInfo("plurality", "most common answer, even without a majority; ties reported"),
        StrategyInfo("weighted", "votes weighted by each node's `weight` in the team file"),
        StrategyInfo("confidence", "votes weighted by each node's own confidence (log-probs)"),
        StrategyInfo("quorum", "needs 2f+1 agreeing of n >= 3f+1 nodes, else 'no consensus'"),
        StrategyInfo("judge", "a judge node picks or synthesizes among shuffled candidates", True),
        StrategyInfo("debate", "rounds in which nodes see the others' answers and revise", True),
        StrategyInfo("moa", "mixture of agents: layers refine, an aggregator answers", True),
        StrategyInfo("learned", "votes weighted by learned reliability (Dawid-Skene, meta-model)"),
        StrategyInfo("adaptive", "ask in waves; stop once the leader cannot be overtaken"),
        StrategyInfo("cascade", "cheap model first; a stronger one only on disagreement"),
        StrategyInfo("program", "coders write Python programs; what each prints is its vote", True),
        StrategyInfo(
            "gentest", "candidate programs run against the tests; the most agreed-on wins", True
        ),
        StrategyInfo("routed", "the nodes best at the question's kind first; more on disagreement"),
        StrategyInfo("single", "one node answers with its own sampling (a baseline)"),
        StrategyInfo("greedy", "one node answers greedily, temperature 0 (a baseline)"),
    )
}


def check_strategy(name: str, *, field: str = "--consensus") -> str:
    if name not in STRATEGIES:
        raise ConfigError(
            f"unknown consensus strategy {name!r}; one of: {', '.join(STRATEGIES)}", field=field
        )
    return name


def parse_strategies(text: str, *, field: str = "--consensus") -> list[str]:
    """``"majority, judge,debate"`` -> ``["majority", "judge", "debate"]``, validated, deduped."""
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        check_strategy(name, field=field)
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError("name at least one consensus strategy", field=field)
    return names
