"""The mixed teamwork question set: deterministic, every kind, answers a reader would accept."""

from __future__ import annotations

import calendar
import re
from collections import Counter

import pytest

from lmteams.consensus.questions import KINDS, mixed
from lmteams.consensus.scoring import gold_key, item_extractor
from lmteams.errors import ConfigError


def test_same_seed_same_questions_and_every_kind() -> None:
    first, again, other = mixed(200, seed=5), mixed(200, seed=5), mixed(200, seed=6)
    assert first == again and first != other
    assert [item.kind for item in first[:5]] == list(KINDS)
    assert Counter(item.kind for item in first) == {k: 40 for k in KINDS}
    assert len({item.question for item in first}) == 200


def test_computed_answers_are_right() -> None:
    for item in mixed(500, seed=1):
        q = item.question
        if m := re.fullmatch(r"What is (\d+) ([-+×]) (\d+)\?", q):
            a, op, b = int(m[1]), m[2], int(m[3])
            assert int(item.answer) == {"+": a + b, "-": a - b, "×": a * b}[op]
        elif m := re.fullmatch(r"Is (\d+) a leap year\?", q):
            assert item.answer == ("yes" if calendar.isleap(int(m[1])) else "no")
        elif m := re.fullmatch(r"Spell the word '(\w+)' backwards\.", q):
            assert item.answer == m[1][::-1]
        elif m := re.fullmatch(r"What day of the week is (\d) days after (\w+)\?", q):
            days = list(calendar.day_name)
            assert item.answer == days[(days.index(m[2]) + int(m[1])) % 7]
        elif m := re.fullmatch(r"Is (\d+) a prime number\?", q):
            n = int(m[1])
            assert item.answer == ("yes" if all(n % d for d in range(2, n)) else "no")


@pytest.mark.parametrize(
    "form",
    [
        "Answer: {a}",
        "The answer is {a}.",
        "**{a}**",
        "It is {a}.",
        "I think it is {a}.",
        "Let me think.\nFinal answer: {a}",
    ],
)
def test_every_stated_answer_scores_right_and_a_wrong_one_wrong(form: str) -> None:
    for item in mixed(300, seed=2):
        extract = item_extractor(item.question, item.answer)
        gold = gold_key(item.answer, extract)
        assert gold and extract(form.format(a=item.answer)).key == gold, item.question
        wrong = "Saturn" if item.answer != "Saturn" else "Mars"
        assert extract(form.format(a=wrong)).key != gold, item.question


def test_bad_requests_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="at least one question"):
        mixed(0)
    with pytest.raises(ConfigError, match="unknown question kind 'poetry'"):
        mixed(5, kinds=["poetry"])
    with pytest.raises(ConfigError, match="at least one question kind"):
        mixed(5, kinds=[])
