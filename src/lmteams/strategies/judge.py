"""The judge strategy: candidates answer, a judge node picks or synthesizes the final answer.

The judge sees the distinct candidate answers in a seeded shuffled order and must return a
JSON verdict (constrained by a JSON schema where its backend supports that). An invalid verdict
(with ``judge_contradiction: refuse``, also one whose choice contradicts its stated answer) is
sent back with the problem, up to ``judge_retries`` times; after that, or if the judge's call
fails, the candidates' majority is used and the result says so (``decided_by`` starts with
"judge fallback"). Every attempt is logged as a ``judge_verdict`` event; a refused
contradiction is marked ``refused: "contradiction"`` there.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from lmteams.config import TeamSpec
from lmteams.consensus import judge as rules
from lmteams.consensus.answers import Answer
from lmteams.consensus.settings import ConsensusSpec
from lmteams.consensus.voting import Decision, majority
from lmteams.state.events import JudgeVerdict
from lmteams.strategies.base import Context, backend_can, votes
from lmteams.strategies.result import AskResult, NodeAnswer


def judge_and_candidates(spec: TeamSpec, settings: ConsensusSpec) -> tuple[str, list[str]]:
    """The judge node and the candidate nodes.

    The judge is ``consensus.judge`` (or ``--judge``), else the first node whose role is
    "judge"; such a dedicated judge does not answer. Without one, the first node judges and
    every node (the judge too) answers.
    """
    names = list(spec.node_names)
    dedicated = settings.judge or next((n.name for n in spec.nodes if n.role == "judge"), None)
    if dedicated is not None:
        others = [n for n in names if n != dedicated]
        return dedicated, others or names
    return names[0], names


def candidates_of(answers: Sequence[NodeAnswer]) -> list[rules.Candidate]:
    """Distinct answers in first-supporter order, each with its first supporter's reasoning."""
    found: dict[str, rules.Candidate] = {}
    for a in answers:
        if a.status != "done" or not a.answer_key:
            continue
        if a.answer_key in found:
            c = found[a.answer_key]
            found[a.answer_key] = rules.Candidate(c.answer, (*c.supporters, a.node), c.excerpt)
        else:
            found[a.answer_key] = rules.Candidate(
                Answer(a.answer_key, a.answer or a.answer_key),
                (a.node,),
                rules.excerpt(a.reply or ""),
            )
    return list(found.values())


async def ask_judge(
    ctx: Context, judge: str, ballot: rules.Ballot
) -> tuple[rules.Verdict | None, list[dict[str, Any]]]:
    """The judge's validated verdict (None if it never gave one) and every attempt."""
    settings = ctx.settings
    sampling: dict[str, Any] = {"temperature": 0.0, "max_tokens": settings.judge_max_tokens}
    if backend_can(ctx.spec, judge, "can_json_schema"):
        sampling["json_schema"] = rules.verdict_schema(ballot.size)
    chat: list[dict[str, str]] = [{"role": "user", "content": rules.judge_prompt(ballot)}]
    attempts: list[dict[str, Any]] = []
    for attempt in range(settings.judge_retries + 1):
        answer, text = await ctx.call(judge, chat, sampling)
        await ctx.team.wait_durable()
        record: dict[str, Any] = {
            "attempt": attempt + 1,
            "shown": [c.answer.text for c in ballot.shown],
            "reply": text,
        }
        if answer.status == "failed":
            record["problem"] = f"the judge's call failed: {answer.error}"
            attempts.append(record)
            ctx.team.event(JudgeVerdict(**record, valid=False), node=judge)
            return None, attempts  # a failed call is not worth a retry with feedback
        try:
            verdict = rules.parse_verdict(text, ballot, ctx.extract, settings.judge_contradiction)
        except rules.InvalidVerdict as exc:
            record["problem"] = str(exc)
            if isinstance(exc, rules.Contradiction):
                record["refused"] = "contradiction"
            attempts.append(record)
            ctx.team.event(JudgeVerdict(**record, valid=False), node=judge)
            chat = [
                *chat,
                {"role": "assistant", "content": text},
                {"role": "user", "content": rules.retry_prompt(str(exc), ballot.size)},
            ]
            continue
        record.update(kind=verdict.kind, choice=verdict.choice, answer=verdict.answer.text)
        attempts.append(record)
        ctx.team.event(JudgeVerdict(**record, valid=True), node=judge)
        return verdict, attempts
    return None, attempts


async def judge(ctx: Context) -> AskResult:
    judge_node, candidate_nodes = judge_and_candidates(ctx.spec, ctx.settings)
    answers = await ctx.grouped(await ctx.first_answers(candidate_nodes))
    candidates = candidates_of(answers)
    fallback = majority(votes(answers))
    if not candidates:
        return ctx.result("judge", fallback, answers, {"judge": judge_node, "candidates": 0})
    rng = random.Random(f"{ctx.settings.seed}:{ctx.question}")
    ballot = rules.make_ballot(ctx.question, candidates, rng)
    verdict, attempts = await ask_judge(ctx, judge_node, ballot)
    detail: dict[str, Any] = {
        "judge": judge_node,
        "shown": [c.answer.text for c in ballot.shown],
        "attempts": len(attempts),
        "contradictions": sum(a.get("refused") == "contradiction" for a in attempts),
    }
    if verdict is None:
        problem = attempts[-1].get("problem", "no verdict") if attempts else "no verdict"
        detail["fallback"] = "majority"
        detail["problem"] = problem
        decision = fallback.with_reason(f"judge fallback: majority of the candidates ({problem})")
        return ctx.result("judge", decision, answers, detail)
    detail.update(kind=verdict.kind, choice=verdict.choice)
    reason = (
        f"judge {judge_node} picked candidate {verdict.choice} of {ballot.size}"
        if verdict.kind == "pick"
        else f"judge {judge_node} gave its own answer"
    )
    decision = Decision(
        verdict.answer,
        float(len(verdict.supporters)),
        fallback.total,
        groups=fallback.groups,
        reason=reason,
    )
    return ctx.result("judge", decision, answers, detail)
