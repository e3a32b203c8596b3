"""The judge's ballot and verdict: candidates shown shuffled, a structured verdict validated.

The candidates (distinct answers, each with an excerpt of a reply that gave it) are shown in an
order drawn from a seeded :class:`random.Random`, so no answer gains from always being first.
The judge must reply with a JSON verdict, ``{"choice": k, "answer": "..."}``: ``k`` picks the
k-th candidate as shown, ``0`` means none is right and ``answer`` is the judge's own
(synthesized) answer. :func:`parse_verdict` validates it and maps it back to the candidate;
an invalid verdict raises :class:`InvalidVerdict` with a problem the judge can be told.

A verdict that picks candidate ``k`` but states a different answer contradicts itself (a small
judge often names the right number and points at the wrong line). By default such a verdict is
refused (:class:`Contradiction`, asked again); it can instead be read by its choice or by its
stated answer. An empty ``answer`` with a choice states nothing and contradicts nothing. Pure.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lmteams.consensus.answers import Answer, Extractor, first_json_object

EXCERPT_CHARS = 200


ContradictionRule = Literal["refuse", "choice", "answer"]


class InvalidVerdict(ValueError):
    """The judge's reply is not a valid verdict; the message says why (and is shown to it)."""


class Contradiction(InvalidVerdict):
    """The verdict picks one candidate and states another answer."""


@dataclass(frozen=True, slots=True)
class Candidate:
    answer: Answer
    supporters: tuple[str, ...]
    excerpt: str = ""


@dataclass(frozen=True, slots=True)
class Ballot:
    question: str
    shown: tuple[Candidate, ...]  # in the order the judge sees them

    @property
    def size(self) -> int:
        return len(self.shown)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Literal["pick", "synthesize"]
    answer: Answer
    choice: int  # 1-based position as shown; 0 when synthesized
    supporters: tuple[str, ...] = ()


def excerpt(reply: str, limit: int = EXCERPT_CHARS) -> str:
    """The end of a reply, where the reasoning concludes, on one line."""
    text = " ".join(reply.split())
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def make_ballot(question: str, candidates: Sequence[Candidate], rng: random.Random) -> Ballot:
    """The candidates in a shuffled order drawn from ``rng``."""
    shown = list(candidates)
    rng.shuffle(shown)
    return Ballot(question, tuple(shown))


def verdict_schema(size: int) -> dict[str, Any]:
    """The JSON schema a verdict must follow (constrains decoding where the backend can)."""
    return {
        "type": "object",
        "properties": {
            "choice": {"type": "integer", "enum": list(range(size + 1))},
            "answer": {"type": "string", "maxLength": 120},
        },
        "required": ["choice", "answer"],
        "additionalProperties": False,
    }


def judge_prompt(ballot: Ballot) -> str:
    lines = [
        f"Question: {ballot.question}",
        "",
        "Candidate answers from other assistants:",
    ]
    for index, candidate in enumerate(ballot.shown, 1):
        detail = f" (their reasoning: {candidate.excerpt})" if candidate.excerpt else ""
        lines.append(f"{index}. {candidate.answer.text}{detail}")
    lines += [
        "",
        "Decide which candidate answers the question correctly. Check the question yourself.",
        'Reply with JSON only: {"choice": <number of the correct candidate, or 0 if none is '
        'correct>, "answer": "<the correct final answer>"}',
        'If you choose a candidate, "answer" must be that candidate\'s answer.',
    ]
    return "\n".join(lines)


def retry_prompt(problem: str, size: int) -> str:
    return (
        f"That verdict is invalid: {problem}. Reply again with JSON only, exactly "
        f'{{"choice": <an integer from 0 to {size}>, "answer": "<the final answer>"}}.'
    )


_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?")


def consistent(stated: Answer, chosen: Answer) -> bool:
    """Whether a stated answer agrees with the chosen candidate's: equal keys, or (for text,
    never numbers) one's words appearing whole inside the other's ("jupiter" in "the largest
    planet is jupiter")."""
    if stated.key == chosen.key:
        return True
    if _NUMERIC.fullmatch(stated.key) or _NUMERIC.fullmatch(chosen.key):
        return False
    short, long = sorted((stated.key, chosen.key), key=len)
    return bool(short) and re.search(rf"(?<!\w){re.escape(short)}(?!\w)", long) is not None


def _stated(data: dict[str, Any], extractor: Extractor) -> tuple[object, Answer | None]:
    raw = data.get("answer")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float) or not str(raw).strip():
        return raw, None
    answer = extractor(f"Answer: {raw}")
    return raw, None if answer.empty else answer


def parse_verdict(
    reply: str,
    ballot: Ballot,
    extractor: Extractor,
    contradiction: ContradictionRule = "refuse",
) -> Verdict:
    """Validate the judge's reply against the ballot; raise :class:`InvalidVerdict` if wrong.

    ``contradiction`` says what a pick whose stated answer differs from the picked candidate
    means: ``refuse`` raises :class:`Contradiction`, ``choice`` trusts the pick, ``answer``
    trusts the stated answer (as if the choice were 0).
    """
    data = first_json_object(reply)
    if not isinstance(data, dict):
        raise InvalidVerdict("the reply is not a JSON object")
    if "choice" not in data:
        raise InvalidVerdict('the "choice" field is missing')
    choice = data["choice"]
    if isinstance(choice, str) and choice.strip().isdigit():
        choice = int(choice.strip())
    if isinstance(choice, bool) or not isinstance(choice, int):
        raise InvalidVerdict(f'"choice" must be an integer, got {choice!r}')
    if not 0 <= choice <= ballot.size:
        raise InvalidVerdict(f'"choice" must be between 0 and {ballot.size}, got {choice}')
    raw, stated = _stated(data, extractor)
    if choice > 0:
        picked = ballot.shown[choice - 1]
        if stated is None or contradiction == "choice" or consistent(stated, picked.answer):
            return Verdict("pick", picked.answer, choice, picked.supporters)
        if contradiction == "refuse":
            other = next(
                (i for i, c in enumerate(ballot.shown, 1) if consistent(stated, c.answer)), None
            )
            where = f", which is candidate {other}" if other is not None else ""
            raise Contradiction(
                f'"choice" {choice} is {picked.answer.text!r} but "answer" says {raw!r}{where}; '
                "make them agree"
            )
    if stated is None:
        if not isinstance(raw, str | int | float) or not str(raw).strip():
            raise InvalidVerdict('"choice" is 0 but "answer" gives no answer of the judge\'s own')
        raise InvalidVerdict(f'"answer" {raw!r} states no usable answer')
    answer = stated
    for candidate in ballot.shown:  # a "new" answer equal to a candidate is that candidate
        if candidate.answer.key == answer.key:
            return Verdict("synthesize", candidate.answer, 0, candidate.supporters)
    return Verdict("synthesize", answer, 0)
