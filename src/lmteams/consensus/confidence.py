"""A node's confidence in its own answer, from token log-probabilities or from what it states.

Log-probabilities come without token texts, so the answer's tokens are located by position:
the final answer segment starts at some fraction of the reply's characters, and the same
fraction of the tokens (from there to the end) is taken as the answer's span. The confidence is
the geometric mean of those tokens' probabilities. When a backend returns no log-probabilities,
a confidence the reply states ("Confidence: 80%", "confidence 0.8", "high confidence") is used.
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from lmteams.consensus.answers import final_segment

#: Used when a reply carries neither log-probabilities nor a stated confidence.
UNKNOWN = 0.5
#: The instruction added to a prompt when confidence must be stated.
STATE_CONFIDENCE = (
    'After the answer line, add one line "Confidence: <0-100>%" saying how sure you are.'
)

_STATED = re.compile(
    r"confidence\s*(?:level|score)?\s*(?:is|of)?\s*[:=\-]?\s*\**\s*(\d{1,3}(?:\.\d+)?)\s*(%)?",
    re.IGNORECASE,
)
_STATED_AFTER = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%\s*(?:confident|sure|certain)", re.I)
_WORDS = re.compile(
    r"\b(very high|high|medium|moderate|low|very low)\s+confidence|"
    r"confidence\s*(?:level|score)?\s*(?:is)?\s*[:=\-]?\s*"
    r"(very high|high|medium|moderate|low|very low)\b",
    re.IGNORECASE,
)
_WORD_VALUES = {
    "very high": 0.95,
    "high": 0.8,
    "medium": 0.5,
    "moderate": 0.5,
    "low": 0.2,
    "very low": 0.05,
}


def clamp(p: float, low: float = 1e-3, high: float = 1.0 - 1e-3) -> float:
    return min(high, max(low, p))


def stated_confidence(reply: str) -> float | None:
    """The confidence a reply states, as a probability, or None if it states none."""
    matches = list(_STATED.finditer(reply))
    if matches:
        raw, percent = matches[-1].group(1), matches[-1].group(2)
        value = float(raw)
        if percent or value > 1.0:
            value /= 100.0
        return clamp(value) if 0.0 <= value <= 1.0 else None
    after = list(_STATED_AFTER.finditer(reply))
    if after:
        value = float(after[-1].group(1)) / 100.0
        return clamp(value) if value <= 1.0 else None
    words = list(_WORDS.finditer(reply))
    if words:
        word = (words[-1].group(1) or words[-1].group(2)).lower()
        return _WORD_VALUES[word]
    return None


def answer_span(reply: str, n_tokens: int) -> slice:
    """The token positions that state the final answer (see the module docstring)."""
    if n_tokens <= 0:
        return slice(0, 0)
    segment = final_segment(reply)
    at = reply.rfind(segment) if segment else -1
    if at < 0 or not reply:
        return slice(0, n_tokens)
    start = min(n_tokens - 1, int(n_tokens * at / len(reply)))
    return slice(start, n_tokens)


def logprob_confidence(reply: str, token_logprobs: Sequence[float]) -> float | None:
    """Geometric-mean probability of the answer's tokens, or None without log-probabilities."""
    if not token_logprobs:
        return None
    span = token_logprobs[answer_span(reply, len(token_logprobs))]
    if not span:
        return None
    return clamp(math.exp(sum(span) / len(span)))


def confidence_of(reply: str, token_logprobs: Sequence[float] | None) -> tuple[float, str]:
    """(confidence, source): log-probabilities first, then a stated confidence, else unknown."""
    if token_logprobs:
        value = logprob_confidence(reply, token_logprobs)
        if value is not None:
            return value, "logprobs"
    stated = stated_confidence(reply)
    if stated is not None:
        return stated, "stated"
    return UNKNOWN, "unknown"
