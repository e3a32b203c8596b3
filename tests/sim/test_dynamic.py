from __future__ import annotations

import pytest

from lmteams.errors import ConfigError
from lmteams.faults.config import FaultsSpec
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.project import load_project
from lmteams.sim.dynamic import DynamicEngine
from lmteams.sim.engine import simulate
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimSettings, SimTeam

from ..scheduling.test_graph import STUDY


def inputs(graph: TaskGraph, faults: object = None) -> SimInputs:
    return SimInputs(graph, parse_latency("lognormal:10,0.5"), faults=faults)  # type: ignore[arg-type]


_QUIET = {"split_rate": 0.0, "add_rate": 0.0, "dep_rate": 0.0}


def study(stem: str) -> TaskGraph:
    return load_project(next(p for p in STUDY if p.stem == stem)).graph()


def sized() -> TaskGraph:
    # two long tasks among short ones: the ones a node may split
    tasks = [("a", []), ("b", ["a"]), ("c", []), ("d", ["c"]), ("e", ["b", "d"])]
    return TaskGraph.build(tasks, {"a": 30.0, "b": 5.0, "c": 30.0, "d": 5.0, "e": 5.0})


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_a_study_project_finishes_under_dynamic(workers: int) -> None:
    graph = study("svgutils_p05")
    result = simulate(SimSettings(topology="dynamic", workers=workers, seed=3), inputs(graph))
    assert result.status == "done"
    metrics = result.metrics
    assert metrics.topology == "dynamic"
    assert metrics.tasks_done == metrics.tasks >= graph.n  # follow-up tasks may be added
    assert metrics.makespan_s > 0


def test_edits_are_seeded_counted_and_validated() -> None:
    settings = SimSettings(topology="dynamic", workers=3, seed=1, split_rate=1.0, dep_rate=0.5)
    engine = DynamicEngine(settings, inputs(sized()), SimTeam.numbered(3))
    result = engine.run()
    assert result.status == "done"
    policy = engine.dynamic
    # both long tasks were split (each into two halves), and the parts all ran
    assert sorted(policy.split_from.values()) == ["a", "a", "c", "c"]
    assert "a" not in policy.graph.ids and "c" not in policy.graph.ids
    assert engine.graph.find_cycle() is None
    notes = engine.rec.notes
    assert notes.get("graph_edit", 0) == policy.edits >= 2
    assert notes.get("edit_refused", 0) == policy.edits_refused > 0  # random edges get refused
    second = DynamicEngine(settings, inputs(sized()), SimTeam.numbered(3))
    again = second.run()
    assert again.metrics.makespan_s == result.metrics.makespan_s
    assert second.rec.notes == notes


def test_with_no_edits_it_matches_decentralized() -> None:
    graph = study("dataanalysis_p05")
    dynamic = simulate(SimSettings(topology="dynamic", workers=3, **_QUIET), inputs(graph))
    plain = simulate(SimSettings(topology="decentralized", workers=3), inputs(graph))
    assert dynamic.metrics.makespan_s == pytest.approx(plain.metrics.makespan_s)


def test_a_hung_node_loses_its_claim_at_the_lease() -> None:
    graph = study("mathutilities20_p05")
    faults = FaultsSpec.model_validate({"nodes": {"n0": {"crash_after": 1, "crash_mode": "hang"}}})
    settings = SimSettings(topology="dynamic", workers=3, lease_s=120.0, **_QUIET)
    engine = DynamicEngine(settings, inputs(graph, faults), SimTeam.numbered(3))
    result = engine.run()
    assert result.status == "done"
    assert engine.rec.notes.get("lease_expired", 0) >= 1
    plain = settings.model_copy(update={"topology": "decentralized"})
    stuck = simulate(plain, inputs(graph, faults))
    assert stuck.status != "done"  # without leases the hung claim is never released


@pytest.mark.parametrize(
    ("field", "value"),
    [("lease_s", 0), ("split_rate", 1.5), ("add_rate", -0.1), ("dep_rate", 2), ("split_size", 0)],
)
def test_bad_dynamic_settings_are_refused(field: str, value: float) -> None:
    with pytest.raises((ValueError, ConfigError)):
        SimSettings(topology="dynamic", **{field: value})
