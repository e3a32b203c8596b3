"""Debate and mixture-of-agents: nodes see each other's answers and improve on them.

Debate: every node answers; then, for up to ``rounds`` rounds, each node sees the others'
latest answers next to its own and may revise. It stops as soon as more than two thirds of the
nodes agree. Each round is logged as a ``debate_round`` event; a node whose call fails in a
round keeps its previous answer.

Mixture of agents: ``layers`` layers of every node, each layer seeing the previous layer's
responses; then the aggregator (the judge node) writes the final answer. If the aggregator
fails or states no answer, the last layer's majority is used and reported as a fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmteams.consensus.answers import Answer
from lmteams.consensus.debate import Peer, agreed, debate_chat, layer_prompt
from lmteams.consensus.quorum import quorum_size
from lmteams.consensus.voting import Decision, majority
from lmteams.state.events import DebateRound, MoaLayer
from lmteams.strategies.base import Context, votes
from lmteams.strategies.judge import judge_and_candidates
from lmteams.strategies.result import AskResult, NodeAnswer


def _round_record(number: int, answers: Sequence[NodeAnswer], decision: Decision) -> dict[str, Any]:
    return {
        "round": number,
        "answers": {a.node: a.answer if a.status == "done" else None for a in answers},
        "leader": decision.answer.text if decision.answer else None,
        "support": decision.support,
    }


async def debate(ctx: Context) -> AskResult:
    nodes = list(ctx.spec.node_names)
    needed = quorum_size(len(nodes))
    current = await ctx.grouped(await ctx.first_answers(nodes))
    decision, done = agreed(votes(current), len(nodes))
    rounds = [_round_record(0, current, decision)]
    ctx.team.event(DebateRound(**rounds[-1], quorum=needed, agreed=done))
    number = 0
    while not done and number < ctx.settings.rounds:
        number += 1
        calls = []
        for mine in current:
            peers = [
                Peer(other.answer or "", other.reply or "")
                for other in current
                if other.node != mine.node and other.status == "done"
            ]
            calls.append((mine.node, debate_chat(ctx.question, mine.reply, peers), None))
        revised = await ctx.grouped(await ctx.fan_out(calls))
        current = [
            new if new.status == "done" else old for new, old in zip(revised, current, strict=True)
        ]
        decision, done = agreed(votes(current), len(nodes))
        rounds.append(_round_record(number, current, decision))
        ctx.team.event(DebateRound(**rounds[-1], quorum=needed, agreed=done))
    detail = {
        "rounds": rounds,
        "quorum": needed,
        "stopped": "quorum reached" if done else "last round",
    }
    if done:
        # A quorum is a strict majority, so the decision it replaces had no tie to carry over.
        decision = decision.with_reason(f"debate: quorum of {needed} after round {number}")
    return ctx.result("debate", decision, current, detail)


async def moa(ctx: Context) -> AskResult:
    nodes = list(ctx.spec.node_names)
    aggregator, _ = judge_and_candidates(ctx.spec, ctx.settings)
    layer = await ctx.first_answers(nodes)
    layers = [_round_record(1, layer, majority(votes(layer)))]
    ctx.team.event(MoaLayer(**layers[-1]))
    for number in range(2, ctx.settings.layers + 1):
        prompt = layer_prompt(ctx.question, [a.reply or "" for a in layer if a.status == "done"])
        fresh = await ctx.fan_out([(n, prompt, None) for n in nodes])
        layer = [
            new if new.status == "done" else old for new, old in zip(fresh, layer, strict=True)
        ]
        layers.append(_round_record(number, layer, majority(votes(layer))))
        ctx.team.event(MoaLayer(**layers[-1]))
    layer = await ctx.grouped(layer)
    responses = [a.reply or "" for a in layer if a.status == "done"]
    final, _ = await ctx.call(aggregator, layer_prompt(ctx.question, responses, final=True))
    await ctx.team.wait_durable()
    last = majority(votes(layer))
    detail: dict[str, Any] = {"layers": layers, "aggregator": aggregator}
    if final.status != "done" or not final.answer_key:
        detail["fallback"] = "majority"
        problem = final.error or "the aggregator stated no answer"
        decision = last.with_reason(f"moa fallback: majority of the last layer ({problem})")
        detail["aggregator_reply"] = final.reply
        return ctx.result("moa", decision, layer, detail)
    grouped = await ctx.grouped([*layer, final])
    chosen = Answer(grouped[-1].answer_key or "", grouped[-1].answer or "")
    detail["aggregator_reply"] = final.reply
    support = sum(1 for a in grouped[:-1] if a.answer_key == chosen.key)
    decision = Decision(
        chosen,
        float(support),
        last.total,
        groups=last.groups,
        reason=f"moa: aggregator {aggregator} after {ctx.settings.layers} layer(s)",
    )
    return ctx.result("moa", decision, layer, detail)
