from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import Answer
from lmteams.consensus.dawid_skene import Reliability, decide, fit, posterior
from lmteams.consensus.voting import Vote, majority

from .simulated import simulate

ACCURACIES = [0.9, 0.85, 0.4, 0.4, 0.4]
BLOC = (2, 3, 4)  # three weak nodes that err together


def votes_of(row: dict[str, str]) -> list[Vote]:
    return [Vote(node, Answer(key, key)) for node, key in row.items()]


def accuracy(decisions: list[str | None], truth: list[str]) -> float:
    return sum(d == t for d, t in zip(decisions, truth, strict=True)) / len(truth)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_learned_beats_majority_on_1000_questions_without_labels(seed: int) -> None:
    world = simulate(1000, ACCURACIES, bloc=BLOC, p_bloc=0.8, seed=seed)
    reliability = fit(world.answers)
    learned = [decide(votes_of(row), reliability).answer for row in world.answers]
    voted = [majority(votes_of(row)).answer for row in world.answers]
    learned_accuracy = accuracy([a.key if a else None for a in learned], world.truth)
    majority_accuracy = accuracy([a.key if a else None for a in voted], world.truth)
    assert learned_accuracy >= majority_accuracy + 0.04, (learned_accuracy, majority_accuracy)
    # The estimates recover the nodes' true accuracies despite the bloc's correlated errors.
    for j, true in enumerate(ACCURACIES):
        assert reliability.accuracy[f"n{j}"] == pytest.approx(true, abs=0.07)
    assert reliability.items == 1000 and reliability.labeled == 0


def test_labels_anchor_the_estimates() -> None:
    world = simulate(600, [0.7, 0.6, 0.5, 0.5, 0.35, 0.35, 0.35], bloc=(4, 5, 6), seed=4)
    labels = {i: world.truth[i] for i in range(100)}
    reliability = fit(world.answers, labels)
    assert reliability.labeled == 100
    assert reliability.accuracy["n0"] > reliability.accuracy["n4"]
    decided = [decide(votes_of(row), reliability).answer for row in world.answers[100:]]
    voted = [majority(votes_of(row)).answer for row in world.answers[100:]]
    assert accuracy([a.key if a else None for a in decided], world.truth[100:]) >= accuracy(
        [a.key if a else None for a in voted], world.truth[100:]
    )


def test_a_label_outside_the_answers_counts_every_node_wrong() -> None:
    items = [{"a": "1", "b": "1"}] * 5
    unlabeled = fit(items)
    labeled = fit(items, dict.fromkeys(range(5), "2"))
    assert labeled.accuracy["a"] < 0.3 < unlabeled.accuracy["a"]


def test_weights_are_log_odds_and_unknown_nodes_are_neutral() -> None:
    reliability = Reliability({"good": 0.9, "bad": 0.2}, alternatives=2.0)
    assert reliability.weight("good") == pytest.approx(2.1972, abs=1e-3)
    assert reliability.weight("bad") < 0
    assert reliability.weight("stranger") == pytest.approx(0.0)


def test_one_reliable_node_outvotes_two_unreliable_ones() -> None:
    reliability = Reliability({"a": 0.95, "b": 0.3, "c": 0.3}, alternatives=3.0)
    votes = [Vote("a", Answer("x", "X")), Vote("b", Answer("y", "Y")), Vote("c", Answer("y", "Y"))]
    decision = decide(votes, reliability)
    assert decision.answer == Answer("x", "X")
    assert decision.total == 1.0 and 0.5 < decision.support <= 1.0
    assert majority(votes).answer == Answer("y", "Y")


def test_empty_history_empty_answers_and_ties() -> None:
    assert fit([]).items == 0
    assert fit([{}, {"a": ""}], nodes=["a"]).accuracy == {"a": 0.5}
    assert decide([Vote("a", Answer("", ""))], Reliability()).answer is None
    tied = decide(
        [Vote("a", Answer("x", "x")), Vote("b", Answer("y", "y"))],
        Reliability({"a": 0.7, "b": 0.7}, alternatives=4.0),
    )
    assert tied.tie and tied.answer == Answer("x", "x")


keys = st.sampled_from(["x", "y", "z", ""])


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), keys), max_size=30))
def test_fit_is_always_a_probability_model(items: list[dict[str, str]]) -> None:
    reliability = fit(items, nodes=["a", "b", "c", "d"])
    assert all(0.0 < p < 1.0 for p in reliability.accuracy.values())
    assert reliability.alternatives >= 2.0
    for row in items:
        ranked = posterior(votes_of(row), reliability)
        if ranked:
            assert sum(p for _, p, _ in ranked) == pytest.approx(1.0)
