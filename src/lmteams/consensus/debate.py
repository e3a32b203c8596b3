"""Debate and mixture-of-agents prompts, and the debate's stopping rule. Pure.

Debate: every node answers, then in each round sees the others' answers and may revise; the
debate stops as soon as more than two thirds of the nodes agree (a quorum), or after the last
round. Mixture of agents: each layer's nodes see the previous layer's responses and write
improved ones; a final aggregator answers from the last layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lmteams.consensus.judge import excerpt
from lmteams.consensus.quorum import quorum_size
from lmteams.consensus.voting import Decision, Vote, majority

ANSWER_LINE = 'Finish with one line "Answer: <answer>".'


@dataclass(frozen=True, slots=True)
class Peer:
    """Another node's answer as a debater sees it."""

    answer: str
    reasoning: str


def debate_chat(
    question: str, own_reply: str | None, peers: Sequence[Peer]
) -> list[dict[str, str]]:
    """The chat a node gets in a revision round: its own last reply, then the others'."""
    chat = [{"role": "user", "content": question}]
    if own_reply:
        chat.append({"role": "assistant", "content": excerpt(own_reply, 400)})
    lines = ["Other assistants answered the same question:"]
    for index, peer in enumerate(peers, 1):
        reason = f" (reasoning: {excerpt(peer.reasoning)})" if peer.reasoning else ""
        lines.append(f"{index}. {peer.answer or 'no answer'}{reason}")
    lines += [
        "",
        "Check their answers against yours and the question. Keep your answer if it is right, "
        "change it if they convinced you. " + ANSWER_LINE,
    ]
    chat.append({"role": "user", "content": "\n".join(lines)})
    return chat


def agreed(votes: Sequence[Vote], n: int) -> tuple[Decision, bool]:
    """The majority so far, and whether it holds a quorum of the ``n`` debaters."""
    decision = majority(votes)
    return decision, decision.answer is not None and decision.support >= quorum_size(n)


def layer_prompt(question: str, responses: Sequence[str], *, final: bool = False) -> str:
    """A mixture-of-agents prompt: the question and the previous layer's responses."""
    role = (
        "Combine them into the single best final answer."
        if final
        else "Write an improved answer of your own."
    )
    lines = [
        "You have been given responses from other assistants to the question below. Some may "
        f"be wrong: evaluate them critically. {role}",
        "",
        f"Question: {question}",
        "",
        "Responses:",
    ]
    lines += [f"{i}. {excerpt(r, 300)}" for i, r in enumerate(responses, 1)]
    lines += ["", ANSWER_LINE]
    return "\n".join(lines)
