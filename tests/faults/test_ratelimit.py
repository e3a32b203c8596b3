from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.faults.config import RateLimitConfig
from lmteams.faults.ratelimit import EndpointLimiter, TokenBucket


def test_bucket_grants_its_burst_then_paces_at_its_rate() -> None:
    bucket = TokenBucket(rate_per_s=2, capacity=4, now=0)
    assert [bucket.take(1, 0) for _ in range(4)] == [0, 0, 0, 0]
    assert bucket.take(1, 0) == pytest.approx(0.5)
    assert bucket.take(1, 0.5) == 0
    assert bucket.take(3, 0.5) == pytest.approx(1.5)  # waits, takes nothing
    assert bucket.take(3, 2.0) == 0


def test_requests_beyond_capacity_are_capped_not_starved() -> None:
    bucket = TokenBucket(rate_per_s=1, capacity=10)
    assert bucket.take(50, 0) == 0 and bucket.level == 0


def test_invalid_bucket() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


@given(
    st.floats(0.1, 100),
    st.floats(1, 50),
    st.lists(st.tuples(st.floats(0, 2), st.floats(0.1, 20)), max_size=100),
)
def test_bucket_never_grants_more_than_capacity_plus_rate_times_time(
    rate: float, capacity: float, calls: list[tuple[float, float]]
) -> None:
    bucket = TokenBucket(rate, capacity, 0.0)
    now = 0.0
    grants: list[tuple[float, float]] = []
    for dt, n in calls:
        now += dt
        if bucket.take(n, now) == 0:
            grants.append((now, min(n, capacity)))
    for i, (start, _) in enumerate(grants):
        total = 0.0
        for when, amount in grants[i:]:
            total += amount
            assert total <= capacity + rate * (when - start) + 1e-6


def test_endpoint_takes_requests_and_tokens_together_or_not_at_all() -> None:
    limiter = EndpointLimiter(
        "m", RateLimitConfig(requests_per_minute=60, tokens_per_minute=600, burst_s=10), 0
    )
    # Buckets hold ten seconds of rate: 10 requests, 100 tokens.
    assert limiter.acquire(80, 0) == (0.0, "")
    wait, which = limiter.acquire(80, 0)
    assert wait == pytest.approx(6.0) and which == "tokens_per_minute"
    assert limiter.requests is not None and limiter.requests.level == pytest.approx(9.0)
    assert limiter.acquire(80, 6.0) == (0.0, "")
    for _ in range(9):
        assert limiter.acquire(0, 6.0) == (0.0, "")
    wait, which = limiter.acquire(0, 6.0)
    assert which == "requests_per_minute" and wait == pytest.approx(1.0)
    assert limiter.waits == 2


def test_settle_refunds_or_charges_the_token_estimate() -> None:
    limiter = EndpointLimiter("m", RateLimitConfig(tokens_per_minute=60, burst_s=100), 0)
    assert limiter.tokens is not None
    limiter.acquire(50, 0)
    limiter.settle(50, 20, 0)
    assert limiter.tokens.level == pytest.approx(100 - 20)
    limiter.settle(10, 200, 0)
    assert limiter.tokens.level < 0  # over-use is paid back by later calls waiting


def test_pause_holds_every_call_until_retry_after() -> None:
    limiter = EndpointLimiter("m", RateLimitConfig(), 0)
    limiter.pause(30)
    assert limiter.acquire(1, 10) == (20, "retry_after")
    assert limiter.acquire(1, 30) == (0.0, "")
