from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmteams.faults.breaker import BreakerState, CircuitBreaker
from lmteams.faults.config import BreakerConfig


def breaker(**kw: float) -> CircuitBreaker:
    return CircuitBreaker("m", BreakerConfig(**kw))  # type: ignore[arg-type]


def test_opens_after_consecutive_failures_and_refuses_calls() -> None:
    b = breaker(failure_threshold=3, reset_s=10)
    assert b.on_failure(0) is None and b.on_failure(1) is None
    b.on_success(1.5)  # a success resets the count
    assert b.on_failure(2) is None and b.on_failure(3) is None
    opened = b.on_failure(4)
    assert opened is not None and opened.event == "breaker_opened" and b.state is BreakerState.OPEN
    assert not b.allow(5) and b.refused == 1
    assert b.wait_s(5) == 9


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    b = breaker(failure_threshold=1, reset_s=10)
    b.on_failure(0)
    assert b.tick(9.9) is None
    half = b.tick(10)
    assert half is not None and half.event == "breaker_half_open"
    assert b.allow(10) and not b.allow(10)  # one probe at a time
    closed = b.on_success(11)
    assert closed is not None and closed.event == "breaker_closed"
    assert b.allow(11) and b.allow(11)


def test_a_failed_probe_reopens_with_a_longer_reset() -> None:
    b = breaker(failure_threshold=1, reset_s=10, max_reset_s=15)
    b.on_failure(0)
    b.tick(10)
    assert b.allow(10)
    reopened = b.on_failure(11)
    assert reopened is not None and reopened.event == "breaker_opened"
    assert b.wait_s(11) == 15  # doubled, capped
    b.tick(26)
    assert b.allow(26)
    b.on_success(27)
    b.on_failure(28)
    assert b.state is BreakerState.OPEN and b.wait_s(28) == 10  # a close resets the delay


def test_an_abandoned_probe_frees_its_slot() -> None:
    b = breaker(failure_threshold=1, reset_s=1)
    b.on_failure(0)
    b.tick(1)
    assert b.allow(1)
    b.on_abandoned()
    assert b.allow(1)


def test_statistics() -> None:
    b = breaker(failure_threshold=1, reset_s=5)
    b.on_failure(2)
    stats = b.statistics()
    assert stats.state is BreakerState.OPEN and stats.opened == 1 and stats.retry_at == 7


@given(
    st.lists(
        st.tuples(st.sampled_from(["ok", "fail", "allow", "tick", "abandon"]), st.floats(0, 4)),
        max_size=80,
    )
)
def test_transitions_follow_the_state_machine(steps: list[tuple[str, float]]) -> None:
    b = breaker(failure_threshold=3, reset_s=5, half_open_calls=2)
    now = 0.0
    legal = {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.CLOSED),  # a call from before the opening succeeded
    }
    probes = 0
    for action, dt in steps:
        now += dt
        before = b.state
        if action == "ok":
            change = b.on_success(now)
        elif action == "fail":
            change = b.on_failure(now)
        elif action == "tick":
            change = b.tick(now)
        elif action == "abandon":
            b.on_abandoned()
            change = None
        else:
            allowed = b.allow(now)
            change = None
            if before is BreakerState.OPEN:
                assert not allowed  # never lets a call through while open
            if before is BreakerState.HALF_OPEN and allowed:
                probes += 1
        if change is not None:
            assert (change.old, change.new) in legal and change.old is before
            probes = 0
        if before is BreakerState.CLOSED and b.state is BreakerState.OPEN:
            assert b.consecutive_failures >= 3
        if b.state is BreakerState.HALF_OPEN:
            assert b._in_probe <= 2
