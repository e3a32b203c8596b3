"""A run's workers in a replica group: the role's `balance` policy picks which replica serves
each task's call, so it changes where the work goes (and how long the run takes)."""

from __future__ import annotations

from collections import Counter

import pytest

from lmteams.config import TeamSpec
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import load_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script

from ..scheduling.test_graph import STUDY

PROJECT = next(p for p in STUDY if p.stem == "mathutilities20_p05")


def coders(balance: str | None) -> TeamSpec:
    return TeamSpec.model_validate(
        {
            "models": {"m": {"backend": "scripted"}},
            "defaults": {"model": "m", "max_concurrent": 1},
            "nodes": [{"name": "slow", "role": "coder"}, {"name": "fast", "role": "coder"}],
            "roles": {"coder": {"balance": balance}} if balance else {},
        }
    )


async def served_by(balance: str | None, store: EventStore) -> tuple[Counter[str], str, float]:
    """Who served the run's calls, the run's status and its (virtual) duration."""

    def latency_s(call: ScriptedCall) -> float:  # call.node: the replica that serves
        return 10.0 if call.node == "slow" else 1.0

    served: Counter[str] = Counter()

    def script(call: ScriptedCall) -> str:
        served[call.node or ""] += 1
        return project_script(call)

    backends: dict[str, ModelBackend] = {"m": ScriptedBackend(script, latency_s=latency_s)}
    with VirtualClock() as clock:
        result = await run_project(
            coders(balance),
            load_project(PROJECT),
            store,
            RunSettings(topology="steal", workers=2),
            backends=backends,
        )
        return served, result.status, clock.time()


async def test_the_balance_policy_changes_who_serves_a_run(store: EventStore) -> None:
    own, own_status, _ = await served_by(None, store)
    rotated, rotated_status, rotated_s = await served_by("round_robin", store)
    least, least_status, least_s = await served_by("least_outstanding", store)
    assert own_status == rotated_status == least_status == "done"
    # No group: each worker's calls go to its own node (the steal topology shares the tasks).
    assert set(own) == {"slow", "fast"}
    # round_robin alternates whatever the speed; least_outstanding keeps the slow replica for
    # the moments the fast one is busy.
    assert abs(rotated["slow"] - rotated["fast"]) <= 1
    assert least["slow"] < rotated["slow"] and least["fast"] > least["slow"] * 3
    assert least_s < rotated_s


async def test_routes_of_a_run_name_the_worker_and_the_replica(store: EventStore) -> None:
    await served_by("least_outstanding", store)
    [run] = store.runs()
    routes = store.events(run.run_id, types=["route"])
    assert routes and {e.data["addressed"] for e in routes} <= {"slow", "fast"}
    assert {e.data["policy"] for e in routes} == {"least_outstanding"}
    assert any(e.data["addressed"] == "slow" and e.node == "fast" for e in routes)


@pytest.mark.parametrize("topology", ["preassign", "decentralized"])
async def test_other_topologies_run_with_a_replica_group(store: EventStore, topology: str) -> None:
    backends: dict[str, ModelBackend] = {"m": ScriptedBackend(project_script, latency_s=1.0)}
    with VirtualClock():
        result = await run_project(
            coders("round_robin"),
            load_project(PROJECT),
            store,
            RunSettings(topology=topology, workers=2),
            backends=backends,
        )
    assert result.status == "done", result.tasks
