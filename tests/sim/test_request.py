"""SimulationRequest and AdviceRequest from Python: what `lmteams simulate` / `advise` do."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from lmteams.errors import ConfigError
from lmteams.scheduling.project import ProjectSpec, TaskSpec
from lmteams.scheduling.topologies import POLICIES
from lmteams.sim.request import (
    AdviceRequest,
    SimTopology,
    SimulationRequest,
    recommend,
    simulate,
)

TEAM = """
name: sim
models:
  m: {backend: scripted, default: "ok"}
nodes:
  - {name: writer, role: coder}
  - {name: tester, role: qa}
"""


def test_the_literal_names_every_policy() -> None:
    assert get_args(SimTopology) == tuple(POLICIES)


def test_a_simulation_with_faults_from_python() -> None:
    request = SimulationRequest(
        project="tiny-math",
        workers="1..3",
        topologies="preassign, steal",
        latency="constant:10",
        faults="n1:crash=1; seed=3",
        reps=2,
    )
    assert request.workers == (1, 2, 3) and request.topologies == ("preassign", "steal")
    assert request.runs == 2 * 3 * 2
    seen: list[tuple[str, int, int]] = []
    grid = simulate(request, on_run=lambda top, n, rep, result: seen.append((top, n, rep)))
    assert len(seen) == request.runs
    assert grid.faults == "n1:crash=1; seed=3" and grid.latency == "constant:10"
    assert {(c.topology, c.workers) for c in grid.cells} == {
        (t, n) for t in ("preassign", "steal") for n in (1, 2, 3)
    }
    # n1 crashes on its first call: its task is run again elsewhere, so teams with n1 are slower
    healthy = simulate(request.model_copy(update={"faults": None}))
    slower = {(c.topology, c.workers): c.makespan_s.mean for c in grid.cells}
    baseline = {(c.topology, c.workers): c.makespan_s.mean for c in healthy.cells}
    assert slower[("preassign", 1)] == baseline[("preassign", 1)]  # no n1 in a team of one
    assert slower[("preassign", 2)] > baseline[("preassign", 2)]


def test_lists_are_taken_as_well_as_the_flags_text() -> None:
    request = SimulationRequest(project="tiny-math", workers=[2, 1], topologies=["lead"])
    assert request.workers == (2, 1) and request.topologies == ("lead",)


def test_a_project_spec_and_a_team_file(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    project = ProjectSpec(
        project="roles",
        tasks=[TaskSpec(id="a", role="coder"), TaskSpec(id="b", role="qa", dependencies=["a"])],
    )
    grid = simulate(
        SimulationRequest(
            project=project, team=str(team), workers=[2], reps=1, faults="tester:slow=3"
        )
    )
    assert grid.project == "roles" and all(c.done for c in grid.cells)
    with pytest.raises(ConfigError, match="^--team: the project's tasks need roles or skills"):
        simulate(SimulationRequest(project=project, workers=[2], reps=1))


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"harness": "batch"}, "--harness: unknown harness 'batch'; one of: lmteams, rounds"),
        (
            {"topologies": "steal,mesh"},
            "--topology: unknown topology 'mesh'; one of: "
            "preassign, steal, decentralized, lead, dynamic",
        ),
        ({"topologies": " , "}, "--topology: no topology given"),
        ({"chooser": "best"}, "--chooser: unknown chooser 'best'; one of: ready, first-pending"),
        ({"profiles": "all"}, "--profiles: unknown profiles 'all'; one of: condition, solo"),
        (
            {"balance": "chaos"},
            "--balance: unknown balance 'chaos'; one of: least-loaded, round-robin",
        ),
        ({"workers": "5..x"}, "--workers: expected a range like 1..5"),
        ({"lease_s": 0.0}, "--lease-s: must be a number above 0, not 0.0"),
        ({"lease_s": float("nan")}, "--lease-s: must be a number above 0, not nan"),
        ({"lease_s": 90_000.0}, "--lease-s: at most 86400 s, not 90000"),
        ({"split_size": float("inf")}, "--split-size: must be a number above 0, not inf"),
        ({"split_rate": 2.0}, "--split-rate: Input should be less than or equal to 1"),
        ({"reps": 0}, "--reps: Input should be greater than or equal to 1"),
        ({"wrokers": 3}, "--wrokers: unknown field"),
    ],
)
def test_bad_values_are_the_flags_error_line(values: dict[str, object], line: str) -> None:
    with pytest.raises(ConfigError) as info:
        SimulationRequest(project="tiny-math", **values)  # type: ignore[arg-type]
    assert str(info.value).startswith(line)
    assert "\n" not in str(info.value)


def test_model_validate_names_the_flag_too() -> None:
    with pytest.raises(ConfigError, match="^--harness: unknown harness"):
        SimulationRequest.model_validate({"project": "tiny-math", "harness": "x"})


def test_faults_naming_a_node_no_team_has() -> None:
    with pytest.raises(ConfigError, match="^--faults: zed: unknown node 'zed'"):
        simulate(SimulationRequest(project="tiny-math", workers=[2], reps=1, faults="zed:crash=1"))
    with pytest.raises(ConfigError, match="^--faults: "):
        simulate(SimulationRequest(project="tiny-math", reps=1, faults="a:explode=yes"))


def test_advice_from_python() -> None:
    advice = recommend(
        AdviceRequest(
            project="tiny-math",
            workers="1..3",
            reps=2,
            latency="constant:10",
            price="input=3,output=15",
        )
    )
    assert advice.recommended.workers in (1, 2, 3)
    assert {o.topology for o in advice.options} <= {"preassign", "steal", "decentralized", "lead"}
    with pytest.raises(ConfigError, match="^--price: give --price"):
        recommend(AdviceRequest(project="tiny-math", workers=[1], reps=1))
    # a project that is not there is the first thing wrong, not the missing price
    with pytest.raises(ConfigError, match="nope.json: file not found"):
        recommend(AdviceRequest(project="nope.json", workers=[1], reps=1))
    with pytest.raises(
        ConfigError, match="^--deadline: Input should be greater than or equal to 0"
    ):
        AdviceRequest(project="tiny-math", deadline_s=-1)
