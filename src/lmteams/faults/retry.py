"""Retry policy: which errors are worth another attempt, and how long to wait before it.

Errors are classified by class, never by message (see :mod:`lmteams.errors`):

- transient (timeout, connection, 429, 5xx, node dead): retried with exponential backoff and
  full jitter, ``uniform(0, min(max_s, base_s * multiplier**n))``; a server's Retry-After is a
  floor on the delay (and a Retry-After longer than ``max_retry_after_s`` ends the retries);
- bad output (empty, malformed, runaway): retried at once, with feedback, while the output
  check's own retry allowance lasts;
- permanent (invalid request, authentication, budget): never retried.

With ``only_timeouts`` (a team without a ``resilience:`` section), of the transient errors only
a call that ran past its deadline is retried; the others are the caller's to handle, as they
always were (an output check keeps its own retries).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from lmteams.errors import (
    BadOutput,
    BudgetExceeded,
    ModelError,
    ModelTimeout,
    TransientModelError,
)
from lmteams.faults.config import RetryConfig


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    BAD_OUTPUT = "bad_output"
    PERMANENT = "permanent"


def classify(error: BaseException) -> ErrorClass:
    if isinstance(error, BudgetExceeded):
        return ErrorClass.PERMANENT
    if isinstance(error, TransientModelError):
        return ErrorClass.TRANSIENT
    if isinstance(error, BadOutput):
        return ErrorClass.BAD_OUTPUT
    return ErrorClass.PERMANENT


def backoff_s(config: RetryConfig, retry: int, rng: random.Random) -> float:
    """Full-jitter delay before retry number ``retry`` (0 for the first retry)."""
    ceiling = min(config.max_s, config.base_s * config.multiplier ** min(retry, 64))
    return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0
    feedback: bool = False
    reason: str = ""


def decide(
    config: RetryConfig,
    error: ModelError,
    *,
    attempt: int,
    feedback_retries_used: int,
    feedback_retries: int,
    rng: random.Random,
) -> RetryDecision:
    """Whether call attempt number ``attempt`` (1-based) that failed with ``error`` is retried."""
    kind = classify(error)
    if (
        config.only_timeouts
        and kind is ErrorClass.TRANSIENT
        and not isinstance(error, ModelTimeout)
    ):
        return RetryDecision(False, reason=f"only timeouts are retried, not {type(error).__name__}")
    if kind is ErrorClass.PERMANENT:
        return RetryDecision(False, reason=f"permanent error {type(error).__name__}")
    if kind is ErrorClass.BAD_OUTPUT:
        if feedback_retries_used >= feedback_retries:
            return RetryDecision(False, reason="output retries exhausted")
        return RetryDecision(True, 0.0, feedback=True, reason="bad output")
    if attempt >= config.max_attempts:
        return RetryDecision(False, reason=f"{config.max_attempts} attempts made")
    delay = backoff_s(config, attempt - 1, rng)
    retry_after = retry_after_s(error)
    if retry_after is not None:
        if retry_after > config.max_retry_after_s:
            return RetryDecision(False, reason=f"Retry-After {retry_after:g}s exceeds the limit")
        delay = max(delay, retry_after)
    return RetryDecision(True, delay, reason=type(error).__name__)


def retry_after_s(error: ModelError) -> float | None:
    """The earliest time a retry makes sense, when the error says (a 429's Retry-After, an
    open breaker's remaining time)."""
    value = getattr(error, "retry_after_s", None)
    return float(value) if isinstance(value, int | float) else None
