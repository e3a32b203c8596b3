"""Scoring answers against labels: how a label is read, correctness, accuracy with a 95%
confidence interval, and paired comparisons (McNemar's exact test). Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from lmteams.consensus.answers import (
    Extractor,
    get_extractor,
    normalize_text,
    read_question,
)
from lmteams.consensus.numbers import NUMBER_WORDS, canonical, words_value

_LETTER = re.compile(r"[A-Ja-j]")
_POLAR = frozenset({"yes", "no", "true", "false"})

Z95 = 1.959963984540054


def gold_key(answer: str, extractor: Extractor) -> str:
    """A label normalized the way node answers are, so "1,000" matches "1000.0"."""
    return extractor(f"Answer: {answer}").key


def wilson(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; sound at 0%, 100% and small n."""
    if total <= 0:
        return (0.0, 1.0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # At 0% and 100% the bound is exactly the estimate; say so despite rounding.
    low = 0.0 if correct == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if correct == total else min(1.0, max(p, centre + half))
    return (low, high)


def label_kind(answer: str, question: str) -> str:
    """How a label is read, so every reply to its question is read the same way: ``number``
    when the label is a number ("42", "1,000", "forty-two"), ``yesno`` for yes/no/true/false,
    ``choice`` for a letter the question offers ("A) ... B) ..."), else ``text``."""
    view = read_question(question)
    label = answer.strip()
    if view.letters and _LETTER.fullmatch(label) and label.upper() in view.letters.values():
        return "choice"
    if normalize_text(label) in _POLAR:
        return "yesno"
    if _number_key(label) is not None:
        return "number"
    return "text"


def item_extractor(
    question: str, answer: str, answer_type: str | None = None, default: str = "auto"
) -> Extractor:
    """The extractor that scores one labeled question: the line's ``answer_type``, else the
    ``default`` when it names one, else the label's own kind (:func:`label_kind`); bound to
    the question (see :func:`lmteams.consensus.answers.extract_for`)."""
    kind = answer_type or (default if default != "auto" else label_kind(answer, question))
    return get_extractor(kind, question=question)


@dataclass(frozen=True, slots=True)
class Paired:
    """Two systems scored on the same questions: McNemar's exact test on the discordant pairs."""

    wins: int  # questions the first got right and the second wrong
    losses: int  # questions the first got wrong and the second right
    p_value: float  # two-sided

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def mcnemar_exact(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value: under "no difference" each discordant question is a
    fair coin, so the p-value is twice the binomial tail of the rarer outcome (capped at 1)."""
    if wins < 0 or losses < 0:
        raise ValueError("counts must not be negative")
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, float(Fraction(2 * tail, 2**n)))


def paired(first: Sequence[bool], second: Sequence[bool]) -> Paired:
    """McNemar's exact test of ``first`` against ``second`` (right/wrong per question)."""
    if len(first) != len(second):
        raise ValueError("paired results need the same questions")
    wins = sum(1 for a, b in zip(first, second, strict=True) if a and not b)
    losses = sum(1 for a, b in zip(first, second, strict=True) if b and not a)
    return Paired(wins, losses, mcnemar_exact(wins, losses))


def _number_key(label: str) -> str | None:
    """The label's number when the whole label is one ("1,000", "$5", "-3.5", "forty-two")."""
    text = label.strip().lstrip("$€£").rstrip("%").strip()
    key = canonical(text) if re.fullmatch(r"[-+−]?[\d,]*\.?\d+(?:/\d+)?", text) else None
    words = re.split(r"[\s-]+", text.lower())
    if key is None and all(w in NUMBER_WORDS or w == "and" for w in words):
        value = words_value(text)
        key = None if value is None else str(value)
    return key
