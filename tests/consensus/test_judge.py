from __future__ import annotations

import json
import random

import pytest

from lmteams.consensus.answers import Answer, extract_auto
from lmteams.consensus.judge import (
    Ballot,
    Candidate,
    Contradiction,
    InvalidVerdict,
    consistent,
    excerpt,
    judge_prompt,
    make_ballot,
    parse_verdict,
    retry_prompt,
    verdict_schema,
)

CANDIDATES = [
    Candidate(Answer("42", "42"), ("a", "b"), "6 times 7 is 42"),
    Candidate(Answer("41", "41"), ("c",), "close to 40"),
    Candidate(Answer("48", "48"), ("d",), ""),
]


def ballot() -> Ballot:
    return Ballot("What is 6 x 7?", tuple(CANDIDATES))


def test_shuffle_is_seeded_and_keeps_every_candidate() -> None:
    first = make_ballot("q", CANDIDATES, random.Random("seed:q"))
    again = make_ballot("q", CANDIDATES, random.Random("seed:q"))
    assert first == again
    assert sorted(c.answer.key for c in first.shown) == ["41", "42", "48"]
    orders = {
        tuple(c.answer.key for c in make_ballot("q", CANDIDATES, random.Random(s)).shown)
        for s in range(30)
    }
    assert len(orders) > 1  # the position of an answer is not fixed


def test_prompt_numbers_candidates_as_shown() -> None:
    text = judge_prompt(ballot())
    assert "1. 42 (their reasoning: 6 times 7 is 42)" in text
    assert "3. 48\n" in text and '"choice"' in text


def test_schema_limits_the_choice_to_the_ballot() -> None:
    schema = verdict_schema(3)
    assert schema["properties"]["choice"]["enum"] == [0, 1, 2, 3]
    assert schema["required"] == ["choice", "answer"]


def test_pick_maps_back_to_the_shown_candidate() -> None:
    verdict = parse_verdict('{"choice": 2, "answer": ""}', ballot(), extract_auto)
    assert verdict.kind == "pick" and verdict.answer.key == "41" and verdict.supporters == ("c",)
    fenced = parse_verdict(
        'Sure!\n```json\n{"choice": "1", "answer": "42"}\n```', ballot(), extract_auto
    )
    assert fenced.answer.key == "42"


def test_synthesized_answer_and_one_equal_to_a_candidate() -> None:
    own = parse_verdict(
        json.dumps({"choice": 0, "answer": "forty-three: 43"}), ballot(), extract_auto
    )
    assert own.kind == "synthesize" and own.answer.key == "43" and own.supporters == ()
    same = parse_verdict('{"choice": 0, "answer": "42"}', ballot(), extract_auto)
    assert same.kind == "synthesize" and same.supporters == ("a", "b")


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I think 42", "not a JSON object"),
        ('{"answer": "42"}', "missing"),
        ('{"choice": 7, "answer": ""}', "between 0 and 3"),
        ('{"choice": true, "answer": ""}', "integer"),
        ('{"choice": 1.5, "answer": ""}', "integer"),
        ('{"choice": 0, "answer": ""}', "no answer"),
        ('{"choice": 0, "answer": "   "}', "no answer"),
    ],
)
def test_invalid_verdicts_say_why(reply: str, problem: str) -> None:
    with pytest.raises(InvalidVerdict, match=problem):
        parse_verdict(reply, ballot(), extract_auto)


def test_retry_prompt_and_excerpt() -> None:
    assert "between 0 and 3" in retry_prompt('"choice" must be between 0 and 3', 3)
    assert excerpt("a\n b   c") == "a b c"
    long = excerpt("x" * 500 + " Answer: 42", 50)
    assert long.startswith("…") and long.endswith("Answer: 42") and len(long) == 50


def test_a_pick_that_contradicts_its_answer_is_refused() -> None:
    with pytest.raises(
        Contradiction, match=r"\"choice\" 2 is '41' but \"answer\" says '42', which is candidate 1"
    ):
        parse_verdict('{"choice": 2, "answer": "42"}', ballot(), extract_auto)
    with pytest.raises(Contradiction, match=r"says 'forty'; make them agree"):
        parse_verdict('{"choice": 2, "answer": "forty"}', ballot(), extract_auto)
    assert issubclass(Contradiction, InvalidVerdict)  # the judge's retry loop handles it
    agreeing = parse_verdict('{"choice": 2, "answer": "41.0"}', ballot(), extract_auto)
    assert agreeing.kind == "pick" and agreeing.answer.key == "41"


def test_a_contradiction_read_by_its_choice_or_by_its_answer() -> None:
    by_choice = parse_verdict('{"choice": 2, "answer": "42"}', ballot(), extract_auto, "choice")
    assert by_choice.kind == "pick" and by_choice.answer.key == "41"
    by_answer = parse_verdict('{"choice": 2, "answer": "42"}', ballot(), extract_auto, "answer")
    assert by_answer.kind == "synthesize" and by_answer.answer.key == "42"
    assert by_answer.supporters == ("a", "b")
    new = parse_verdict('{"choice": 2, "answer": "43"}', ballot(), extract_auto, "answer")
    assert new.answer.key == "43" and new.supporters == ()


def test_consistency_of_stated_and_chosen_answers() -> None:
    assert consistent(Answer("jupiter", "Jupiter"), Answer("largest planet is jupiter", "x"))
    assert not consistent(Answer("jupiter", "Jupiter"), Answer("jupiterian", "x"))
    assert not consistent(Answer("4", "4"), Answer("42", "42"))  # numbers must be equal
    assert consistent(Answer("paris", "Paris"), Answer("paris", "Paris"))


def test_the_prompt_asks_for_an_answer_that_matches_the_choice() -> None:
    assert "must be that candidate's answer" in judge_prompt(ballot())
