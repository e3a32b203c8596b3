"""`lmteams resume` and `lmteams ask --inject`, run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.test_cli import assert_clean_error, lmteams

SCRIPT = """
import os
from lmteams.models.scripted import ScriptedReply

ANSWERS = {"a": "Answer: 4", "b": "Answer: 4", "c": "Answer: 5"}


def answer(call):
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(call.node + "\\n")
    slow = call.node == "c" and os.environ.get("SLOW_C") == "1"
    return ScriptedReply(ANSWERS[call.node], latency_s=30.0 if slow else 0.0)
"""

TEAM = """
name: resumable
models:
  m: {backend: scripted, script: "calls_script:answer"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
  - {name: c, role: responder}
"""


def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "calls_script.py").write_text(SCRIPT)
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    env = {"CALLS_LOG": str(tmp_path / "calls.log"), "PYTHONPATH": str(tmp_path)}
    return team, env


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().split() if log.exists() else []


def killed_midway(tmp_path: Path, env: dict[str, str], args: list[str], asked: list[str]) -> None:
    """Run ``lmteams ARGS`` with c slow, and SIGKILL it once ``asked`` are the calls made and
    every reply but c's is committed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmteams.cli.app", *args],
        cwd=tmp_path,
        env={**os.environ, **env, "SLOW_C": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while sorted(calls(tmp_path)) != asked:
            assert time.monotonic() < deadline and proc.poll() is None, f"{args[0]} did not start"
            time.sleep(0.05)
        time.sleep(1.0)  # the other replies are committed; c is still thinking
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_an_ask_killed_with_sigkill_resumes_without_repeating_calls(tmp_path: Path) -> None:
    team, env = setup(tmp_path)
    killed_midway(
        tmp_path, env, ["ask", "What is 2 + 2?", "--team", str(team), "--json"], ["a", "b", "c"]
    )
    listed = lmteams("runs", "--json", cwd=tmp_path)
    [run] = json.loads(listed.stdout)
    # nobody could mark it ended (the process was killed); its process is gone, so it reads so
    assert run["status"] == "interrupted"
    resumed = lmteams("resume", run["run_id"][:16], "--json", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    outcome = json.loads(resumed.stdout)
    assert outcome["status"] == "done" and outcome["replayed"] == 2 and outcome["new_calls"] == 1
    assert outcome["result"]["answer"] == "4"
    assert [n["answer"] for n in outcome["result"]["nodes"]] == ["4", "4", "5"]
    assert sorted(calls(tmp_path)) == ["a", "b", "c", "c"]  # only c was asked again
    shown = json.loads(lmteams("show", run["run_id"], "--json", cwd=tmp_path).stdout)
    replies = [
        e["data"]["parent_id"]
        for e in shown["events"]
        if e["type"] == "message" and e["data"]["kind"] == "reply"
    ]
    assert len(replies) == 3 and len(set(replies)) == 3  # no reply logged twice
    again = lmteams("resume", run["run_id"], cwd=tmp_path, env=env)
    assert_clean_error(again, "already finished")
    assert again.returncode == 2


def test_resume_human_output_and_errors(tmp_path: Path) -> None:
    assert_clean_error(lmteams("resume", "nope", cwd=tmp_path), "--db: no event log at")
    sqlite3.connect(tmp_path / "other.db").close()  # a log with no such run in it
    migrated = lmteams("runs", "--db", "other.db", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert_clean_error(lmteams("resume", "nope", "--db", "other.db", cwd=tmp_path), "no run 'nope'")
    help_text = lmteams("resume", "--help", cwd=tmp_path).stdout
    assert "kill -9" in help_text and "Example" in help_text


def test_an_eval_killed_with_sigkill_resumes_and_prints_its_table(tmp_path: Path) -> None:
    team, env = setup(tmp_path)
    data = tmp_path / "questions.jsonl"
    data.write_text(
        "".join(
            json.dumps({"question": f"What is 2 + 2? ({k})", "answer": "4"}) + "\n"
            for k in range(4)
        )
    )
    # the first question: a alone (greedy), then a, b and c for the vote; c is slow
    killed_midway(tmp_path, env, ["eval", str(data), "--team", str(team)], ["a", "a", "b", "c"])
    [run] = json.loads(lmteams("runs", "--json", cwd=tmp_path).stdout)
    assert run["kind"] == "eval" and run["status"] == "interrupted"
    resumed = lmteams("resume", run["run_id"], cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 completed calls replayed from the log" in resumed.stdout
    assert "greedy" in resumed.stdout and "majority" in resumed.stdout  # the eval's table
    # progress on stderr, plain lines (not a terminal here): 4 questions x 2 strategies
    assert f"resuming {run['run_id']}: 8/8 answers" in resumed.stderr
    asked = calls(tmp_path)
    # nothing answered before the kill was asked again: c once more, for its lost answer
    assert (asked.count("a"), asked.count("b"), asked.count("c")) == (8, 4, 5)
    data.write_text(data.read_text().replace('"4"', '"5"'))
    again = lmteams("resume", run["run_id"], cwd=tmp_path, env=env)
    assert_clean_error(again, "already finished")


def test_ask_inject_crashes_a_node_and_the_others_still_answer(tmp_path: Path) -> None:
    team, env = setup(tmp_path)
    proc = lmteams(
        "ask",
        "What is 2 + 2?",
        "--team",
        str(team),
        "--inject",
        "a:crash=0",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    statuses = {n["node"]: n["status"] for n in result["nodes"]}
    assert statuses == {"a": "failed", "b": "done", "c": "done"}
    assert "crashed" in result["nodes"][0]["error"]
    assert sorted(calls(tmp_path)) == ["b", "c"]


def test_ask_inject_with_resilience_reroutes(tmp_path: Path) -> None:
    team, env = setup(tmp_path)
    team.write_text(TEAM + "resilience: {retries: {base_s: 0}}\n")
    proc = lmteams(
        "ask",
        "What is 2 + 2?",
        "--team",
        str(team),
        "--inject",
        "c:error=1",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert all(n["status"] == "done" for n in result["nodes"])


def test_bad_inject_is_a_clean_error(tmp_path: Path) -> None:
    team, env = setup(tmp_path)
    for value, fragment in (
        ("zz:crash=1", "--inject: zz: unknown node 'zz'; nodes: a, b, c"),
        ("a:explode=1", "unknown effect 'explode'"),
        ("a", "expected NODE:EFFECT=VALUE"),
    ):
        proc = lmteams("ask", "q", "--team", str(team), "--inject", value, cwd=tmp_path, env=env)
        assert_clean_error(proc, fragment)
        assert proc.returncode == 2


def test_an_interrupted_project_run_resumes_and_reads_cleanly(tmp_path: Path) -> None:
    """Ctrl-C a project run, resume it with a faster team; neither output shows unset fields."""
    from tests.cli.test_exit_codes import CODERS, env, project, team, wait_for_running_run

    (tmp_path / "slow.yaml").write_text(
        team("{backend: scripted, latency_s: 60}", "[{name: w1}, {name: w2}]")
    )
    (tmp_path / "fast.yaml").write_text(CODERS)
    (tmp_path / "p.json").write_text(project('python -c "pass"'))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmteams.cli.app", "run", "p.json", "-t", "slow.yaml", "-w", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env()},
    )
    try:
        wait_for_running_run(tmp_path / ".lmteams" / "lmteams.db", proc)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    [run] = json.loads(lmteams("runs", "--json", cwd=tmp_path).stdout)
    assert run["params"].get("goal", "unset") is None  # stored, but not worth showing
    resumed = lmteams("resume", run["run_id"], "-t", "fast.yaml", cwd=tmp_path, env=env())
    assert resumed.returncode == 0, resumed.stderr
    assert "· done ·" in resumed.stdout and "None" not in resumed.stdout, resumed.stdout
    listed = lmteams("runs", cwd=tmp_path)
    assert "two · steal, 2 workers" in listed.stdout and "None" not in listed.stdout, listed.stdout


def test_runs_lists_an_eval_by_its_dataset_and_strategies() -> None:
    from lmteams.cli.runs_cmd import _summary
    from lmteams.state.store import RunRecord

    params = {
        "dataset": "questions.jsonl",
        "questions": 6,
        "strategies": ["greedy", "majority"],
        "source": "/somewhere/questions.jsonl",
        "items_sha256": "ab" * 32,
    }
    run = RunRecord(
        run_id="eval-1",
        kind="eval",
        status="done",
        created_at=0.0,
        ended_at=1.0,
        team="t",
        params=params,
        result={},
    )
    assert _summary(run) == "questions.jsonl · 6 questions · greedy, majority"
