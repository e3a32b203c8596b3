"""`lmteams demo` as a user runs it: progress lines, the side-by-side table, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import assert_clean_error, lmteams

TEAM = """
name: pair
models:
  m: {backend: scripted, answers: {"347": "Answer: 29933"}, default: "Answer: 0"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
"""


def write(tmp_path: Path) -> tuple[Path, Path]:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "What is 347 * 89?", "answer": "29933"}\n')
    return team, questions


def test_demo_prints_progress_lines_then_each_answer_beside_the_team(tmp_path: Path) -> None:
    team, questions = write(tmp_path)
    proc = lmteams("demo", "-t", str(team), "-q", str(questions), "-c", "majority", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[1/1] a alone: '29933' (right)"  # plain lines: stdout is not a terminal
    assert "[1/1] team (majority): '29933' (right)" in lines
    assert "right answers: a 1/1, b 1/1; team (majority) 1/1" in proc.stdout


def test_demo_takes_the_strategy_from_the_environment_as_ask_does(tmp_path: Path) -> None:
    team, questions = write(tmp_path)
    env = {"LMTEAMS_CONSENSUS": "plurality"}
    proc = lmteams("demo", "-t", str(team), "-q", str(questions), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "team (plurality) 1/1" in proc.stdout


def test_demo_json(tmp_path: Path) -> None:
    team, questions = write(tmp_path)
    proc = lmteams("demo", "-t", str(team), "-q", str(questions), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["items"][0]["team"]["correct"] is True
    assert [m["who"] for m in data["items"][0]["members"]] == ["a", "b"]


def test_demo_bad_input_is_one_line(tmp_path: Path) -> None:
    team, questions = write(tmp_path)
    assert_clean_error(
        lmteams("demo", "-t", str(team), "-q", str(tmp_path / "none.jsonl"), cwd=tmp_path),
        "none.jsonl",
    )
    assert_clean_error(
        lmteams("demo", "-t", str(team), "-q", str(questions), "-c", "best", cwd=tmp_path),
        "--consensus",
    )
    questions.write_text('{"question": "no answer field"}\n')
    assert_clean_error(
        lmteams("demo", "-t", str(team), "-q", str(questions), cwd=tmp_path), "q.jsonl"
    )
