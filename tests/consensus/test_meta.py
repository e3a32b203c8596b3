from __future__ import annotations

import random

import numpy as np
import pytest

from lmteams.consensus.answers import Answer
from lmteams.consensus.dawid_skene import Reliability
from lmteams.consensus.meta import (
    FEATURES,
    Ballot,
    LogisticModel,
    candidate_features,
    decide,
    fit_logistic,
)


def test_logistic_regression_recovers_a_separating_direction() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(scale=0.3, size=400) > 0).astype(int)
    model = fit_logistic(X, y, features=("a", "b"), l2=0.1)
    accuracy = ((model.probabilities(X) > 0.5) == y).mean()
    assert accuracy > 0.9
    assert model.weights[0] > 0 > model.weights[1]
    assert LogisticModel.model_validate_json(model.model_dump_json()) == model


def test_constant_features_and_bad_input() -> None:
    model = fit_logistic([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], [0, 1, 1], features=("c", "x"))
    assert np.all(np.isfinite(model.probabilities([[1.0, 5.0]])))
    with pytest.raises(ValueError):
        fit_logistic([], [])


def test_candidate_features() -> None:
    ballots = [
        Ballot("a", Answer("1", "1"), 0.9, 20),
        Ballot("b", Answer("1", "1"), 0.7, 40),
        Ballot("c", Answer("2", "2"), 0.2, 5),
        Ballot("d", Answer("", ""), 0.5, 1),
    ]
    reliability = Reliability({"a": 0.9, "b": 0.6, "c": 0.3}, alternatives=3.0)
    rows = candidate_features(ballots, reliability, judge_pick="2")
    assert [a.key for a, _, _ in rows] == ["1", "2"]
    one = dict(zip(FEATURES, rows[0][2], strict=True))
    two = dict(zip(FEATURES, rows[1][2], strict=True))
    assert one["vote_share"] == pytest.approx(2 / 3)
    assert one["mean_reliability"] == pytest.approx(0.75)
    assert one["confidence"] == pytest.approx(0.8)
    assert (one["judge_pick"], two["judge_pick"]) == (0.0, 1.0)
    assert one["ds_posterior"] + two["ds_posterior"] == pytest.approx(1.0)
    assert candidate_features([], reliability) == []


def test_meta_model_learns_to_trust_confidence_over_votes() -> None:
    # Simulated: the answer most voted for is right 50% of the time, the most confident 90%.
    rng = random.Random(1)
    reliability = Reliability({n: 0.5 for n in "abc"}, alternatives=3.0)
    rows, labels, questions = [], [], []
    for _ in range(300):
        right_conf = rng.random() < 0.9
        ballots = [
            Ballot("a", Answer("x", "x"), 0.9 if right_conf else 0.2),
            Ballot("b", Answer("y", "y"), 0.2 if right_conf else 0.9),
            Ballot("c", Answer("y", "y"), 0.2 if right_conf else 0.9),
        ]
        truth = "x" if right_conf else "y"
        questions.append((ballots, truth))
        for answer, _, row in candidate_features(ballots, reliability):
            rows.append(row)
            labels.append(int(answer.key == truth))
    model = fit_logistic(rows, labels)
    right = sum(decide(model, b, reliability).answer.key == t for b, t in questions)  # type: ignore[union-attr]
    assert right / len(questions) > 0.85
    assert decide(model, [], reliability).answer is None
