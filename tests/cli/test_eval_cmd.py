"""`lmteams eval`, `eval-plot` and `dataset`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_clean_error, lmteams

TEAM = """
name: scripted
models:
  m: {backend: scripted, script: "tests.cli.test_eval_cmd:arithmetic"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
  - {name: c, role: responder}
"""


def arithmetic(call):  # type: ignore[no-untyped-def]
    """Right on sums, wrong on products (so strategies have something to get wrong)."""
    import re

    if "JSON" in call.prompt:
        return '{"choice": 1, "answer": ""}'
    match = re.search(r"What is (\d+) ([+\-×]) (\d+)", call.prompt)
    if not match:
        return "Answer: 0"
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    value = a + b if op == "+" else a - b if op == "-" else a * b + 1
    return f"Answer: {value}"


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


def env() -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    return {"PYTHONPATH": str(root)}


def test_dataset_then_eval_then_plot(tmp_path: Path, team_file: Path) -> None:
    gen = lmteams("dataset", "-k", "arithmetic", "-n", "12", "-o", "d.jsonl", cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert len(lines) == 12 and all(json.loads(line)["kind"] == "arithmetic" for line in lines)

    proc = lmteams(
        "eval",
        "d.jsonl",
        "-t",
        str(team_file),
        "-c",
        "majority,judge,adaptive",
        "--json",
        cwd=tmp_path,
        env=env(),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # one object
    # not a terminal: plain progress lines on stderr, the last one at the end
    assert proc.stderr.splitlines()[-1].startswith("evaluating: 48/48 answers, ")
    assert [s["strategy"] for s in report["scores"]] == ["greedy", "majority", "judge", "adaptive"]
    products = sum("×" in json.loads(line)["question"] for line in lines)
    for score in report["scores"]:
        assert score["questions"] == 12
        assert score["correct"] == 12 - products
        assert score["ci_low"] <= score["accuracy"] <= score["ci_high"]

    human = lmteams(
        "eval",
        "d.jsonl",
        "-t",
        str(team_file),
        "-c",
        "majority",
        "--train",
        "--plot",
        "p.png",
        cwd=tmp_path,
        env=env(),
    )
    assert human.returncode == 0, human.stderr
    assert "greedy" in human.stdout and "95% CI" in human.stdout and "tokens/q" in human.stdout
    assert "meta-model" in human.stdout
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")

    plot = lmteams("eval-plot", report["run_id"], "-o", "again.png", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "again.png").exists()


def test_dataset_to_stdout_is_seeded(tmp_path: Path) -> None:
    first = lmteams("dataset", "-n", "5", "--seed", "7", cwd=tmp_path)
    second = lmteams("dataset", "-n", "5", "--seed", "7", cwd=tmp_path)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert len(first.stdout.splitlines()) == 5


def test_dataset_mixed_set_is_the_teamwork_generator(tmp_path: Path) -> None:
    from lmteams.consensus.questions import KINDS, mixed

    proc = lmteams("dataset", "--set", "mixed", "-n", "10", "--seed", "4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows == [item.model_dump(exclude_none=True) for item in mixed(10, seed=4)]
    assert {row["kind"] for row in rows} == set(KINDS)
    dates = lmteams("dataset", "-s", "mixed", "-k", "dates", "-n", "3", cwd=tmp_path)
    assert {json.loads(line)["kind"] for line in dates.stdout.splitlines()} == {"dates"}


def test_eval_errors_are_one_line(tmp_path: Path, team_file: Path) -> None:
    assert_clean_error(lmteams("eval", "nope.jsonl", cwd=tmp_path), "nope.jsonl: file not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\nnot json\n')
    assert_clean_error(
        lmteams("eval", str(bad), "-t", str(team_file), cwd=tmp_path, env=env()),
        "bad.jsonl: line 2",
    )
    assert_clean_error(
        lmteams("eval", str(bad), "-c", "majority,guess", cwd=tmp_path),
        "unknown consensus strategy 'guess'",
    )
    assert_clean_error(
        lmteams("eval", str(bad), "-t", str(team_file), "--judge", "zed", cwd=tmp_path, env=env()),
        "--judge: unknown node 'zed'",
    )
    assert_clean_error(lmteams("dataset", "-k", "trivia", cwd=tmp_path), "unknown question kind")
    assert_clean_error(lmteams("eval-plot", "nothing", cwd=tmp_path), "--db: no event log at")
    ask = lmteams("ask", "q", "-t", str(team_file), "--json", cwd=tmp_path, env=env())
    run_id = json.loads(ask.stdout)["run_id"]
    assert_clean_error(lmteams("eval-plot", run_id, cwd=tmp_path), "is not a finished evaluation")
