from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import extract_auto, extract_number
from lmteams.consensus.scoring import (
    gold_key,
    item_extractor,
    label_kind,
    mcnemar_exact,
    paired,
    wilson,
)


def test_gold_is_normalized_like_answers() -> None:
    assert gold_key("1,000", extract_number) == extract_number("Answer: 1000.0").key
    assert gold_key("Paris", extract_auto) == extract_auto("The answer is paris.").key


def test_wilson_interval_known_values() -> None:
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0


@given(st.integers(1, 500), st.data())
def test_interval_contains_the_estimate(total: int, data: st.DataObject) -> None:
    correct = data.draw(st.integers(0, total))
    low, high = wilson(correct, total)
    assert 0.0 <= low <= correct / total <= high <= 1.0


@pytest.mark.parametrize(
    ("wins", "losses", "p"),
    [
        (0, 0, 1.0),
        (5, 5, 1.0),
        (0, 5, 0.0625),  # 2 * (1/2)^5
        (1, 6, 0.125),  # 2 * (1 + 7) / 2^7
        (2, 10, 0.03857421875),  # 2 * (1 + 12 + 66) / 2^12
        (10, 2, 0.03857421875),  # two-sided: symmetric
        (0, 20, 2 / 2**20),
    ],
)
def test_mcnemar_exact_known_values(wins: int, losses: int, p: float) -> None:
    assert mcnemar_exact(wins, losses) == pytest.approx(p, rel=1e-12)


def test_mcnemar_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        mcnemar_exact(-1, 3)


def test_paired_counts_only_discordant_questions() -> None:
    team = [True, True, True, False, True, True, True, True, True, True, True, True]
    alone = [True, False, False, False, False, False, False, False, False, False, False, True]
    result = paired(team, alone)
    assert (result.wins, result.losses) == (9, 0)
    assert result.p_value == pytest.approx(2 / 2**9) and result.significant
    assert not paired([True, False], [False, True]).significant
    with pytest.raises(ValueError, match="same questions"):
        paired([True], [True, False])


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_is_a_probability_and_symmetric(wins: int, losses: int) -> None:
    p = mcnemar_exact(wins, losses)
    assert 0.0 < p <= 1.0 and p == mcnemar_exact(losses, wins)


@pytest.mark.parametrize(
    ("answer", "question", "kind"),
    [
        ("42", "What is 6 x 7?", "number"),
        ("1,000", "How many?", "number"),
        ("$5.00", "How much?", "number"),
        ("forty-two", "How many?", "number"),
        ("yes", "Is 7 prime?", "yesno"),
        ("False", "True or false: 2 > 3", "yesno"),
        ("B", "Which? A) pear B) apple", "choice"),
        ("B", "Which letter follows A?", "text"),
        ("Jupiter", "Which planet is largest?", "text"),
    ],
)
def test_labels_say_how_replies_are_read(answer: str, question: str, kind: str) -> None:
    assert label_kind(answer, question) == kind


@pytest.mark.parametrize(
    ("question", "label", "reply"),
    [
        ("Which planet is largest?", "Jupiter", "The largest planet is Jupiter."),
        ("What is 6 x 7?", "42", "Six times seven is forty-two."),
        ("How much is 10 x 100?", "1000", "That comes to $1,000.00."),
        ("What is 6 x 7?", "42", "**42**"),
        ("Is 7 a prime number?", "yes", "7 is a prime number."),
        ("Which word comes first? A) pear B) apple", "B", "apple comes first"),
        ("What is the capital of France?", "Paris", "Answer: **Paris**."),
    ],
)
def test_a_right_answer_in_any_wording_scores_right(question: str, label: str, reply: str) -> None:
    extract = item_extractor(question, label)
    assert extract(reply).key == gold_key(label, extract) != ""


def test_a_wrong_answer_scores_wrong() -> None:
    extract = item_extractor("Which planet is largest?", "Jupiter")
    assert extract("The largest planet is Saturn.").key != gold_key("Jupiter", extract)
    extract = item_extractor("What is 6 x 7?", "42")
    assert extract("6 x 7 = 48").key != gold_key("42", extract)


def test_the_line_type_and_the_default_win_over_the_label() -> None:
    assert item_extractor("Pick", "b", answer_type="choice")("Answer: b").key == "B"
    assert item_extractor("q", "1", default="json:answer")('{"answer": 1}').key == "1"
