from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import (
    Answer,
    extract_auto,
    extract_choice,
    extract_number,
    extract_text,
    extract_yes_no,
    final_segment,
    get_extractor,
    normalize_number,
    normalize_text,
    register_extractor,
)
from lmteams.errors import ConfigError


@pytest.mark.parametrize(
    ("reply", "segment"),
    [
        ("Let me think.\nAnswer: 42", "42"),
        ("**Final answer:** Paris", "Paris"),
        ("The answer is 7.", "7."),
        ("first\n\nlast line", "last line"),
        ("Answer: 3\nWait, no. Answer: 5", "5"),
        ("", ""),
    ],
)
def test_final_segment(reply: str, segment: str) -> None:
    assert final_segment(reply) == segment


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("42", "42"),
        ("1,000", "1000"),
        ("-3.50", "-3.5"),
        ("3/4", "0.75"),
        ("x = 10.0", "10"),
        ("about 7 apples", "7"),
        ("none", None),
        ("+5", "5"),
    ],
)
def test_normalize_number(text: str, key: str | None) -> None:
    assert normalize_number(text) == key


def test_numbers_written_differently_are_equal() -> None:
    keys = {
        extract_number(r).key for r in ("Answer: 1,000", "answer = 1000.0", "The answer is 1000")
    }
    assert keys == {"1000"}


def test_text_normalization_ignores_case_punctuation_articles() -> None:
    assert normalize_text("  The Eiffel Tower!! ") == normalize_text("eiffel tower")
    assert extract_text("Answer: Paris.").key == extract_text("answer: paris").key == "paris"


def test_choice_and_yes_no() -> None:
    assert extract_choice("I think (B) because...\nAnswer: B").key == "B"
    assert extract_choice("Answer: c) blue").key == "C"
    assert extract_yes_no("Answer: Yes, it is.").key == "yes"
    assert extract_yes_no("Answer: false").key == "no"
    assert extract_yes_no("Answer: maybe").empty


def test_auto_picks_number_then_text() -> None:
    assert extract_auto("Answer: 12 apples").key == "12"
    assert extract_auto("Answer: Paris").key == "paris"
    assert extract_auto("Answer: yes").key == "yes"
    assert extract_auto("").empty
    assert extract_auto("A spider has eight legs.").key == "8"
    assert extract_auto("The answer to this classic problem is 4.").key == "4"
    assert (
        extract_auto("Between 3 and 5 apples, depending on the tree.").key
        == "between 3 and 5 apples, depending on the tree"
    )


def test_pluggable_extractors() -> None:
    register_extractor(
        "first-word", lambda reply: Answer(reply.split()[0].lower(), reply.split()[0])
    )
    assert get_extractor("first-word")("Hello there").key == "hello"
    custom = get_extractor(lambda reply: Answer("k", "v"))
    assert custom("anything").text == "v"
    with pytest.raises(ConfigError, match="unknown answer type"):
        get_extractor("telepathy")


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_any_integer_survives_formatting(n: int) -> None:
    formatted = f"{n:,}"
    assert extract_number(f"Answer: {formatted}").key == str(n)


@given(st.text(max_size=200))
def test_extractors_never_crash(reply: str) -> None:
    for extract in (extract_auto, extract_number, extract_text, extract_choice, extract_yes_no):
        answer = extract(reply)
        assert isinstance(answer.key, str)


@pytest.mark.parametrize(
    ("kind", "reply", "key"),
    [
        ("json:answer", 'Here: {"answer": "1,000"}', "1000"),
        ("json", '```json\n{"answer": "Paris", "why": "capital"}\n```', "paris"),
        ("json:result.value", '{"result": {"value": 7}}', "7"),
        ("json:ok", '{"ok": true}', "yes"),
        ("json:answer", "no json here", ""),
        ("json:answer", '{"other": 1}', ""),
        ("json:answer", '{"answer": [1, 2]}', ""),
        ("json:answer", '{bad} then {"answer": "x"}', "x"),
    ],
)
def test_json_field_extractor(kind: str, reply: str, key: str) -> None:
    assert get_extractor(kind)(reply).key == key


@pytest.mark.parametrize("kind", ["json:.", "json:", "json: "])
def test_json_field_needs_a_name(kind: str) -> None:
    with pytest.raises(ConfigError, match="--answer: a JSON field name is required"):
        get_extractor(kind)
