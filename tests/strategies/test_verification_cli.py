"""`lmteams ask -c program|gentest|routed` run as a user runs it, and bad settings in a team file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_clean_error, lmteams

TEAM = """
name: coders
models:
  m:
    backend: scripted
    answers: {"capital": "Answer: Paris"}
    default: "```python\\nprint(6 * 7)\\n```"
nodes:
  - {name: a, role: coder}
  - {name: b, role: coder}
  - {name: c, role: reviewer}
consensus:
  strategy: program
  program_retries: 0
"""


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


def test_program_is_the_team_files_strategy(tmp_path: Path, team_file: Path) -> None:
    proc = lmteams("ask", "What is 6 x 7?", "-t", str(team_file), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["consensus"] == "program" and result["answer"] == "42"
    assert [n["node"] for n in result["nodes"]] == ["a", "b"]  # the coders
    assert result["detail"]["coders"] == ["a", "b"]


def test_gentest_and_routed_from_the_command_line(tmp_path: Path, team_file: Path) -> None:
    gentest = lmteams(
        "ask",
        "Write f.\n\nassert 1 == 1",
        "-t",
        str(team_file),
        "-c",
        "gentest",
        "--json",
        cwd=tmp_path,
    )
    assert gentest.returncode == 0, gentest.stderr
    assert json.loads(gentest.stdout)["answer"] == "print(6 * 7)"
    routed = lmteams(
        "ask",
        "What is the capital of France?",
        "-t",
        str(team_file),
        "-c",
        "routed",
        "--json",
        cwd=tmp_path,
    )
    assert routed.returncode == 0, routed.stderr
    result = json.loads(routed.stdout)
    assert result["answer"] == "Paris" and result["detail"]["kind"] == "knowledge"


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("coders: [a, zed]", "consensus.coders: unknown node 'zed'; team has: a, b, c"),
        ("judge_contradiction: sometimes", "consensus.judge_contradiction"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, setting: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TEAM + f"  {setting}\n")
    proc = lmteams("ask", "q", "-t", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, f"{path}: {fragment}")
    assert len(proc.stderr.strip().splitlines()) == 1
