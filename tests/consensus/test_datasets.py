from __future__ import annotations

import json

import pytest

from lmteams.consensus.answers import get_extractor
from lmteams.consensus.datasets import (
    GENERATORS,
    generate,
    parse_dataset,
    parse_kinds,
    to_jsonl,
)
from lmteams.consensus.scoring import gold_key
from lmteams.errors import ConfigError


def test_generated_questions_are_seeded_distinct_and_self_checking() -> None:
    items = generate(list(GENERATORS), 90, seed=3)
    assert items == generate(list(GENERATORS), 90, seed=3)
    assert items != generate(list(GENERATORS), 90, seed=4)
    assert len({i.question for i in items}) == 90
    assert {i.kind for i in items} == set(GENERATORS)
    for item in items:
        q = item.question
        if item.kind == "arithmetic":
            expression = q.removeprefix("What is ").removesuffix("?").replace("×", "*")
            assert str(eval(expression)) == item.answer
            assert item.answer_type == "number"
        elif item.kind == "units":
            assert int(item.answer) > 0
        elif "alphabetical" in q:
            a, b = q.split("A) ")[1].split(" B) ")
            assert item.answer == ("A" if a < b else "B") and item.answer_type == "choice"
        else:
            numbers = [int(x) for x in q.split(": ")[1].rstrip("?").split(", ")]
            expected = max(numbers) if "largest" in q else min(numbers)
            assert item.answer == str(expected)
        assert gold_key(item.answer, get_extractor(item.answer_type or "auto"))


def test_jsonl_round_trip() -> None:
    items = generate(["units"], 5)
    assert parse_dataset(to_jsonl(items), source="d") == items


def test_parse_accepts_numbers_and_extra_fields() -> None:
    items = parse_dataset('{"question": "q", "answer": 3, "id": 7}\n\n', source="d")
    assert items[0].answer == "3"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{oops", "d.jsonl: line 1: invalid JSON"),
        ('{"question": "q", "answer": "1"}\n[1]', "d.jsonl: line 2: each line must be"),
        ('{"answer": "1"}', "d.jsonl: line 1: question: required field is missing"),
        ('{"question": "", "answer": "1"}', "d.jsonl: line 1: question"),
        ("\n", "d.jsonl: the dataset has no questions"),
    ],
)
def test_bad_datasets_name_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_dataset(text, source="d.jsonl")
    assert str(info.value).startswith(problem)


def test_bad_kinds_and_counts() -> None:
    assert parse_kinds(" units, ordering ") == ["units", "ordering"]
    with pytest.raises(ConfigError, match="unknown question kind 'trivia'"):
        parse_kinds("units,trivia")
    with pytest.raises(ConfigError, match="at least one"):
        parse_kinds(" , ")
    with pytest.raises(ConfigError, match="at least one question"):
        generate(["units"], 0)
    with pytest.raises(ConfigError, match="-n: generate at most 1,000,000 questions"):
        generate(["units"], 10**11)
    assert json.loads(to_jsonl(generate(["ordering"], 1)).splitlines()[0])["kind"] == "ordering"
