"""`lmteams run` and `lmteams simulate` under --topology dynamic, as a user runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..scheduling.test_graph import STUDY
from .test_cli import assert_clean_error, lmteams

ROOT = Path(__file__).resolve().parents[2]
TEAM = """
name: scripted-editors
models:
  m: {backend: scripted, script: "tests.coordinator.test_dynamic:cli_editor", latency_s: 0.01}
defaults: {model: m, max_concurrent: 1}
nodes: [{name: n0}, {name: n1}]
"""


def test_run_dynamic_edits_the_graph_and_reports_it(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = lmteams(
        "run", "tiny-math", "-T", "dynamic", "--team", str(team), "-w", "2", "--json",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    output = json.loads(proc.stdout)
    result = output["result"]
    assert result["status"] == "done"
    assert output["metrics"]["tasks_done"] == output["metrics"]["tasks"] == 7
    assert {"double-code", "double-notes", "report"} <= set(result["tasks"])
    assert "double" not in result["tasks"]
    shown = lmteams("metrics", result["run_id"], "--json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["tasks_done"] == 7


def test_simulate_dynamic_on_a_study_project(tmp_path: Path) -> None:
    path = next(p for p in STUDY if p.stem == "svgutils_p05")
    proc = lmteams(
        "simulate", str(path), "-T", "decentralized,dynamic", "-w", "1,3", "-r", "2",
        "--split-size", "1", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cells = {(c["topology"], c["workers"]): c for c in json.loads(proc.stdout)["cells"]}
    dynamic = cells[("dynamic", 3)]
    assert dynamic["done"] == 2
    assert dynamic["speedup"]["mean"] > 0 and dynamic["makespan_s"]["mean"] > 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "tiny-math", "-T", "dynamic", "--lease-s", "0"], "--lease-s"),
        (["run", "tiny-math", "-T", "dynamic", "--lease-s", "-3"], "--lease-s"),
        (["simulate", "tiny-math", "-T", "dynamic", "--lease-s", "0"], "--lease-s"),
        (["simulate", "tiny-math", "-T", "dynamic", "--lease-s", "nan"], "--lease-s"),
        (["simulate", "tiny-math", "-T", "dynamic", "--split-rate", "2"], "--split-rate"),
        (["simulate", "tiny-math", "-T", "dynamic", "--add-rate", "-1"], "--add-rate"),
        (["simulate", "tiny-math", "-T", "dynamic", "--dep-rate", "1.5"], "--dep-rate"),
        (["simulate", "tiny-math", "-T", "dynamic", "--split-size", "0"], "--split-size"),
        (["simulate", "tiny-math", "-T", "dynamc"], "unknown topology 'dynamc'"),
    ],
)
def test_bad_dynamic_flags_are_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    proc = lmteams(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, fragment)
    assert len(proc.stderr.strip().splitlines()) == 1
