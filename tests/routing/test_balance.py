from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.routing.balance import (
    CheapestFirst,
    LeastOutstanding,
    PowerOfTwo,
    Replica,
    RoundRobin,
    WeightedThroughput,
    group_load,
    make_policy,
)
from lmteams.routing.settings import POLICIES, RoleConfig


def replicas(*outstanding: int, capacity: int = 1) -> list[Replica]:
    group = [Replica(f"r{i}", capacity=capacity, index=i) for i in range(len(outstanding))]
    for replica, count in zip(group, outstanding, strict=True):
        for _ in range(count):
            replica.start(0.0)
    return group


def test_replica_books_busy_time_latency_and_throughput() -> None:
    r = Replica("a", capacity=2)
    r.start(0.0)
    r.start(1.0)
    assert r.outstanding == 2 and r.load == 1.0 and r.queued == 0
    r.finish(2.0, "ok", 2.0)
    r.finish(3.0, "ok", 2.0)
    assert r.busy_time(10.0) == 3.0 and r.throughput(10.0) == pytest.approx(2 / 3)
    r.start(5.0)
    r.finish(6.0, "failed")
    r.start(7.0)
    r.finish(7.5, "cancelled")
    assert (r.completed, r.failed, r.cancelled) == (2, 1, 1)
    assert r.mean_latency_s == 2.0 and r.busy_time(8.0) == 4.5
    with pytest.raises(ValueError, match="no outstanding request"):
        r.finish(9.0, "ok")


def test_group_load_counts_waiting_requests_and_taken_slots() -> None:
    group = replicas(3, 0, 1, capacity=2)
    load = group_load(group)
    assert (load.outstanding, load.capacity, load.queue_depth) == (4, 6, 1)
    assert load.utilization == pytest.approx(3 / 6)


@given(st.integers(1, 6), st.integers(1, 20))
def test_round_robin_gives_each_replica_the_same_share(n: int, rounds: int) -> None:
    group = replicas(*([0] * n))
    policy = RoundRobin()
    picks = Counter(policy.choose(group, 0.0).name for _ in range(n * rounds))
    assert set(picks.values()) == {rounds}


def test_round_robin_continues_over_subsets() -> None:
    group = replicas(0, 0, 0, 0)
    policy = RoundRobin()
    assert [policy.choose(group, 0).name for _ in range(2)] == ["r0", "r1"]
    assert policy.choose(group[::2], 0).name == "r2"  # the rotation goes on past r1
    assert policy.choose(group[:2], 0).name == "r0"  # and wraps


@given(st.lists(st.integers(0, 9), min_size=1, max_size=8), st.integers(1, 3))
def test_least_outstanding_picks_a_least_loaded_replica(loads: list[int], capacity: int) -> None:
    group = replicas(*loads, capacity=capacity)
    chosen = LeastOutstanding().choose(group, 0.0)
    assert chosen.outstanding == min(loads)


def test_least_outstanding_breaks_ties_toward_the_faster_replica() -> None:
    slow, fast = replicas(0, 0)
    slow.start(0)
    slow.finish(10, "ok", 10.0)
    fast.start(0)
    fast.finish(1, "ok", 1.0)
    assert LeastOutstanding().choose([slow, fast], 20).name == fast.name


@given(st.lists(st.integers(0, 9), min_size=2, max_size=8), st.integers(0, 2**32))
def test_power_of_two_never_picks_the_single_most_loaded(loads: list[int], seed: int) -> None:
    group = replicas(*loads)
    policy = PowerOfTwo(random.Random(seed))
    top = max(loads)
    for _ in range(20):
        chosen = policy.choose(group, 0.0)
        if loads.count(top) == 1:
            assert chosen.outstanding < top
        # it picked the lesser of two: at least one other replica is as loaded or more
        assert sum(1 for r in group if r.outstanding >= chosen.outstanding) >= 2


def test_power_of_two_is_repeatable_with_a_seed() -> None:
    group = replicas(0, 1, 2, 3, 0, 1)
    a = [PowerOfTwo(random.Random(7)).choose(group, 0).name for _ in range(10)]
    b = [PowerOfTwo(random.Random(7)).choose(group, 0).name for _ in range(10)]
    assert a == b


def measured(throughputs: list[float]) -> list[Replica]:
    """Replicas that each completed requests at the given rate over 100 busy seconds."""
    group = replicas(*([0] * len(throughputs)))
    for replica, rate in zip(group, throughputs, strict=True):
        replica.start(0.0)
        replica.finish(100.0, "ok", 1.0)
        replica.completed = round(rate * 100)
    return group


@given(st.lists(st.integers(1, 20), min_size=1, max_size=6), st.integers(1, 30))
def test_weighted_throughput_shares_follow_observed_throughput(
    rates: list[int], rounds: int
) -> None:
    group = measured([float(r) for r in rates])
    policy = WeightedThroughput()
    total = sum(rates) * rounds
    picks = Counter(policy.choose(group, 100.0).name for _ in range(total))
    for replica, rate in zip(group, rates, strict=True):
        assert picks[replica.name] == rate * rounds  # smooth WRR is exact over full cycles


def test_weighted_throughput_tries_unmeasured_replicas_and_keeps_a_floor() -> None:
    group = measured([10.0, 0.0])
    group[1].failed = 5  # measured: it fails everything
    fresh = Replica("new", index=5)
    policy = WeightedThroughput()
    weights = policy.weights([*group, fresh], 100.0)
    assert weights[2] == pytest.approx(5.0)  # the mean of the measured ones
    assert weights[1] == pytest.approx(0.1)  # 1% of the best, never zero
    picks = Counter(policy.choose([*group, fresh], 100.0).name for _ in range(1510))
    assert picks["r1"] == 10 and picks["new"] == 500


def test_cheapest_first_fills_cheap_slots_then_spills_over() -> None:
    cheap, mid, dear = (
        Replica("cheap", capacity=2, price=0.1, index=0),
        Replica("mid", capacity=1, price=1.0, index=1),
        Replica("dear", capacity=1, price=5.0, index=2),
    )
    group = [dear, mid, cheap]
    policy = CheapestFirst()
    order = []
    for _ in range(4):
        chosen = policy.choose(group, 0.0)
        chosen.start(0.0)
        order.append(chosen.name)
    assert order == ["cheap", "cheap", "mid", "dear"]
    # all busy: the least loaded per slot, the cheaper on a tie
    assert policy.choose(group, 0.0).name == "cheap"
    assert CheapestFirst(spill_at=1).choose([cheap, mid], 0.0).name == "mid"


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 3), st.integers(0, 3)), min_size=1),
    st.integers(1, 4) | st.none(),
)
def test_cheapest_first_property(specs: list[tuple[int, int, int]], spill_at: int | None) -> None:
    group = []
    for i, (outstanding, capacity, price) in enumerate(specs):
        replica = Replica(f"r{i}", capacity=capacity, price=float(price), index=i)
        for _ in range(outstanding):
            replica.start(0.0)
        group.append(replica)
    policy = CheapestFirst(spill_at)
    chosen = policy.choose(group, 0.0)
    free = [r for r in group if r.outstanding < policy.limit(r)]
    if free:
        assert chosen.price == min(r.price for r in free)
        assert chosen in free
    else:
        assert chosen.outstanding / policy.limit(chosen) == min(
            r.outstanding / policy.limit(r) for r in group
        )


@pytest.mark.parametrize("name", POLICIES)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 99)), max_size=60))
def test_every_policy_keeps_consistent_books(name: str, ops: list[tuple[bool, int]]) -> None:
    group = replicas(0, 0, 0)
    policy = make_policy(RoleConfig.model_validate({"balance": name}))
    now = 0.0
    for send, pick in ops:
        now += 1.0
        busy = [r for r in group if r.outstanding]
        if send or not busy:
            policy.choose(group, now).start(now)
        else:
            busy[pick % len(busy)].finish(now, "ok", 1.0)
        assert all(r.outstanding >= 0 for r in group)
        assert sum(r.outstanding for r in group) == sum(r.dispatched - r.completed for r in group)


def test_empty_candidates_are_rejected() -> None:
    with pytest.raises(ValueError, match="no replica"):
        RoundRobin().choose([], 0.0)
