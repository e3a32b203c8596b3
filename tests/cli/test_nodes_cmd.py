"""`lmteams nodes`: roles, models, weights and estimated reliability."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import assert_clean_error, lmteams

TEAM = """
name: sim
models:
  m: {backend: scripted, answers: {"q1": "Answer: 1", "q2": "Answer: 2"}, default: "Answer: 0"}
nodes:
  - {name: a, role: solver, weight: 2}
  - {name: b, role: critic}
  - {name: c, role: judge, temperature: 0}
"""


def test_nodes_before_and_after_learning(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    before = lmteams("nodes", "-t", str(team), "--json", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    data = json.loads(before.stdout)
    assert [(n["node"], n["role"], n["weight"]) for n in data["nodes"]] == [
        ("a", "solver", 2.0),
        ("b", "critic", 1.0),
        ("c", "judge", 1.0),
    ]
    assert all(n["reliability"] is None for n in data["nodes"]) and data["meta_model"] is None
    assert not (tmp_path / ".lmteams").exists()  # listing a team makes no log
    assert_clean_error(
        lmteams("nodes", "-t", str(team), "--db", "typo.db", cwd=tmp_path),
        "--db: no event log at typo.db",
    )
    for question in ("q1", "q2"):
        ask = lmteams("ask", question, "-t", str(team), "-c", "learned", "--json", cwd=tmp_path)
        assert ask.returncode == 0, ask.stderr
        assert json.loads(ask.stdout)["detail"]["method"] == "dawid-skene"
    after = json.loads(lmteams("nodes", "-t", str(team), "--json", cwd=tmp_path).stdout)
    assert all(0.0 < n["reliability"] < 1.0 for n in after["nodes"])
    assert all(n["answered"] == 2 for n in after["nodes"])
    table = lmteams("nodes", "-t", str(team), cwd=tmp_path)
    assert table.returncode == 0 and "reliability" in table.stdout and "judge" in table.stdout


def test_nodes_with_a_bad_team_file(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM.replace("weight: 2", "weight: -2"))
    assert_clean_error(lmteams("nodes", "-t", str(team), cwd=tmp_path), "nodes[0].weight")
