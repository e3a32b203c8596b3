"""A supervised meta-model: which candidate answer is right, from features of its support.

Each distinct answer to a question is a candidate, described by: its share of the votes, its
Dawid-Skene posterior, the mean estimated reliability of its voters, their mean confidence,
whether a judge picked it, and how long its voters reasoned. A logistic regression (L2,
fitted by Newton's method in numpy) learns from labeled questions which candidates are right;
at answer time the candidate with the highest probability wins. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from lmteams.consensus.answers import Answer
from lmteams.consensus.dawid_skene import Reliability, posterior
from lmteams.consensus.voting import Decision, Vote, tally

FEATURES: tuple[str, ...] = (
    "vote_share",
    "ds_posterior",
    "mean_reliability",
    "confidence",
    "judge_pick",
    "reasoning_length",
)


@dataclass(frozen=True, slots=True)
class Ballot:
    """One node's answer with what the features need to know about it."""

    node: str
    answer: Answer
    confidence: float = 0.5
    completion_tokens: int = 0


def candidate_features(
    ballots: Sequence[Ballot], reliability: Reliability, judge_pick: str | None = None
) -> list[tuple[Answer, tuple[str, ...], list[float]]]:
    """(answer, voters, feature vector) for each distinct answer, in first-supporter order."""
    votes = [Vote(b.node, b.answer) for b in ballots]
    groups = tally(votes)
    if not groups:
        return []
    by_node = {b.node: b for b in ballots}
    total = sum(len(voters) for _, _, voters in groups)
    ds = {answer.key: prob for answer, prob, _ in posterior(votes, reliability)}
    out = []
    for answer, _, voters in groups:
        members = [by_node[n] for n in voters]
        out.append(
            (
                answer,
                voters,
                [
                    len(voters) / total,
                    ds.get(answer.key, 0.0),
                    float(np.mean([reliability.accuracy.get(n, 0.5) for n in voters])),
                    float(np.mean([m.confidence for m in members])),
                    1.0 if judge_pick is not None and judge_pick == answer.key else 0.0,
                    float(np.mean([math.log1p(m.completion_tokens) for m in members])),
                ],
            )
        )
    return out


class LogisticModel(BaseModel):
    """A fitted logistic regression over standardized features; JSON-serializable."""

    model_config = ConfigDict(frozen=True)

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    l2: float = 1.0
    examples: int = 0
    uses_judge: bool = False

    def probabilities(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        X = (np.asarray(rows, dtype=float) - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(X @ np.asarray(self.weights) + self.bias)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
    return out


def fit_logistic(
    rows: Sequence[Sequence[float]],
    labels: Sequence[int],
    *,
    features: Sequence[str] = FEATURES,
    l2: float = 1.0,
    iterations: int = 50,
    uses_judge: bool = False,
) -> LogisticModel:
    """L2-regularized logistic regression by Newton-Raphson (IRLS); the bias is unpenalized."""
    X = np.asarray(rows, dtype=float)
    y = np.asarray(labels, dtype=float)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError("need one label per feature row, and at least one row")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature carries no signal; keep it finite
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    w = np.zeros(Z.shape[1])
    penalty = np.full(Z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = _sigmoid(Z @ w)
        gradient = Z.T @ (p - y) + penalty * w
        hessian = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return LogisticModel(
        features=tuple(features),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in w[:-1]),
        bias=float(w[-1]),
        l2=l2,
        examples=len(X),
        uses_judge=uses_judge,
    )


def decide(
    model: LogisticModel,
    ballots: Sequence[Ballot],
    reliability: Reliability,
    judge_pick: str | None = None,
) -> Decision:
    """The candidate the model finds most likely right; support is that probability."""
    candidates = candidate_features(ballots, reliability, judge_pick)
    if not candidates:
        return Decision(None, 0.0, 0.0, reason="no node gave an answer")
    probs = model.probabilities([row for _, _, row in candidates])
    best = int(np.argmax(probs))  # first maximum: team order breaks exact ties
    tied = [a for (a, _, _), p in zip(candidates, probs, strict=True) if p == probs[best]]
    return Decision(
        candidates[best][0],
        float(probs[best]),
        float(probs.sum()),
        tie=len(tied) > 1,
        tied=tuple(tied) if len(tied) > 1 else (),
        groups=tuple(
            (a, float(p), voters) for (a, voters, _), p in zip(candidates, probs, strict=True)
        ),
        reason="meta-model",
    )
