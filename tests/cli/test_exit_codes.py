"""The exit-code table of `ask`, `eval` and `run` (README "Exit codes"), one row at a time.

0 answer / finished · 1 internal error · 2 bad input · 3 no consensus · 4 all nodes failed
(for `run`: the run did not finish) · 130 interrupted
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmteams.cli.errors import exit_code
from lmteams.errors import (
    BudgetExceeded,
    ConfigError,
    LMTeamsError,
    ModelUnavailable,
    RunNotFound,
    RuntimeClosed,
    SandboxUnavailable,
    StoreError,
)
from tests.cli.test_cli import assert_clean_error, lmteams

ROOT = Path(__file__).resolve().parents[2]


def boom(call):  # type: ignore[no-untyped-def]
    """A script with a bug in it: lmteams did not raise this on purpose."""
    return RuntimeError("boom in a script")


def split(call):  # type: ignore[no-untyped-def]
    """Two answers, two votes each: a quorum of 3 of 4 is never reached."""
    return {"a": "Answer: 4", "b": "Answer: 4", "c": "Answer: 3", "d": "Answer: 3"}[call.node]


def team(models: str, nodes: str = "[{name: a}, {name: b}, {name: c}, {name: d}]") -> str:
    return f"models:\n  m: {models}\nnodes: {nodes}\n"


ANSWERS = team('{backend: scripted, answers: {"2 + 2": "Answer: 4"}, default: "Answer: 0"}')
SPLIT = team('{backend: scripted, script: "tests.cli.test_exit_codes:split"}')
FAILING = team("{backend: scripted, error_rate: 1.0, error: invalid}")
BUGGY = team('{backend: scripted, script: "tests.cli.test_exit_codes:boom"}')
SLOW = team("{backend: scripted, latency_s: 60}")
CODERS = team(
    '{backend: scripted, script: "lmteams.testing:project_script"}',
    "[{name: w1}, {name: w2}]",
)
DATASET = (
    '{"question": "What is 2 + 2?", "answer": "4"}\n{"question": "What is 2 + 3?", "answer": "5"}\n'
)


def project(check: str) -> str:
    return json.dumps(
        {
            "project": "two",
            "max_check_retries": 0,
            "tasks": [
                {"id": "one", "files": ["one.py"], "check": check},
                {"id": "two", "files": ["two.py"], "dependencies": ["one"]},
            ],
        }
    )


def command(kind: str, team_text: str, tmp_path: Path, *extra: str) -> list[str]:
    (tmp_path / "team.yaml").write_text(team_text)
    if kind == "ask":
        return ["ask", "What is 2 + 2?", "-t", "team.yaml", *extra]
    if kind == "eval":
        (tmp_path / "data.jsonl").write_text(DATASET)
        return ["eval", "data.jsonl", "-t", "team.yaml", *extra]
    (tmp_path / "p.json").write_text(project('python -c "pass"'))
    return ["run", "p.json", "-t", "team.yaml", "-w", "2", *extra]


def env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize(
    ("kind", "team_text", "extra", "code"),
    [
        ("ask", ANSWERS, [], 0),
        ("ask", SPLIT, ["-c", "quorum"], 3),
        ("ask", FAILING, [], 4),
        ("eval", ANSWERS, [], 0),
        ("eval", SPLIT, ["-c", "quorum"], 3),
        ("eval", FAILING, [], 4),
        ("run", CODERS, [], 0),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None,
)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "human"])
def test_outcome_exit_codes(
    tmp_path: Path, kind: str, team_text: str, extra: list[str], code: int, json_output: bool
) -> None:
    args = command(kind, team_text, tmp_path, *extra, *(["--json"] if json_output else []))
    proc = lmteams(*args, cwd=tmp_path, env=env())
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    if json_output:  # the result is still printed in full: a script reads why from it
        result = json.loads(proc.stdout)
        if kind == "ask":
            assert (result["answer"] is None) == (code != 0)
            assert all(n["status"] == "failed" for n in result["nodes"]) == (code == 4)
    elif kind == "ask" and code:
        assert ("No consensus" if code == 3 else "No answer") in proc.stdout


def test_a_run_whose_task_fails_exits_4(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(CODERS)
    (tmp_path / "p.json").write_text(project('python -c "raise SystemExit(1)"'))
    proc = lmteams("run", "p.json", "-t", "team.yaml", "-w", "2", "--json", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    result = json.loads(proc.stdout)["result"]
    assert result["status"] != "done" and result["tasks"]["one"] == "failed"
    human = lmteams("run", "p.json", "-t", "team.yaml", "-w", "2", cwd=tmp_path)
    assert human.returncode == 4 and "0/2 tasks done" in human.stdout


@pytest.mark.parametrize("kind", ["ask", "eval", "run"])
def test_bad_input_exits_2(tmp_path: Path, kind: str) -> None:
    args = command(kind, "nodes: [{name: a}, {name: a}]\n", tmp_path)
    proc = lmteams(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "team.yaml", "duplicate node name")


@pytest.mark.parametrize("kind", ["ask", "eval", "run"])
def test_an_internal_error_is_one_line_and_exits_1(tmp_path: Path, kind: str) -> None:
    if kind == "run":
        team_text = team(
            '{backend: scripted, script: "tests.cli.test_exit_codes:boom"}',
            "[{name: w1}, {name: w2}]",
        )
    else:
        team_text = BUGGY
    proc = lmteams(*command(kind, team_text, tmp_path, "--json"), cwd=tmp_path, env=env())
    assert proc.returncode == 1
    assert_clean_error(proc, "internal error", "RuntimeError: boom in a script", "LMTEAMS_DEBUG=1")
    assert len(proc.stderr.strip().splitlines()) == 1
    debug = lmteams(
        *command(kind, team_text, tmp_path, "--json"),
        cwd=tmp_path,
        env={**env(), "LMTEAMS_DEBUG": "1"},
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("error: internal error")


def wait_for_running_run(db: Path, proc: subprocess.Popen[str]) -> None:
    """Poll the event log until the command's run is open (its slow calls are in flight)."""
    for _ in range(600):
        assert proc.poll() is None, proc.communicate()
        try:
            with sqlite3.connect(db) as conn:
                if conn.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone():
                    return
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.1)
    raise AssertionError("the run never started")


@pytest.mark.parametrize("kind", ["ask", "eval", "run"])
def test_ctrl_c_exits_130(tmp_path: Path, kind: str) -> None:
    team_text = team("{backend: scripted, latency_s: 60}", "[{name: w1}, {name: w2}]")
    args = command(kind, team_text if kind == "run" else SLOW, tmp_path, "--json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmteams.cli.app", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env()},
    )
    try:
        wait_for_running_run(tmp_path / ".lmteams" / "lmteams.db", proc)
        time.sleep(0.5)  # let the calls go out
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("kind", ["ask", "eval", "run"])
def test_help_lists_the_exit_codes(tmp_path: Path, kind: str) -> None:
    proc = lmteams(kind, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "Exit codes: 0" in text and "2 bad input, 1 internal error, 130 interrupted" in text


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad", field="--x"), 2),
        (RunNotFound("no run 'x'"), 2),
        (StoreError("cannot open the event log"), 2),
        (SandboxUnavailable("no isolation here"), 2),
        (ModelUnavailable("down", node="a"), 4),
        (BudgetExceeded("spent"), 4),
        (RuntimeClosed("closed"), 1),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_exit_code_of_each_error(error: LMTeamsError, code: int) -> None:
    assert exit_code(error) == code
