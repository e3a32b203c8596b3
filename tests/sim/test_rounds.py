from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.project import load_project
from lmteams.sim.calibrate import calibrate
from lmteams.sim.engine import simulate
from lmteams.sim.latency import calibrated_latency, parse_latency
from lmteams.sim.rounds import pick_profiles
from lmteams.sim.setup import SimInputs, SimSettings, SimTeam

from ..scheduling.test_graph import STUDY
from .study_data import write_study


def rounds(topology: str, workers: int, **extra: object) -> SimSettings:
    return SimSettings(topology=topology, workers=workers, harness="rounds", **extra)  # type: ignore[arg-type]


def test_a_call_carries_several_tasks_and_rounds_wait_for_the_slowest() -> None:
    graph = TaskGraph.build([(f"t{i}", []) for i in range(6)])
    inputs = SimInputs(graph, parse_latency("constant:1"))
    one = simulate(rounds("preassign", 1, tasks_per_call=6), inputs)
    assert one.metrics.makespan_s == 6.0 and one.metrics.calls == 1  # one reply, six files
    capped = simulate(rounds("preassign", 1, tasks_per_call=4), inputs)
    assert capped.metrics.calls == 2 and capped.metrics.makespan_s == 6.0
    slow = SimInputs(graph, parse_latency("constant:1;n1=constant:3"))
    two = simulate(rounds("preassign", 2, tasks_per_call=6), slow)
    assert two.metrics.makespan_s == 9.0  # the barrier waits for n1's three tasks at 3 s


def test_chains_continue_within_a_call_but_handoffs_wait_a_round() -> None:
    # a -> b on one node is one call; a -> c on another node waits for the next round
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", [])])
    inputs = SimInputs(graph, parse_latency("constant:1"))
    result = simulate(rounds("preassign", 2, tasks_per_call=10, idle_calls=False), inputs)
    spans = {s.task: s for s in result.metrics.spans}
    assert spans["b"].node == spans["a"].node
    assert spans["c"].start >= spans["a"].end or spans["c"].node == spans["a"].node
    assert result.metrics.rounds >= 1 and result.status == "done"


def test_round_overhead_and_idle_calls() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"])])
    inputs = SimInputs(graph, parse_latency("constant:1"))
    busy_only = simulate(
        rounds("preassign", 3, tasks_per_call=1, idle_calls=False, round_overhead_s=0.5), inputs
    )
    everyone = simulate(rounds("preassign", 3, tasks_per_call=1, round_overhead_s=0.5), inputs)
    assert busy_only.metrics.makespan_s == everyone.metrics.makespan_s == 3.0
    assert everyone.metrics.calls > busy_only.metrics.calls


@pytest.mark.parametrize("topology", ["preassign", "steal", "decentralized", "lead"])
@pytest.mark.parametrize("path", STUDY[:3], ids=lambda p: p.stem)
def test_every_topology_finishes_under_rounds(topology: str, path: Path) -> None:
    graph = load_project(path).graph()
    for workers in (1, 3, 5):
        result = simulate(
            rounds(topology, workers, tasks_per_call=3),
            SimInputs(graph, parse_latency("lognormal:5,0.5")),
        )
        assert result.status == "done", (topology, workers)
        assert result.metrics.makespan_s >= (result.metrics.lower_bound_s or 0) - 1e-6


def test_claims_collide_on_a_shared_snapshot() -> None:
    graph = TaskGraph.build([(f"t{i}", []) for i in range(4)])
    result = simulate(
        rounds("decentralized", 4, tasks_per_call=1, refusal=0.0),
        SimInputs(graph, parse_latency("constant:1")),
    )
    assert result.status == "done"
    assert result.metrics.claims_refused > 0  # four nodes pick from the same four tasks


def test_calibrated_profiles(tmp_path: Path) -> None:
    calibration = calibrate(write_study(tmp_path / "data"))
    model = calibration.models["model-a"]
    settings = rounds("preassign", 2)
    team = pick_profiles(model.call_profiles, settings, 2, "suite_p05")
    assert all(p.workers == 2 and p.mode == "assigned" for run in team for p in run)
    solo = pick_profiles(
        model.call_profiles, settings.model_copy(update={"profiles": "solo"}), 2, None
    )
    assert all(p.workers == 1 for run in solo for p in run)
    claimed = pick_profiles(model.call_profiles, rounds("decentralized", 1), 1, None)
    assert all(p.mode == "claimed" for run in claimed for p in run)
    graph = TaskGraph.build([(f"t{i}", []) for i in range(11)])
    inputs = SimInputs(graph, calibrated_latency(calibration, "model-a"), project="suite_p05")
    result = simulate(rounds("preassign", 1, profiles="solo"), inputs, SimTeam.numbered(1))
    # the observed one-agent run: 5 + 5 + 1 files; 2 s + 3 s per file, tests 0.5 s per round
    assert result.metrics.calls == 3
    assert result.metrics.makespan_s == pytest.approx(17 + 17 + 5 + 3 * 0.5, rel=0.01)


def test_condition_profiles_replay_a_team_round_by_round(tmp_path: Path) -> None:
    calibration = calibrate(write_study(tmp_path / "data"))
    graph = TaskGraph.build([(f"t{i}", []) for i in range(11)])
    inputs = SimInputs(graph, calibrated_latency(calibration, "model-a"), project="suite_p05")
    result = simulate(rounds("preassign", 2, profiles="condition"), inputs, SimTeam.numbered(2))
    # the observed two-agent run: 5 + 5 files in round 1 (17 s each), then 1 (5 s)
    assert result.status == "done"
    assert result.metrics.makespan_s == pytest.approx(17 + 5 + 2 * 0.5, rel=0.01)
