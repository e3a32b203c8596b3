"""Question-aware reading: a reply counts as a person who asked would count it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import (
    extract_auto,
    extract_for,
    extract_number,
    get_extractor,
    read_question,
    read_reply,
)
from lmteams.consensus.numbers import TENS, UNITS, numbers_in, words_value


@pytest.mark.parametrize(
    ("question", "reply", "key"),
    [
        # sentences: the entity the sentence names, not the words of the question
        ("Which planet is largest?", "The largest planet is Jupiter.", "jupiter"),
        ("Which planet is largest?", "Jupiter is the largest planet.", "jupiter"),
        (
            "Which planet is largest?",
            "In our solar system, the largest planet is Jupiter, a gas giant.",
            "jupiter",
        ),
        ("What is the capital of France?", "The capital of France is Paris.", "paris"),
        ("What is the capital of France?", "Paris is the capital of France.", "paris"),
        ("What is the capital of France?", "**Paris**", "paris"),
        ("Who wrote 1984?", "George Orwell wrote 1984.", "george orwell"),
        ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au.", "au"),
        ("Reverse the word 'lemon'.", "The reversed word is 'nomel'.", "nomel"),
        (
            "What day of the week comes 3 days after Monday?",
            "Three days after Monday is Thursday.",
            "thursday",
        ),
        # offered options: the one the reply names
        ("Which is bigger, the Sun or the Moon?", "The Sun is bigger than the Moon.", "sun"),
        ("Which is bigger, the Sun or the Moon?", "The Moon.", "moon"),
        ("Is 7 odd or even?", "7 is an odd number.", "odd"),
        # numbers: formatted, words, and not a number the question stated
        ("What is 6 × 7?", "6 × 7 = forty-two", "42"),
        ("What is 6 × 7?", "**42**", "42"),
        ("What is 6 × 7?", "Answer: 42.", "42"),
        ("How much is 10 × 100?", "The answer is $1,000.00", "1000"),
        ("How many legs does a spider have?", "A spider has eight legs.", "8"),
        ("What is 12 + 7?", "19 is the sum of 12 and 7.", "19"),
        ("What is 3 + 4?", "The result is \\boxed{7}.", "7"),
        ("How many grams are in 2 kilograms?", "There are 2,000 grams in 2 kilograms.", "2000"),
        ("Which is the largest number: 61, 84, 49?", "The largest number is 84.", "84"),
        # yes/no: the polarity, also when the reply restates the question
        ("Is 17 a prime number?", "Yes, it is.", "yes"),
        ("Is 17 a prime number?", "17 is a prime number.", "yes"),
        ("Is 18 a prime number?", "18 is not a prime number.", "no"),
        ("Is 17 a prime number?", "No, 17 is not prime.", "no"),
        ("Is 17 a prime number?", "That is not correct.", "no"),
        # lettered choices: the letter, or the option's text
        ("Which word comes first? A) pear B) apple", "Answer: B", "B"),
        ("Which word comes first? A) pear B) apple", "apple comes first", "B"),
        ("Which word comes first? A) pear B) apple", "I think it is B) apple", "B"),
    ],
)
def test_replies_read_as_a_person_would(question: str, reply: str, key: str) -> None:
    assert extract_for(question)(reply).key == key


def test_the_shown_text_is_the_entity_as_written() -> None:
    answer = extract_for("Which planet is largest?")("The largest planet is Jupiter.")
    assert answer.text == "Jupiter"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is 12 × 7?", "number"),
        ("How many days are in a week?", "number"),
        ("Is 17 prime?", "yesno"),
        ("Is 7 odd or even?", "text"),
        ("Which word comes first? A) pear B) apple", "choice"),
        ("Who painted the Mona Lisa?", "text"),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    assert read_question(question).kind == kind


def test_a_forced_kind_wins_over_the_question() -> None:
    assert extract_for("Name a number.", "number")("I pick seven.").key == "7"
    assert get_extractor("number", question="Who?")("It is 5.").key == "5"
    assert (
        get_extractor("auto", question="Which planet is largest?")(
            "The largest planet is Jupiter."
        ).key
        == "jupiter"
    )


def test_unanswered_replies_stay_empty() -> None:
    assert extract_for("How many legs does a spider have?")("").empty
    assert extract_for("Is the sky green?", "yesno")("Hmm.").empty
    assert extract_for("How many?", "number")("Several.").empty
    assert extract_for("Is the sky green?")("Hmm.").key == "hmm"  # auto: read as text


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("forty-two", ["42"]),
        ("Forty Two", ["42"]),
        ("one hundred and five", ["105"]),
        ("two thousand and twenty-four", ["2024"]),
        ("$1,000.00", ["1000"]),
        ("1,000", ["1000"]),
        ("**42**", ["42"]),
        ("42%", ["42"]),
        ("-3.50", ["-3.5"]),
        ("3/4", ["0.75"]),
        ("12 x 7 = 84.", ["12", "7", "84"]),
        ("one of the 3 cases", ["3"]),
        ("A1 sauce", []),
        ("twenty thirty", []),
    ],
)
def test_numbers_as_written(text: str, keys: list[str]) -> None:
    assert [key for _, key in numbers_in(text)] == keys


def test_number_words_values() -> None:
    assert words_value("seventy-three") == 73
    assert words_value("nine hundred ninety nine") == 999
    assert words_value("three million") == 3_000_000
    assert words_value("two three") is None
    assert words_value("apple") is None


@pytest.mark.parametrize(
    "reply", ["Answer: forty-two", "It is $42.00.", "**42**", "The answer is 42 apples."]
)
def test_number_extraction_reads_formatted_and_words(reply: str) -> None:
    assert extract_number(reply).key == "42"
    assert extract_auto(reply).key == "42"


@given(st.integers(0, 999_999))
def test_any_integer_in_words_reads_back(n: int) -> None:
    assert words_value(_spell(n)) == n


@given(
    st.from_regex(r"[-+]?[0-9]{1,9}(\.[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(
        [
            *("q", "What is 17 + 25?", "How many legs does a spider have?", "Is 7 prime?"),
            *("Name the 3rd planet.", "Which is bigger, 42 or 43?", "What year was it?"),
        ]
    ),
    st.sampled_from(["Answer: ", "The answer is ", "I counted.\nFinal answer: "]),
    st.sampled_from(["auto", "number", "text"]),
)
def test_a_stated_number_reads_as_the_full_rules_read_it(
    number: str, question: str, marker: str, kind: str
) -> None:
    # "Answer: 42" takes the fast path; "Answer: 42." the full rules, which read it the same.
    for asked in (question, f"Is it {number} or 7?", f"What is {number} + 1?"):
        view = read_question(asked)
        fast = read_reply(f"{marker}{number}", view, kind)
        assert fast == read_reply(f"{marker}{number}.", view, kind)
        assert fast.key


@given(st.text(max_size=120), st.text(max_size=200))
def test_question_aware_reading_never_crashes(question: str, reply: str) -> None:
    for kind in ("auto", "number", "yesno", "choice", "text"):
        assert isinstance(extract_for(question, kind)(reply).key, str)


_UNITS = {value: word for word, value in UNITS.items()}
_TENS = {value // 10: word for word, value in TENS.items() if word != "fourty"}


def _spell(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _UNITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        return _UNITS[n // 100] + " hundred" + (" and " + _spell(rest) if rest else "")
    rest = n % 1000
    return _spell(n // 1000) + " thousand" + (" " + _spell(rest) if rest else "")
