from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmteams.errors import ConfigError
from lmteams.sim.generators import generate, is_generator


def test_layered() -> None:
    graph = generate("random:layered:tasks=1000,layers=20,deps=3,seed=4")
    assert graph.n == 1000 and graph.c == 20
    assert graph.find_cycle() is None
    assert max(len(d) for d in graph.deps.values()) <= 3
    assert generate("random:layered:tasks=1000,layers=20,deps=3,seed=4").deps == graph.deps


@given(st.integers(10, 2000), st.floats(0.0, 0.95))
@settings(max_examples=30, deadline=None)
def test_chains_have_exactly_the_chosen_p(n: int, p: float) -> None:
    graph = generate(f"random:chains:tasks={n},p={p}")
    critical = max(1, round(n * (1 - p)))
    assert graph.c == critical
    assert graph.p == pytest.approx((n - critical) / n)


def test_chains_with_longer_side_chains() -> None:
    graph = generate("random:chains:tasks=100,p=0.8,length=5")
    assert graph.c == 20
    assert sum(1 for d in graph.deps.values() if not d) == 1 + 16  # every chain's head


def test_forkjoin() -> None:
    graph = generate("random:forkjoin:tasks=19,width=8")
    # fork, a branch, join (the next fork), a branch, join
    assert graph.n == 19 and graph.c == 5
    assert graph.deps["t9"] == tuple(f"t{i}" for i in range(1, 9))


def test_durations() -> None:
    graph = generate("random:layered:tasks=100,dur=lognormal:1,0.5")
    assert len(graph.durations) == 100
    assert len({round(v, 6) for v in graph.durations.values()}) > 50


def test_scale() -> None:
    graph = generate("random:layered:tasks=100000,layers=20")
    assert graph.n == 100_000 and graph.c == 20


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("random:ring:tasks=3", "unknown graph shape 'ring'"),
        ("random:layered:tasks=0", "tasks=0: must be between"),
        ("random:layered:tasks=x", "not a whole number"),
        ("random:layered:tasks=10,colour=red", "unknown option"),
        ("random:chains:tasks=10,p=1.5", "must be in"),
        ("random:layered:tasks", "expected KEY=VALUE"),
        ("random:layered:dur=weird:1", "unknown distribution"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    assert is_generator(spec)
    with pytest.raises(ConfigError, match=message):
        generate(spec)
