"""The learned strategy: votes weighted by each node's reliability, learned from history.

Every question it answers is added to the team's answer history in the workspace store; node
accuracies are then re-estimated by Dawid-Skene EM over the recent history (labels included
where known) and saved for ``lmteams nodes``. If ``lmteams eval --train`` saved a meta-model
for the team, it ranks the candidates instead (running the judge first when the model was
trained with judge picks).
"""

from __future__ import annotations

import random
from typing import Any

from lmteams.consensus import dawid_skene, meta
from lmteams.consensus import judge as rules
from lmteams.consensus.answers import Answer
from lmteams.consensus.dawid_skene import Reliability
from lmteams.state.reliability import ReliabilityBook
from lmteams.strategies.base import Context, votes
from lmteams.strategies.judge import ask_judge, candidates_of, judge_and_candidates
from lmteams.strategies.result import AskResult, NodeAnswer


def ballots(answers: list[NodeAnswer]) -> list[meta.Ballot]:
    return [
        meta.Ballot(
            a.node,
            Answer(a.answer_key or "", a.answer or ""),
            a.confidence if a.confidence is not None else 0.5,
            a.completion_tokens,
        )
        for a in answers
        if a.status == "done"
    ]


def learn(ctx: Context, answers: list[NodeAnswer]) -> tuple[Reliability, ReliabilityBook]:
    """Add this question's answers to the history and re-fit the team's reliability."""
    book = ReliabilityBook(ctx.team.store, ctx.spec.name)
    book.record(
        ctx.question,
        {a.node: a.answer_key or "" for a in answers if a.status == "done"},
        ctx.team.run_id,
    )
    items, labels, _ = book.history(ctx.settings.history)
    reliability = dawid_skene.fit(items, labels, nodes=ctx.spec.node_names)
    book.save(reliability)
    return reliability, book


async def learned(ctx: Context) -> AskResult:
    nodes = ctx.spec.node_names
    answers = await ctx.grouped(await ctx.first_answers(nodes))
    reliability, book = learn(ctx, answers)
    detail: dict[str, Any] = {
        "history": reliability.items,
        "labeled": reliability.labeled,
        "reliability": {n: round(p, 4) for n, p in reliability.accuracy.items()},
        "alternatives": round(reliability.alternatives, 3),
        "weights": {n: round(reliability.weight(n), 4) for n in nodes},
    }
    trained = book.meta()
    if trained is None:
        detail["method"] = "dawid-skene"
        decision = dawid_skene.decide(votes(answers), reliability)
        return ctx.result("learned", decision, answers, detail)
    model, _ = trained
    judge_pick = None
    if model.uses_judge:
        judge_pick = await pick_of_judge(ctx, answers)
        detail["judge_pick"] = judge_pick
    detail["method"] = "meta-model"
    detail["meta_examples"] = model.examples
    decision = meta.decide(model, ballots(answers), reliability, judge_pick)
    return ctx.result("learned", decision, answers, detail)


async def pick_of_judge(ctx: Context, answers: list[NodeAnswer]) -> str | None:
    """The answer key the judge picks among ``answers`` (None without a valid verdict)."""
    candidates = candidates_of(answers)
    if not candidates:
        return None
    judge_node, _ = judge_and_candidates(ctx.spec, ctx.settings)
    ballot = rules.make_ballot(
        ctx.question, candidates, random.Random(f"{ctx.settings.seed}:{ctx.question}")
    )
    verdict, _ = await ask_judge(ctx, judge_node, ballot)
    return verdict.answer.key if verdict is not None else None
