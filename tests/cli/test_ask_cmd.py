"""`lmteams ask --consensus ...`, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_clean_error, lmteams

TEAM = """
name: split
models:
  m: {backend: scripted, script: "tests.cli.test_ask_cmd:split"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
  - {name: c, role: responder}
  - {name: d, role: judge}
"""


def split(call):  # type: ignore[no-untyped-def]
    if "JSON" in call.prompt:
        return '{"choice": 0, "answer": "5"}'
    return {"a": "Answer: 4", "b": "Answer: 4", "c": "Answer: 3", "d": "Answer: 3"}[call.node]


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


def env() -> dict[str, str]:
    return {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@pytest.mark.parametrize(
    ("args", "answer", "decided"),
    [
        (["-c", "quorum"], None, "no consensus: an answer needs 3 of 4"),
        (["-c", "judge"], "5", "judge d gave its own answer"),
        (["-c", "majority"], "4", "tie broken by team order"),
        (["-c", "debate", "--rounds", "1"], "4", "tie broken by team order"),
    ],
)
def test_consensus_json_is_one_object_with_cost(
    tmp_path: Path, team_file: Path, args: list[str], answer: str | None, decided: str
) -> None:
    proc = lmteams("ask", "q", "-t", str(team_file), *args, "--json", cwd=tmp_path, env=env())
    assert proc.returncode == (0 if answer else 3), proc.stderr  # 3: no consensus
    result = json.loads(proc.stdout)
    assert result["answer"] == answer and result["decided_by"].startswith(decided)
    assert result["calls"] >= 3 and result["prompt_tokens"] > 0 and "wall_s" in result


def test_human_output_shows_no_consensus_and_cost(tmp_path: Path, team_file: Path) -> None:
    proc = lmteams("ask", "q", "-t", str(team_file), "-c", "quorum", cwd=tmp_path, env=env())
    assert proc.returncode == 3, proc.stderr
    assert "No consensus" in proc.stdout and "4 x2" in proc.stdout
    assert "quorum · 4 calls" in proc.stdout
    judged = lmteams("ask", "q", "-t", str(team_file), "-c", "judge", cwd=tmp_path, env=env())
    assert "judge d saw (shuffled)" in judged.stdout and "Answer: 5" in judged.stdout


def test_env_var_and_bad_flags(tmp_path: Path, team_file: Path) -> None:
    proc = lmteams(
        "ask",
        "q",
        "-t",
        str(team_file),
        "--json",
        cwd=tmp_path,
        env={**env(), "LMTEAMS_CONSENSUS": "quorum"},
    )
    assert json.loads(proc.stdout)["consensus"] == "quorum"
    assert_clean_error(
        lmteams("ask", "q", "-t", str(team_file), "-c", "vote", cwd=tmp_path, env=env()),
        "--consensus: unknown consensus strategy 'vote'",
    )
    assert_clean_error(
        lmteams(
            "ask",
            "q",
            "-t",
            str(team_file),
            "-c",
            "quorum",
            "--faults",
            "2",
            cwd=tmp_path,
            env=env(),
        ),
        "n >= 3f+1 = 7",
    )
    assert_clean_error(
        lmteams("ask", "q", "-t", str(team_file), "--similarity", "fuzzy", cwd=tmp_path, env=env()),
        "--similarity",
    )
    assert_clean_error(
        lmteams(
            "ask", "q", "-t", str(team_file), "--stop-confidence", "2", cwd=tmp_path, env=env()
        ),
        "--stop-confidence",
    )


def test_quorum_under_injected_byzantine_nodes(tmp_path: Path) -> None:
    team = tmp_path / "four.yaml"
    team.write_text(
        "models:\n  m: {backend: scripted, answers: {'2 + 2': 'Answer: 4'}}\n"
        "nodes: [{name: a}, {name: b}, {name: c}, {name: d}]\n"
    )
    one = lmteams(
        "ask",
        "What is 2 + 2?",
        "-t",
        str(team),
        "-c",
        "quorum",
        "--json",
        "--inject",
        "a:byzantine=1",
        cwd=tmp_path,
    )
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["answer"] == "4"  # f = 1 faulty of 4: still right
    two = lmteams(
        "ask",
        "What is 2 + 2?",
        "-t",
        str(team),
        "-c",
        "quorum",
        "--json",
        "--inject",
        "a:byzantine=1;b:byzantine=1",
        cwd=tmp_path,
    )
    result = json.loads(two.stdout)
    assert two.returncode == 3, two.stderr
    assert result["answer"] is None and result["decided_by"].startswith("no consensus")
