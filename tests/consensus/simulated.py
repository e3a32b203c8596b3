"""Simulated nodes with known, unequal accuracies and correlated errors (shared by tests).

On each question a node is right with its accuracy; when wrong, a node of the ``bloc`` gives
the question's one "popular" wrong answer with probability ``p_bloc`` (the bloc errs together),
and any node otherwise picks a wrong answer uniformly among the other ``choices - 1``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from lmteams.models.scripted import ScriptedCall


@dataclass(frozen=True)
class World:
    questions: list[str]
    truth: list[str]
    answers: list[dict[str, str]]  # per question: node -> answer
    index: dict[str, int] = field(default_factory=dict)

    def script(self, call: ScriptedCall) -> str:
        """A scripted model's reply: the simulated node's answer to the question asked."""
        if not self.index:
            self.index.update({q: i for i, q in enumerate(self.questions)})
        position = self.index.get(call.prompt)
        if position is None:
            return "Answer: unknown"
        return f"Answer: {self.answers[position][call.node or '']}"


def simulate(
    n: int,
    accuracies: Sequence[float],
    *,
    bloc: Sequence[int] = (),
    p_bloc: float = 0.8,
    choices: int = 5,
    seed: int = 0,
) -> World:
    rng = random.Random(seed)
    letters = [chr(ord("A") + i) for i in range(choices)]
    questions, truth, answers = [], [], []
    for q in range(n):
        right = rng.choice(letters)
        wrong = [c for c in letters if c != right]
        popular = rng.choice(wrong)
        row = {}
        for j, accuracy in enumerate(accuracies):
            if rng.random() < accuracy:
                row[f"n{j}"] = right
            elif j in bloc and rng.random() < p_bloc:
                row[f"n{j}"] = popular
            else:
                row[f"n{j}"] = rng.choice(wrong)
        questions.append(f"Question {q}: which letter?")
        truth.append(right)
        answers.append(row)
    return World(questions, truth, answers)
