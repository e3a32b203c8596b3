"""`lmteams simulate`, `calibrate` and `advise` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..scheduling.test_graph import STUDY
from ..sim.study_data import write_study
from .test_cli import assert_clean_error, lmteams

ROLES_PROJECT = """
project: roles
tasks:
  - {id: a, role: coder}
  - {id: b, role: tester, dependencies: [a]}
"""
TEAM = """
name: mixed
models:
  fast: {backend: scripted}
  slow: {backend: scripted}
defaults: {model: fast}
nodes:
  - {name: c1, role: coder}
  - {name: t1, role: tester, model: slow}
  - {name: boss, role: lead}
"""


def test_simulate_a_study_project(tmp_path: Path) -> None:
    path = next(p for p in STUDY if p.stem == "svgutils_p05")
    proc = lmteams(
        "simulate", str(path), "-w", "1..3", "-T", "preassign,steal,decentralized,lead",
        "-r", "3", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["tasks"], data["critical_path"], data["p"]) == (20, 10, 0.5)
    cells = {(c["topology"], c["workers"]): c for c in data["cells"]}
    assert len(cells) == 12
    for cell in cells.values():
        assert cell["done"] == 3
        assert cell["speedup"]["mean"] <= cell["workers"] + 1e-6
        assert cell["bound_ratio"]["mean"] <= 1.0
        assert cell["makespan_s"]["low"] <= cell["makespan_s"]["mean"] <= cell["makespan_s"]["high"]
    human = lmteams("simulate", str(path), "-w", "1,2", "-r", "2", cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "speedup" in human.stdout and "Amdahl" in human.stdout and "events in" in human.stdout


def test_simulate_writes_a_report(tmp_path: Path) -> None:
    proc = lmteams(
        "simulate", "random:chains:tasks=40,p=0.75", "-w", "1..4", "-T", "steal,preassign",
        "--latency", "lognormal:8,0.5;n1=constant:30", "--faults", "n2:crash=3", "-o", "out",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert (out / "simulation.json").exists() and (out / "report.html").exists()
    assert (out / "gantt-steal.png").exists() and (out / "speedup.png").exists()
    again = lmteams("report", "out", "-o", "again", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["report"].endswith("report.html")


def test_simulate_with_a_team_and_roles(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(ROLES_PROJECT)
    (tmp_path / "team.yaml").write_text(TEAM)
    proc = lmteams(
        "simulate", "p.yaml", "--team", "team.yaml", "-w", "1..4", "-T", "steal,lead",
        "--latency", "constant:1;model:slow=constant:5", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cells = {(c["topology"], c["workers"]): c for c in json.loads(proc.stdout)["cells"]}
    # the tester (slow model) must run b: 1 s + 5 s, whatever the team size
    assert cells[("steal", 4)]["makespan_s"]["mean"] == 6.0
    missing = lmteams("simulate", "p.yaml", cwd=tmp_path)
    assert_clean_error(missing, "--team", "roles or skills")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["tiny-math", "--latency", "gamma:1"], ["--latency", "unknown distribution"]),
        (["tiny-math", "-T", "mesh"], ["--topology", "unknown topology 'mesh'"]),
        (["tiny-math", "-w", "0..3"], ["--workers"]),
        (["tiny-math", "--faults", "n7:crash=1"], ["--faults", "unknown node 'n7'"]),
        (["tiny-math", "--faults", "n1:melt=1"], ["--faults", "unknown effect"]),
        (["tiny-math", "--harness", "bsp"], ["--harness"]),
        (["tiny-math", "--chooser", "smart"], ["--chooser"]),
        (["random:star:tasks=5"], ["PROJECT", "unknown graph shape"]),
        (["no-such-project.yaml"], ["file not found"]),
        (["tiny-math", "--tokens", "speed=3"], ["--tokens"]),
    ],
)
def test_simulate_bad_input(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    assert_clean_error(lmteams("simulate", *args, cwd=tmp_path), *fragments)


def test_calibrate_then_simulate_with_it(tmp_path: Path) -> None:
    events = write_study(tmp_path / "data")
    proc = lmteams("calibrate", str(events), "-o", "cal.json", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [m["model"] for m in data["models"]] == ["model-a", "model-b", "(pooled)"]
    assert data["conditions"]
    human = lmteams("calibrate", str(events), "-o", "cal2.json", cwd=tmp_path)
    assert "per model" in human.stdout and "calibrated:cal2.json" in human.stdout
    sim = lmteams(
        "simulate", "tiny-math", "--latency", "calibrated:cal.json:model-a", "--tokens",
        "calibrated:cal.json:model-a", "--harness", "rounds", "-w", "1,2", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    cells = json.loads(sim.stdout)["cells"]
    assert all(c["done"] == c["reps"] for c in cells)
    assert_clean_error(lmteams("calibrate", "missing.parquet", cwd=tmp_path), "file not found")
    assert_clean_error(
        lmteams("simulate", "tiny-math", "--latency", "calibrated:cal.json:gpt", cwd=tmp_path),
        "no model 'gpt'",
    )


def test_advise(tmp_path: Path) -> None:
    path = next(p for p in STUDY if p.stem == "dataanalysis_p09")
    proc = lmteams(
        "advise", str(path), "--latency", "lognormal:12,0.5", "--price", "input=3,output=15",
        "--max-workers", "6", "-r", "3", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    pick = data["recommended"]
    assert pick["topology"] in {"preassign", "steal", "decentralized", "lead"}
    assert 1 <= pick["workers"] <= 6 and pick["cost"] > 0 and pick["speedup"] > 1
    assert any("critical path" in line for line in data["reasoning"])
    human = lmteams(
        "advise", str(path), "--price", "input=3,output=15,node_hour=2", "--max-workers", "4",
        "-r", "2", cwd=tmp_path,
    )  # fmt: skip
    assert human.returncode == 0, human.stderr
    assert "recommended:" in human.stdout
    assert_clean_error(lmteams("advise", str(path), cwd=tmp_path), "--price")
    assert_clean_error(
        lmteams("advise", str(path), "--price", "input=abc", cwd=tmp_path),
        "--price",
        "not a number",
    )
