from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.faults.config import HealthConfig, TimeoutConfig
from lmteams.faults.detector import (
    HealthBoard,
    LatencyHistory,
    NodeState,
    PhiAccrual,
    adaptive_timeout_s,
    percentile,
)


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_bounded_and_monotonic(values: list[float], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    p_low, p_high = percentile(values, low), percentile(values, high)
    assert min(values) <= p_low <= p_high <= max(values) or math.isclose(p_low, p_high)


def test_history_keeps_a_window_and_caches_percentiles() -> None:
    history = LatencyHistory(window=3)
    for value in (10.0, 1.0, 1.0, 1.0):
        history.add(value)
    assert len(history) == 3 and history.percentile(100) == 1.0
    history.add(4.0)
    assert history.percentile(100) == 4.0  # the cache is dropped when a latency arrives


def test_adaptive_timeout_needs_samples_then_follows_the_percentile() -> None:
    config = TimeoutConfig(percentile=99, factor=3, min_s=1, min_samples=4)
    history = LatencyHistory()
    for _ in range(3):
        history.add(2.0)
    assert adaptive_timeout_s(history, config, 300) == 300  # too little history: fixed
    history.add(2.0)
    assert adaptive_timeout_s(history, config, 300) == 6.0
    assert adaptive_timeout_s(history, config, 5.0) == 5.0  # never above the fixed deadline
    fast = LatencyHistory()
    for _ in range(4):
        fast.add(0.01)
    assert adaptive_timeout_s(fast, config, 300) == 1.0  # never below min_s
    assert adaptive_timeout_s(history, config.model_copy(update={"adaptive": False}), 300) == 300


def test_phi_grows_with_silence() -> None:
    phi = PhiAccrual()
    for t in range(10):
        phi.heartbeat(float(t))
    assert phi.phi(9.5) < 1
    assert 1 < phi.phi(10.3) < phi.phi(11) < phi.phi(20)
    assert phi.phi(20) > 12


@given(st.lists(st.floats(0.01, 10), min_size=2, max_size=30), st.floats(0, 100), st.floats(0, 100))
def test_phi_is_monotonic_in_elapsed_time(
    intervals: list[float], wait1: float, wait2: float
) -> None:
    phi = PhiAccrual()
    now = 0.0
    phi.heartbeat(now)
    for interval in intervals:
        now += interval
        phi.heartbeat(now)
    early, late = sorted((wait1, wait2))
    assert 0 <= phi.phi(now + early) <= phi.phi(now + late)


def board(**kw: float) -> HealthBoard:
    return HealthBoard(["a", "b"], HealthConfig(**kw))  # type: ignore[arg-type]


def test_failures_make_a_node_suspect_then_dead_and_a_success_recovers_it() -> None:
    health = board(suspect_after=1, dead_after=3, probe_after_s=10)
    change = health.on_failure("a", 1.0, reason="ModelUnavailable")
    assert change is not None and change.new is NodeState.SUSPECT and change.event == "node_suspect"
    assert health.on_failure("a", 2.0, reason="x") is None
    dead = health.on_failure("a", 3.0, reason="x")
    assert dead is not None and dead.new is NodeState.DEAD and dead.event == "node_dead"
    assert not health.available("a", 5.0)
    assert health.available("a", 13.0)  # a probe is due
    assert health.begin("a", 13.0) is True
    assert not health.available("a", 13.0)  # one probe at a time
    recovered = health.on_success("a", 0.5, 14.0)
    assert recovered is not None and recovered.event == "node_recovered"
    assert health.state("a") is NodeState.HEALTHY and health["a"].failures == 0
    assert health.state("b") is NodeState.HEALTHY


def test_a_failed_probe_doubles_the_wait_up_to_the_cap() -> None:
    health = board(suspect_after=1, dead_after=1, probe_after_s=10, max_probe_after_s=25)
    health.on_failure("a", 0.0, reason="x")
    assert health.begin("a", 10.0)
    health.on_failure("a", 10.0, reason="x")
    assert not health.available("a", 29.0) and health.available("a", 30.0)
    assert health.begin("a", 30.0)
    health.on_failure("a", 30.0, reason="x")
    assert health.available("a", 55.0)  # capped at 25 s


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    health = board(dead_after=1, probe_after_s=1)
    health.on_failure("a", 0.0, reason="x")
    assert health.begin("a", 2.0)
    health.probe_abandoned("a")
    assert health.available("a", 2.0)


def test_a_timeout_widens_the_node_deadline() -> None:
    health = HealthBoard(["a"], HealthConfig(), TimeoutConfig(min_samples=2, factor=3))
    health.on_success("a", 1.0, 0.0)
    health.on_success("a", 1.0, 1.0)
    assert health.timeout_s("a", 300) == 3.0
    health.on_failure("a", 5.0, reason="ModelTimeout", timeout_s=3.0)
    assert health.timeout_s("a", 300) == pytest.approx(4.5, rel=0.01)  # half as long again
    health.on_failure("a", 9.0, reason="overtaken", slower_than_s=20.0)
    assert health.timeout_s("a", 300) == pytest.approx(58.3, rel=0.01)  # 3 x p99


def test_heartbeat_silence_suspects_then_kills_and_a_heartbeat_recovers() -> None:
    health = board(phi_suspect=3, phi_dead=8, min_heartbeats=3)
    for t in range(6):
        assert health.heartbeat("a", float(t)) is None
    assert health.sweep(5.5) == []
    [suspect] = health.sweep(6.35)
    assert suspect.node == "a" and suspect.new is NodeState.SUSPECT
    assert suspect.reason == "heartbeat silence"
    [dead] = health.sweep(9.0)
    assert dead.new is NodeState.DEAD
    back = health.heartbeat("a", 9.5)
    assert back is not None and back.new is NodeState.HEALTHY
    assert health.state("b") is NodeState.HEALTHY  # never sent heartbeats: never judged by them


def test_heartbeats_do_not_clear_suspicion_from_failed_calls() -> None:
    health = board(suspect_after=1)
    health.on_failure("a", 0.0, reason="ModelUnavailable")
    assert health.heartbeat("a", 1.0) is None
    assert health.state("a") is NodeState.SUSPECT


@given(
    st.lists(
        st.tuples(st.sampled_from(["ok", "fail", "beat", "sweep", "begin"]), st.floats(0, 5)),
        max_size=60,
    )
)
def test_state_machine_invariants(steps: list[tuple[str, float]]) -> None:
    health = board(suspect_after=2, dead_after=4, probe_after_s=3)
    now = 0.0
    for action, dt in steps:
        now += dt
        if action == "ok":
            health.on_success("a", dt, now)
        elif action == "fail":
            health.on_failure("a", now, reason="x")
        elif action == "beat":
            health.heartbeat("a", now)
        elif action == "sweep":
            health.sweep(now)
        else:
            health.begin("a", now)
        node = health["a"]
        if node.failures >= 4 and node.reason != "heartbeat":
            assert node.state is NodeState.DEAD
        if node.state is NodeState.HEALTHY:
            assert node.probe_at == math.inf and not node.probing
        if node.state is NodeState.DEAD and not node.probing:
            assert math.isfinite(node.probe_at)
