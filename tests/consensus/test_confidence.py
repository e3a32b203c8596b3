from __future__ import annotations

import math

import pytest

from lmteams.consensus.confidence import (
    UNKNOWN,
    answer_span,
    confidence_of,
    logprob_confidence,
    stated_confidence,
)


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("Answer: 42\nConfidence: 80%", 0.8),
        ("Answer: 42 (confidence 0.35)", 0.35),
        ("I am 90% confident. Answer: 7", 0.9),
        ("Answer: x\nconfidence level: high", 0.8),
        ("Low confidence. Answer: 3", 0.2),
        ("Answer: 42", None),
        ("Confidence: 250%", None),
    ],
)
def test_stated_confidence(reply: str, value: float | None) -> None:
    assert stated_confidence(reply) == (pytest.approx(value) if value is not None else None)


def test_answer_span_covers_the_final_answer_tokens() -> None:
    reply = "x" * 90 + "Answer: 42"
    span = answer_span(reply, 10)
    assert span.start >= 8 and span.stop == 10
    assert answer_span("", 0) == slice(0, 0)


def test_logprob_confidence_is_the_geometric_mean_of_the_answer_tokens() -> None:
    reply = "reasoning " * 9 + "Answer: 42"
    logprobs = [-3.0] * 9 + [math.log(0.9)]
    assert logprob_confidence(reply, logprobs) == pytest.approx(0.9)
    assert logprob_confidence(reply, []) is None


def test_logprobs_first_then_stated_then_unknown() -> None:
    assert confidence_of("Answer: 1\nConfidence: 20%", [math.log(0.7)])[1] == "logprobs"
    assert confidence_of("Answer: 1\nConfidence: 20%", None) == (pytest.approx(0.2), "stated")
    assert confidence_of("Answer: 1", None) == (UNKNOWN, "unknown")
