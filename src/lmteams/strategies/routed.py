"""The routed strategy: a question goes first to the nodes that answer its kind best, cheapest of
the equally good first, and to more nodes only on disagreement (rules in
:mod:`lmteams.consensus.kinds`).

The question's kind is classified by rule; each node's accuracy on that kind comes from the
team's labeled history (:meth:`ReliabilityBook.kind_table`: labels from ``lmteams eval`` or
:meth:`ReliabilityBook.label`). Until every node has ``route_min_labels`` labeled answers of
the kind, every node answers it (so the table learns about all of them). After that the nodes
are ranked for the kind and asked ``route_width`` at a time; the asking stops once the answers
so far agree (two or more of them, or one when ``route_width`` is 1) or the leader cannot be
overtaken by the nodes not yet asked. Votes weigh the log-odds of each node's accuracy on the
kind. Every question's answers (and kind) go into the history; each wave is a
``routed_wave`` event.
"""

from __future__ import annotations

import math
from typing import Any

from lmteams.config import TeamSpec
from lmteams.consensus import kinds
from lmteams.consensus.adaptive import settled
from lmteams.consensus.voting import Decision, weighted
from lmteams.state.events import RoutedWave
from lmteams.state.reliability import ReliabilityBook
from lmteams.strategies.base import Context, votes
from lmteams.strategies.result import AskResult, NodeAnswer


def node_costs(spec: TeamSpec) -> dict[str, tuple[float, float]]:
    """(price per million tokens in and out, parameters) per node; unknown sizes rank last."""
    costs: dict[str, tuple[float, float]] = {}
    for node in spec.nodes:
        name = spec.model_of(node)
        model = spec.models[name]
        price = model.prices.input_per_mtok + model.prices.output_per_mtok
        texts = [name, *(str(v) for v in model.options.values() if isinstance(v, str))]
        size = kinds.model_size(*texts)
        costs[node.name] = (price, size if size is not None else math.inf)
    return costs


def _agreed(decision: Decision, answered: int, width: int) -> bool:
    return (
        decision.answer is not None
        and decision.support >= decision.total
        and (answered >= 2 or width == 1)
    )


async def routed(ctx: Context) -> AskResult:
    nodes = list(ctx.spec.node_names)
    settings = ctx.settings
    kind = kinds.classify(ctx.question)
    book = ReliabilityBook(ctx.team.store, ctx.spec.name)
    table = book.kind_table()
    order = kinds.rank_nodes(nodes, kind, table, node_costs(ctx.spec), settings.route_margin)
    unknown = kinds.needs_exploration(table, kind, nodes, settings.route_min_labels)
    weights = {n: table.weight(n, kind) for n in nodes}
    answers: list[NodeAnswer] = []
    waves: list[dict[str, Any]] = []
    decision = Decision(None, 0.0, 0.0, reason="no node gave an answer")
    why = ""
    while len(answers) < len(order):
        size = len(order) if unknown else settings.route_width
        wave = order[len(answers) : len(answers) + size]
        answers += await ctx.first_answers(wave)
        answers = await ctx.grouped(answers)
        decision = weighted(votes(answers, weights))
        remaining = sum(weights[n] for n in order[len(answers) :])
        answered = sum(a.status == "done" and bool(a.answer_key) for a in answers)
        if unknown:
            why = f"exploring: {', '.join(unknown)} not yet known on {kind}"
        elif _agreed(decision, answered, settings.route_width):
            why = "the answers agree"
        elif len(answers) == len(order):
            why = "every node answered"
        elif settled(votes(answers, weights), remaining):
            why = "the leader cannot be overtaken"
        else:
            why = ""
        waves.append({"asked": wave, "answers": {a.node: a.answer for a in answers[-len(wave) :]}})
        ctx.team.event(RoutedWave(**waves[-1], kind=kind, stop=bool(why), why=why))
        if why:
            break
    book.record(
        ctx.question,
        {a.node: a.answer_key or "" for a in answers if a.status == "done"},
        ctx.team.run_id,
    )
    if decision.answer is not None:
        decision = decision.with_reason(f"routed ({kind}): {decision.reason}; {why}")
    detail = {
        "kind": kind,
        "order": order,
        "explored": bool(unknown),
        "accuracy": {n: round(table.accuracy(n, kind), 4) for n in nodes},
        "labeled": {n: table.answered(n, kind) for n in nodes},
        "waves": waves,
        "asked": len(answers),
        "skipped": len(nodes) - len(answers),
        "stopped": why,
    }
    return ctx.result("routed", decision, answers, detail)
