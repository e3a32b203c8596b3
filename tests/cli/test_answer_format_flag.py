"""`--answer-format text|json` on `lmteams ask` and `lmteams eval`: it overrides the team
file's ``consensus.answer_format``, and a bad value is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_ask_cmd import env
from tests.cli.test_cli import assert_clean_error, lmteams

TEAM = """
models:
  m: {backend: scripted, script: "tests.cli.test_answer_format_flag:reply"}
nodes: [{name: a}, {name: b}, {name: c}]
"""


def reply(call):  # type: ignore[no-untyped-def]
    # a structured first answer is asked for with "Reply with JSON only"; it says 5, text says 4
    if "JSON" in call.prompt:
        return '{"answer": 5}'
    return "Answer: 4"


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    (tmp_path / "team.yaml").write_text(TEAM)
    return tmp_path / "team.yaml"


@pytest.mark.parametrize(("flag", "answer"), [([], "4"), (["--answer-format", "json"], "5")])
def test_ask_flag_reaches_the_setting(
    tmp_path: Path, team_file: Path, flag: list[str], answer: str
) -> None:
    proc = lmteams(
        "ask", "What is 2 + 3?", "-t", str(team_file), *flag, "--json", cwd=tmp_path, env=env()
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"] == answer


def test_ask_flag_overrides_the_team_file(tmp_path: Path) -> None:
    team = tmp_path / "json-team.yaml"
    team.write_text(TEAM + "consensus: {answer_format: json}\n")
    args = ("ask", "What is 2 + 3?", "-t", str(team), "--json")
    file_only = lmteams(*args, cwd=tmp_path, env=env())
    flagged = lmteams(*args, "--answer-format", "text", cwd=tmp_path, env=env())
    assert file_only.returncode == 0 and flagged.returncode == 0, flagged.stderr
    assert json.loads(file_only.stdout)["answer"] == "5"
    assert json.loads(flagged.stdout)["answer"] == "4"


def test_eval_flag_reaches_the_setting(tmp_path: Path, team_file: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 3?", "answer": "5"}) + "\n")
    scores = {}
    for fmt in ("text", "json"):
        proc = lmteams(
            "eval", str(data), "-t", str(team_file), "-c", "majority", "--answer-format", fmt,
            "--json", cwd=tmp_path, env=env(),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        scores[fmt] = {s["strategy"]: s["correct"] for s in report["scores"]}
    assert scores["text"]["majority"] == 0 and scores["json"]["majority"] == 1


@pytest.mark.parametrize("command", ["ask", "eval"])
def test_bad_value_is_one_line(tmp_path: Path, team_file: Path, command: str) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "q", "answer": "1"}) + "\n")
    target = "q" if command == "ask" else str(data)
    proc = lmteams(
        command, target, "-t", str(team_file), "--answer-format", "yaml", cwd=tmp_path, env=env()
    )
    assert_clean_error(proc, "--answer-format", "'text' or 'json'")
    assert proc.returncode == 2
