from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from lmteams.errors import (
    AuthenticationFailed,
    BadOutput,
    InvalidRequest,
    ModelTimeout,
    ModelUnavailable,
    RateLimited,
)
from lmteams.faults.budget import BudgetStop
from lmteams.faults.config import RetryConfig
from lmteams.faults.retry import ErrorClass, backoff_s, classify, decide


def test_errors_are_classified_by_class() -> None:
    assert classify(ModelTimeout("x")) is ErrorClass.TRANSIENT
    assert classify(RateLimited("x", retry_after_s=1)) is ErrorClass.TRANSIENT
    assert classify(ModelUnavailable("503")) is ErrorClass.TRANSIENT
    assert classify(BadOutput("empty")) is ErrorClass.BAD_OUTPUT
    assert classify(InvalidRequest("400")) is ErrorClass.PERMANENT
    assert classify(AuthenticationFailed("401")) is ErrorClass.PERMANENT
    assert classify(BudgetStop("spent")) is ErrorClass.PERMANENT


@given(
    st.integers(0, 200),
    st.floats(0, 10),
    st.floats(1, 10),
    st.floats(0, 100),
    st.integers(0, 2**32),
)
def test_backoff_stays_within_its_exponential_ceiling(
    retry: int, base: float, multiplier: float, cap: float, seed: int
) -> None:
    config = RetryConfig(base_s=base, multiplier=multiplier, max_s=cap)
    delay = backoff_s(config, retry, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * multiplier ** min(retry, 64)) + 1e-9


def test_backoff_is_repeatable_from_the_seed() -> None:
    config = RetryConfig()
    a = [backoff_s(config, n, random.Random(7)) for n in range(5)]
    b = [backoff_s(config, n, random.Random(7)) for n in range(5)]
    assert a == b


def decision(error: Exception, attempt: int = 1, **kw: int) -> object:
    return decide(
        RetryConfig(max_attempts=3, base_s=1, max_s=8, max_retry_after_s=60),
        error,  # type: ignore[arg-type]
        attempt=attempt,
        feedback_retries_used=kw.get("used", 0),
        feedback_retries=kw.get("allowed", 1),
        rng=random.Random(0),
    )


def test_permanent_errors_are_never_retried() -> None:
    for error in (InvalidRequest("bad"), AuthenticationFailed("key"), BudgetStop("spent")):
        result = decision(error)
        assert result.retry is False and "permanent" in result.reason  # type: ignore[attr-defined]


def test_transient_errors_are_retried_until_attempts_run_out() -> None:
    assert decision(ModelTimeout("slow"), attempt=1).retry  # type: ignore[attr-defined]
    assert decision(ModelTimeout("slow"), attempt=2).retry  # type: ignore[attr-defined]
    last = decision(ModelTimeout("slow"), attempt=3)
    assert not last.retry and "3 attempts" in last.reason  # type: ignore[attr-defined]


def test_retry_after_is_a_floor_and_too_long_a_wait_gives_up() -> None:
    result = decision(RateLimited("429", retry_after_s=20))
    assert result.retry and result.delay_s == 20  # type: ignore[attr-defined]
    assert not decision(RateLimited("429", retry_after_s=600)).retry  # type: ignore[attr-defined]
    no_hint = decision(RateLimited("429"))
    assert no_hint.retry and no_hint.delay_s <= 1  # type: ignore[attr-defined]


def test_bad_output_is_retried_with_feedback_while_allowed() -> None:
    first = decision(BadOutput("empty"), attempt=3)
    assert first.retry and first.feedback and first.delay_s == 0  # type: ignore[attr-defined]
    assert not decision(BadOutput("empty"), used=1, allowed=1).retry  # type: ignore[attr-defined]
