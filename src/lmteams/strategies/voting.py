"""Strategies that ask every node once and apply a pure voting rule (and the one-node baselines).

majority, plurality, weighted (team-file weights), confidence (each node's own confidence),
quorum (Byzantine 2f+1 of n >= 3f+1), single (one node, its own sampling) and greedy (one node,
temperature 0).
"""

from __future__ import annotations

from lmteams.consensus import quorum as quorum_rule
from lmteams.consensus import voting
from lmteams.consensus.confidence import STATE_CONFIDENCE
from lmteams.strategies.base import Context, votes
from lmteams.strategies.result import AskResult, NodeAnswer


async def majority(ctx: Context) -> AskResult:
    answers = await ctx.grouped(await ctx.first_answers(ctx.spec.node_names))
    return ctx.result("majority", voting.majority(votes(answers)), answers)


async def plurality(ctx: Context) -> AskResult:
    answers = await ctx.grouped(await ctx.first_answers(ctx.spec.node_names))
    return ctx.result("plurality", voting.plurality(votes(answers)), answers)


async def weighted(ctx: Context) -> AskResult:
    answers = await ctx.grouped(await ctx.first_answers(ctx.spec.node_names))
    weights = {node.name: node.weight for node in ctx.spec.nodes}
    decision = voting.weighted(votes(answers, weights))
    return ctx.result("weighted", decision, answers, {"weights": weights})


async def confidence(ctx: Context) -> AskResult:
    """Votes weighted by confidence: token log-probabilities where the backend returns them,
    else a confidence the node is asked to state."""
    nodes = ctx.spec.node_names
    measured = [n for n in nodes if ctx.wants_logprobs(n)]
    stated = [n for n in nodes if n not in measured]
    prompt = f"{ctx.question}\n\n{STATE_CONFIDENCE}"
    by_node = {a.node: a for a in await ctx.first_answers(measured)} if measured else {}
    if stated:
        by_node.update({a.node: a for a in await ctx.fan_out([(n, prompt, None) for n in stated])})
    answers = await ctx.grouped([by_node[n] for n in nodes])
    weights = {a.node: a.confidence or 0.0 for a in answers if a.status == "done"}
    decision = voting.weighted(votes(answers, weights))
    reason = decision.reason.replace("weighted", "confidence-weighted")
    decision = decision.with_reason(reason)
    detail = {
        "confidence": {n: round(w, 4) for n, w in weights.items()},
        "source": {a.node: a.confidence_source for a in answers if a.status == "done"},
    }
    return ctx.result("confidence", decision, answers, detail)


async def quorum(ctx: Context) -> AskResult:
    """An answer needs 2f + 1 agreeing nodes of n >= 3f + 1; otherwise "no consensus"."""
    nodes = ctx.spec.node_names
    n = len(nodes)
    f = quorum_rule.max_faults(n) if ctx.settings.faults is None else ctx.settings.faults
    quorum_rule.check_faults(n, f)  # before any call: a bad setting costs nothing
    answers = await ctx.grouped(await ctx.first_answers(nodes))
    decision = quorum_rule.quorum(votes(independent(answers)), n, f)
    detail: dict[str, object] = {
        "n": n,
        "f": f,
        "needed": 2 * f + 1,
        "no_consensus": decision.answer is None,
    }
    rerouted = {a.node: a.served_by for a in answers if a.served_by}
    if rerouted:
        detail["rerouted"] = rerouted
    return ctx.result("quorum", decision, answers, detail)


def independent(answers: list[NodeAnswer]) -> list[NodeAnswer]:
    """One answer per node that actually answered: a call rerouted to a node that also answered
    for itself (fault handling's fallback or hedge) must not vote twice."""
    seen: set[str] = set()
    kept = []
    for answer in sorted(answers, key=lambda a: a.served_by is not None):
        server = answer.served_by or answer.node
        if answer.status == "done" and server not in seen:
            seen.add(server)
            kept.append(answer)
    order = {a.node: i for i, a in enumerate(answers)}
    return sorted(kept, key=lambda a: order[a.node])


def baseline_node(ctx: Context) -> str:
    return ctx.settings.node or ctx.spec.node_names[0]


def _alone(answers: list[NodeAnswer], how: str) -> voting.Decision:
    decision = voting.plurality(votes(answers))
    reason = f"one node ({how})" if decision.answer is not None else decision.reason
    return voting.Decision(decision.answer, decision.support, decision.total, reason=reason)


async def single(ctx: Context) -> AskResult:
    """One node with its own sampling settings: the baseline a team must beat."""
    node = baseline_node(ctx)
    answers = await ctx.first_answers([node])
    return ctx.result("single", _alone(answers, "sampled"), answers, {"node": node})


async def greedy(ctx: Context) -> AskResult:
    """One node decoding greedily (temperature 0)."""
    node = baseline_node(ctx)
    # the question as every first answer gets it (structured, with answer_format json)
    _, chat, sampling = ctx.first_request(node, logprobs=False)
    answers = await ctx.fan_out([(node, chat, {**(sampling or {}), "temperature": 0.0})])
    return ctx.result("greedy", _alone(answers, "greedy"), answers, {"node": node})
