"""Replica groups in the simulator: the run's balancing policies decide which replica serves a
task's call, so the simulator predicts a run of a team with `roles.<role>.balance`."""

from __future__ import annotations

import pytest

from lmteams.analysis.metrics import RunMetrics
from lmteams.config import TeamSpec
from lmteams.errors import ConfigError
from lmteams.sim.replicas import SimRouter
from lmteams.sim.request import SimulationRequest, simulate
from lmteams.state.store import EventStore

from ..coordinator.test_replica_runs import PROJECT, coders, served_by

# What tests/coordinator/test_replica_runs.py's scripted models take: 10 s on "slow", 1 s on "fast".
LATENCY = "constant:1;slow=constant:10"


def simulated(balance: str | None) -> RunMetrics:
    """The simulated run of the replica test's team, project and latencies (two workers)."""
    request = SimulationRequest(
        project=str(PROJECT),
        team=coders(balance),
        topologies="steal",
        workers=[2],
        latency=LATENCY,
        reps=1,
    )
    return simulate(request).examples["steal/2"]


@pytest.mark.parametrize(
    "balance",
    [None, "round_robin", "least_outstanding", "power_of_two", "weighted_throughput"],
)
async def test_the_simulator_predicts_who_serves_a_replica_run(
    store: EventStore, balance: str | None
) -> None:
    served, status, seconds = await served_by(balance, store)
    assert status == "done"
    predicted = simulated(balance)
    assert {n.node: n.calls for n in predicted.nodes if n.calls} == dict(served)
    assert predicted.makespan_s == pytest.approx(seconds)


def test_the_policy_changes_the_simulated_makespan() -> None:
    def makespan(balance: str | None) -> float:
        return simulated(balance).makespan_s

    # each worker on its own node: the slow one holds up half the tasks
    assert makespan(None) == pytest.approx(100.0)
    assert makespan("least_outstanding") < makespan("round_robin")


def team(max_concurrent: int, *, balance: str | None = "round_robin") -> TeamSpec:
    return TeamSpec.model_validate(
        {
            "models": {"m": {"backend": "scripted"}},
            "defaults": {"model": "m", "max_concurrent": max_concurrent},
            "nodes": [{"name": "a", "role": "coder"}, {"name": "b", "role": "coder"}],
            "roles": {"coder": {"balance": balance}} if balance else {},
        }
    )


def test_a_full_replica_makes_a_call_wait_for_a_slot() -> None:
    router = SimRouter.of(team(1), seed=0)
    assert router is not None
    # round robin: a, b, then a again while a's first call still runs
    first, second, third = (router.choose("a", 0.0) for _ in range(3))
    assert (first, second, third) == ("a", "b", "a")
    assert router.place("a", 0.0, 5.0, "ok") == 0.0
    assert router.place("b", 0.0, 5.0, "ok") == 0.0
    assert router.place("a", 1.0, 5.0, "ok") == 5.0  # waits for a's first call
    two_slots = SimRouter.of(team(2), seed=0)
    assert two_slots is not None
    assert two_slots.place("a", 0.0, 5.0, "ok") == 0.0
    assert two_slots.place("a", 1.0, 5.0, "ok") == 1.0  # a second slot is free
    assert two_slots.place("a", 2.0, 5.0, "ok") == 5.0


def test_the_books_see_calls_end_in_time_order() -> None:
    router = SimRouter.of(team(1, balance="least_outstanding"), seed=0)
    assert router is not None
    assert router.choose("a", 0.0) == "a"
    router.place("a", 0.0, 3.0, "ok")
    # a is busy until 3: the next call goes to b
    assert router.choose("a", 1.0) == "b"
    router.place("b", 1.0, 10.0, "ok")
    # at 3, a's call has ended and b's has not
    assert router.choose("b", 3.0) == "a"
    books = router.balancer.replicas
    assert (books["a"].outstanding, books["a"].completed) == (0, 1)
    assert (books["b"].outstanding, books["b"].completed) == (1, 0)
    assert books["a"].mean_latency_s == pytest.approx(3.0)


def test_a_team_without_a_replica_group_has_no_router() -> None:
    assert SimRouter.of(team(1, balance=None), seed=0) is None
    assert SimRouter.of(None, seed=0) is None


def test_the_rounds_harness_refuses_a_replica_group() -> None:
    with pytest.raises(ConfigError, match="^--harness: the rounds harness does not simulate"):
        simulate(
            SimulationRequest(
                project=str(PROJECT),
                team=coders("round_robin"),
                topologies="steal",
                workers=[2],
                harness="rounds",
                reps=1,
            )
        )
