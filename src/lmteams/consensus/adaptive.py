"""When to stop asking: adaptive waves and the cascade's escalation rule. Pure.

Adaptive: nodes are asked in waves. The first wave is the smallest that could settle the vote
(a strict majority of the weight); after each wave the vote stops once the leader's margin over
the runner-up exceeds the weight still unasked, so the full vote could not end differently. An
optional confidence also stops it once P(leader's share > 1/2) reaches that level, under a
uniform Beta prior over the votes seen (as in Adaptive-Consistency, Aggarwal et al. 2023).

Cascade: tiers of nodes, cheapest model first. A tier's answer stands when its nodes agree; on
disagreement (or no answer) the next, stronger tier is asked. A tier of one answer agrees with
nothing but itself, so it stands only when confirmed: a node of an earlier tier gave the same
answer, or it states a confidence of at least ``stop_confidence`` (when one is set). Measured
on three models of 135M, 0.5B and 1.5B parameters, trusting a lone cheap node made the cascade
the cheapest model alone (32.5% against the 1.5B model's 75%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from lmteams.consensus.answers import Answer
from lmteams.consensus.voting import Decision, Vote, tally


def first_wave(weights: Sequence[float]) -> int:
    """How many nodes (in order) to ask first: the fewest whose weight is a strict majority."""
    total = sum(weights)
    running = 0.0
    for count, weight in enumerate(weights, 1):
        running += weight
        if running * 2 > total:
            return count
    return len(weights)


def margin(votes: Sequence[Vote]) -> float:
    """Leader's weight minus the runner-up's (0 without votes)."""
    weights = sorted((w for _, w, _ in tally(votes)), reverse=True)
    if not weights:
        return 0.0
    return weights[0] - (weights[1] if len(weights) > 1 else 0.0)


def settled(votes: Sequence[Vote], remaining_weight: float) -> bool:
    """True when no way of casting the remaining weight changes the winner."""
    return bool(votes) and margin(votes) > remaining_weight


def beta_confidence(leader: int, others: int) -> float:
    """P(p > 1/2) for p ~ Beta(leader + 1, others + 1): how sure the leader holds a majority.

    For integer parameters, P(p <= x) = P(Binomial(a + b - 1, x) >= a), so the tail is a finite
    binomial sum.
    """
    trials = leader + others + 1
    favourable = sum(math.comb(trials, k) for k in range(leader + 1))
    return float(favourable / 2**trials)


def should_stop(
    votes: Sequence[Vote], remaining_weight: float, confidence: float | None = None
) -> tuple[bool, str]:
    """(stop?, why) after a wave."""
    if remaining_weight <= 0:
        return True, "every node answered"
    if settled(votes, remaining_weight):
        return True, "the leader cannot be overtaken"
    if confidence is not None:
        groups = tally([Vote(v.node, v.answer) for v in votes])
        if groups:
            counts = sorted((len(voters) for _, _, voters in groups), reverse=True)
            sure = beta_confidence(counts[0], sum(counts[1:]))
            if sure >= confidence:
                return True, f"P(leader holds a majority) = {sure:.3f} >= {confidence:g}"
    return False, ""


def tiers_by_price(
    nodes: Sequence[tuple[str, str]],
    price: Mapping[str, float],
    order: Sequence[str] = (),
) -> list[list[str]]:
    """Group ``(node, model)`` pairs into tiers, cheapest model first.

    ``order`` (model names) overrides the price order; models it leaves out follow by price.
    With a single model there is no cheaper one to start with: the first two nodes form the
    first tier (enough to see a disagreement) and the rest the second.
    """
    models: list[str] = []
    for _, model in nodes:
        if model not in models:
            models.append(model)
    if len(models) == 1:
        names = [name for name, _ in nodes]
        return [names[:2], names[2:]] if len(names) > 2 else [names]
    ranked = [m for m in order if m in models]
    rest = sorted((m for m in models if m not in ranked), key=lambda m: price.get(m, 0.0))
    return [[name for name, model in nodes if model == m] for m in ranked + rest]


def escalate(decision: Decision) -> bool:
    """A tier escalates unless every node of it that answered gave the same answer."""
    return decision.answer is None or decision.support < decision.total


def lone_answer_stands(
    heard: Sequence[Vote], answer: Answer, confidence: float | None, threshold: float | None
) -> bool:
    """Whether a tier's only answer stands: another vote ``heard`` so far (earlier tiers
    included) has the same key, or its ``confidence`` reaches ``threshold`` (when set)."""
    if sum(1 for vote in heard if vote.answer.key == answer.key) >= 2:
        return True
    return threshold is not None and confidence is not None and confidence >= threshold
