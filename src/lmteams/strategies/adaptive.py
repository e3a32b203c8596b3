"""Adaptive waves and the cascade: ask fewer nodes when the first answers already settle it.

adaptive: the fewest nodes (in team order) whose weight is a majority answer first; then
``wave`` more at a time until the leader cannot be overtaken by the nodes not yet asked (or,
with ``stop_confidence``, until the leader holds a majority with that probability). Without
``stop_confidence`` the answer is always the one asking every node would give.

cascade: tiers by model price (``tiers`` to set the order); the first tier answers, and the
next, stronger tier is asked only when the previous one disagrees, gives no answer, or is a
single answer that no earlier node confirmed (and that is less confident than
``stop_confidence``, when set); the last tier's answer stands as it is.
"""

from __future__ import annotations

from typing import Any

from lmteams.consensus import adaptive as rules
from lmteams.consensus.answers import Answer
from lmteams.consensus.voting import Decision, majority, weighted
from lmteams.state.events import AdaptiveWave, CascadeTier
from lmteams.strategies.base import Context, votes
from lmteams.strategies.result import AskResult, NodeAnswer


def _decide(answers: list[NodeAnswer], weights: dict[str, float]) -> Decision:
    if all(w == 1.0 for w in weights.values()):
        return majority(votes(answers))
    return weighted(votes(answers, weights))


async def adaptive(ctx: Context) -> AskResult:
    nodes = list(ctx.spec.node_names)
    weights = {node.name: node.weight for node in ctx.spec.nodes}
    size = rules.first_wave([weights[n] for n in nodes])
    answers: list[NodeAnswer] = []
    waves: list[dict[str, Any]] = []
    why = ""
    while len(answers) < len(nodes):
        wave = nodes[len(answers) : len(answers) + size]
        answers += await ctx.first_answers(wave)
        answers = await ctx.grouped(answers)
        remaining = sum(weights[n] for n in nodes[len(answers) :])
        stop, why = rules.should_stop(
            votes(answers, weights), remaining, ctx.settings.stop_confidence
        )
        waves.append({"asked": wave, "answers": {a.node: a.answer for a in answers[-len(wave) :]}})
        ctx.team.event(AdaptiveWave(**waves[-1], stop=stop, why=why))
        if stop:
            break
        size = ctx.settings.wave
    decision = _decide(answers, weights)
    detail = {
        "waves": waves,
        "asked": len(answers),
        "skipped": len(nodes) - len(answers),
        "stopped": why,
    }
    return ctx.result("adaptive", decision, answers, detail)


def _unconfirmed(
    tier: list[NodeAnswer], asked: list[NodeAnswer], answer: Answer | None, threshold: float | None
) -> bool:
    """A tier of one answer escalates unless confirmed (``rules.lone_answer_stands``)."""
    done = [a for a in tier if a.status == "done"]
    if answer is None or len(done) != 1:
        return False
    return not rules.lone_answer_stands(votes(asked), answer, done[0].confidence, threshold)


async def cascade(ctx: Context) -> AskResult:
    spec = ctx.spec
    price = {
        name: m.prices.input_per_mtok + m.prices.output_per_mtok for name, m in spec.models.items()
    }
    tiers = rules.tiers_by_price(
        [(n.name, spec.model_of(n)) for n in spec.nodes], price, ctx.settings.tiers
    )
    asked: list[NodeAnswer] = []
    records: list[dict[str, Any]] = []
    decision = Decision(None, 0.0, 0.0, reason="no node gave an answer")
    tier_answers: list[NodeAnswer] = []
    escalate = False
    for number, tier in enumerate(tiers, 1):
        tier_answers = await ctx.grouped(await ctx.first_answers(tier))
        asked += tier_answers
        decision = majority(votes(tier_answers))
        escalate = rules.escalate(decision) or _unconfirmed(
            tier_answers, asked, decision.answer, ctx.settings.stop_confidence
        )
        records.append(
            {
                "tier": number,
                "nodes": tier,
                "answers": {a.node: a.answer for a in tier_answers},
                "escalate": escalate and number < len(tiers),
            }
        )
        ctx.team.event(CascadeTier(**records[-1]))
        if not escalate:
            break
    if decision.answer is None:  # the last tier said nothing usable: use everything heard
        decision = majority(votes(asked))
    where = f"tier {len(records)} of {len(tiers)}"
    if decision.answer is None or rules.escalate(decision):
        reason = f"cascade: {decision.reason} at {where}"
    elif escalate:
        reason = f"cascade: the last tier's one answer, unconfirmed ({where})"
    elif sum(a.status == "done" for a in tier_answers) == 1:
        reason = f"cascade: {where}, its one answer confirmed"
    else:
        reason = f"cascade: {where} agreed"
    decision = decision.with_reason(reason)
    detail = {"tiers": records, "asked": len(asked), "of": len(spec.nodes)}
    return ctx.result("cascade", decision, asked, detail)
