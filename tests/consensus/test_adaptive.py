from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.adaptive import (
    beta_confidence,
    escalate,
    first_wave,
    margin,
    settled,
    should_stop,
    tiers_by_price,
)
from lmteams.consensus.answers import Answer
from lmteams.consensus.voting import Vote, majority


def votes(*keys: str) -> list[Vote]:
    return [Vote(f"n{i}", Answer(k, k)) for i, k in enumerate(keys)]


def test_first_wave_is_the_smallest_possible_majority() -> None:
    assert [first_wave([1.0] * n) for n in (1, 2, 3, 4, 5, 7)] == [1, 2, 2, 3, 3, 4]
    assert first_wave([5.0, 1.0, 1.0]) == 1
    assert first_wave([]) == 0


def test_settled_when_the_rest_cannot_overtake() -> None:
    assert margin(votes("a", "a", "b")) == 1
    assert settled(votes("a", "a"), 1.0)
    assert not settled(votes("a", "b"), 1.0)
    assert not settled([], 0.0)
    assert should_stop(votes("a", "b"), 0.0) == (True, "every node answered")
    assert should_stop(votes("a", "a"), 1.0)[0]


def test_beta_confidence() -> None:
    assert beta_confidence(0, 0) == 0.5
    assert beta_confidence(3, 0) == 15 / 16
    assert beta_confidence(5, 1) > beta_confidence(4, 1) > beta_confidence(4, 2)
    stop, why = should_stop(votes("a", "a", "a", "a", "b"), 10.0, confidence=0.85)
    assert stop and "P(leader holds a majority)" in why
    assert not should_stop(votes("a", "b"), 10.0, confidence=0.85)[0]


def test_tiers_by_price_and_escalation() -> None:
    nodes = [("a", "big"), ("b", "small"), ("c", "small"), ("d", "big")]
    assert tiers_by_price(nodes, {"big": 10.0, "small": 1.0}) == [["b", "c"], ["a", "d"]]
    assert tiers_by_price(nodes, {}, order=["big"]) == [["a", "d"], ["b", "c"]]
    one_model = [(n, "m") for n in "abcd"]
    assert tiers_by_price(one_model, {}) == [["a", "b"], ["c", "d"]]
    assert tiers_by_price(one_model[:2], {}) == [["a", "b"]]
    assert escalate(majority(votes("a", "b")))
    assert not escalate(majority(votes("a", "a", "")))
    assert escalate(majority(votes("", "")))


@given(st.lists(st.sampled_from(["a", "b", "c", ""]), min_size=1, max_size=11))
def test_stopping_early_never_changes_the_winner(keys: list[str]) -> None:
    full = majority(votes(*keys))
    for asked in range(1, len(keys) + 1):
        seen = votes(*keys[:asked])
        stop, _ = should_stop(seen, float(len(keys) - asked))
        if stop:
            early = majority(seen)
            assert (early.answer and early.answer.key) == (full.answer and full.answer.key)
            break
