from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import Answer, extract_text
from lmteams.consensus.grouping import (
    cosine,
    edit_similarity,
    group_by_text,
    group_by_vectors,
    group_keys,
    levenshtein,
    token_similarity,
)
from lmteams.errors import ConfigError


def answers(*texts: str) -> list[Answer]:
    return [extract_text(f"Answer: {t}") for t in texts]


def test_distances() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert edit_similarity("paris", "paris") == 1.0
    assert edit_similarity("paris", "pariss") == pytest.approx(5 / 6)
    assert token_similarity("the city of Paris", "Paris city") == pytest.approx(2 / 4)
    assert cosine([1, 0], [1, 0]) == pytest.approx(1.0)
    assert cosine([1, 0], [0, 1]) == pytest.approx(0.0)
    assert cosine([0, 0], [1, 1]) == 0.0


def test_same_meaning_lands_in_one_group_shown_by_its_most_common_wording() -> None:
    grouped = group_by_text(
        answers("Paris, France", "paris", "Paris France", "London"), "tokens", 0.5
    )
    keys = [a.key for a in grouped]
    assert keys[0] == keys[1] == keys[2] != keys[3]
    grouped = group_by_text(answers("Pariss", "Paris", "Paris"), "edit", 0.8)
    assert {a.text for a in grouped} == {"Paris"}  # the most common wording represents


def test_numbers_and_yes_no_are_never_merged_by_similarity() -> None:
    grouped = group_by_text([Answer("1000", "1000"), Answer("10000", "10000")], "edit", 0.5)
    assert [a.key for a in grouped] == ["1000", "10000"]
    grouped = group_by_text([Answer("yes", "yes"), Answer("yes?", "yes?")], "edit", 0.5)
    assert grouped[0].key == "yes"


def test_empty_answers_stay_empty_and_exact_is_identity() -> None:
    raw = [Answer("", ""), Answer("a", "A")]
    assert group_by_text(raw, "edit") == raw
    assert group_by_text(raw, "exact") == raw


def test_embedding_grouping_uses_vectors_by_key() -> None:
    vectors = {"big apple": [1.0, 0.1], "new york city": [0.98, 0.12], "boston": [0.0, 1.0]}
    grouped = group_by_vectors(answers("new york city", "big apple", "boston"), vectors, 0.95)
    assert grouped[0].key == grouped[1].key != grouped[2].key
    assert group_by_vectors(answers("x", "y"), {}, 0.5)[0].key != "y"  # no vector: itself only


def test_unknown_metric_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="similarity"):
        group_by_text(answers("a"), "soundex")


words = st.lists(st.sampled_from(["paris", "pariss", "london", "londn", "rome", ""]), max_size=8)


@given(words, st.randoms(use_true_random=False))
def test_grouping_is_a_partition_independent_of_order(keys: list[str], rng) -> None:  # type: ignore[no-untyped-def]
    similar = lambda a, b: edit_similarity(a, b) >= 0.8
    mapping = group_keys(keys, similar)
    shuffled = list(keys)
    rng.shuffle(shuffled)
    again = group_keys(shuffled, similar)

    def partition(m: dict[str, str]) -> set[frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for key, rep in m.items():
            groups.setdefault(rep, set()).add(key)
        return {frozenset(g) for g in groups.values()}

    assert partition(mapping) == partition(again)
    for key, rep in mapping.items():
        assert mapping[rep] == rep  # a representative represents itself
        assert (
            key == rep
            or similar(key, rep)
            or any(
                similar(key, other) for other in mapping if mapping[other] == rep and other != key
            )
        )
