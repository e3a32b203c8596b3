"""Scoring answers against labels: correctness and accuracy with a 95% confidence interval. Pure."""

from __future__ import annotations

import math

from lmteams.consensus.answers import Extractor

Z95 = 1.959963984540054


def gold_key(answer: str, extractor: Extractor) -> str:
    """A label normalized the way node answers are, so "1,000" matches "1000.0"."""
    return extractor(f"Answer: {answer}").key


def wilson(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; sound at 0%, 100% and small n."""
    if total <= 0:
        return (0.0, 1.0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # At 0% and 100% the bound is exactly the estimate; say so despite rounding.
    low = 0.0 if correct == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if correct == total else min(1.0, max(p, centre + half))
    return (low, high)
