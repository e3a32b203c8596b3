"""The command line, run as a user runs it: a subprocess, its output and its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTED_TEAM = """
name: scripted
models:
  m: {backend: scripted, answers: {"2 + 2": "Answer: 4"}, default: "Answer: 0"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
  - {name: c, role: responder}
"""


def lmteams(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmteams.cli.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
    )


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(SCRIPTED_TEAM)
    return path


def assert_clean_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_ask_json_then_runs_show_export(tmp_path: Path, team_file: Path) -> None:
    proc = lmteams("ask", "What is 2 + 2?", "--team", str(team_file), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["answer"] == "4" and result["agreement"] == 1.0
    assert [n["node"] for n in result["nodes"]] == ["a", "b", "c"]
    run_id = result["run_id"]
    assert (tmp_path / ".lmteams" / "lmteams.db").exists()

    runs = lmteams("runs", "--json", cwd=tmp_path)
    assert json.loads(runs.stdout)[0]["run_id"] == run_id

    show = lmteams("show", run_id[:12], cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert "run_started" in show.stdout and "decision" in show.stdout
    assert show.stdout.count("request coordinator") == 3

    out = tmp_path / "run.jsonl"
    export = lmteams("export", run_id, "-o", str(out), cwd=tmp_path)
    assert export.returncode == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["record"] == "run" and lines[0]["run_id"] == run_id
    assert sum(1 for line in lines if line.get("type") == "message") == 6


def test_ask_human_output(tmp_path: Path, team_file: Path) -> None:
    proc = lmteams("ask", "What is 2 + 2?", "-t", str(team_file), "--nodes", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Answer: 4" in proc.stdout
    assert "5 of 5 answering nodes agree (100%)" in proc.stdout
    assert "a-2" in proc.stdout


def test_db_option_and_env(tmp_path: Path, team_file: Path) -> None:
    db = tmp_path / "custom.db"
    proc = lmteams(
        "ask", "q", "-t", str(team_file), "--json", cwd=tmp_path, env={"LMTEAMS_DB": str(db)}
    )
    assert proc.returncode == 0 and db.exists()


def test_bad_team_file_is_one_clean_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {m: {backend: scripted}}\nnodes: [{name: a}, {name: a}]\n")
    assert_clean_error(
        lmteams("ask", "q", "-t", str(bad), cwd=tmp_path), "bad.yaml", "duplicate node name"
    )


def test_missing_team_file(tmp_path: Path) -> None:
    assert_clean_error(
        lmteams("ask", "q", "-t", "nope.yaml", cwd=tmp_path), "nope.yaml: file not found"
    )


def test_invalid_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n")
    assert_clean_error(lmteams("ask", "q", "-t", str(bad), cwd=tmp_path), "invalid YAML")


def test_unreachable_endpoint_is_a_clean_error(tmp_path: Path) -> None:
    team = tmp_path / "remote.yaml"
    team.write_text(
        "models:\n  r: {backend: openai, base_url: 'http://127.0.0.1:9/v1', ready_timeout_s: 2}\n"
        "nodes: [{name: a}]\n"
    )
    assert_clean_error(
        lmteams("ask", "q", "-t", str(team), cwd=tmp_path), "models.r.base_url", "cannot reach"
    )


def test_unknown_run(tmp_path: Path, team_file: Path) -> None:
    assert lmteams("ask", "q", "-t", str(team_file), cwd=tmp_path).returncode == 0
    assert_clean_error(lmteams("show", "nope", cwd=tmp_path), "no run 'nope'")


def test_reading_a_log_that_is_not_there_makes_none(tmp_path: Path) -> None:
    # nothing has run here: `runs` says so, and leaves no empty log behind
    proc = lmteams("runs", cwd=tmp_path)
    assert proc.returncode == 0 and "No runs yet" in proc.stdout
    assert lmteams("runs", "--json", cwd=tmp_path).stdout.strip() == "[]"
    assert_clean_error(
        lmteams("show", "nope", cwd=tmp_path), "--db: no event log at .lmteams/lmteams.db"
    )
    # a mistyped --db is named, not created
    assert_clean_error(
        lmteams("runs", "--db", "typo.db", cwd=tmp_path), "--db: no event log at typo.db"
    )
    assert_clean_error(lmteams("metrics", "x", "--db", "typo.db", cwd=tmp_path), "typo.db")
    assert list(tmp_path.iterdir()) == []


def test_serve_model_refuses_public_address_without_key(tmp_path: Path) -> None:
    assert_clean_error(
        lmteams("serve-model", "--host", "0.0.0.0", cwd=tmp_path), "non-loopback", "--api-key"
    )


def test_help_teaches(tmp_path: Path) -> None:
    proc = lmteams("ask", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for word in ("--team", "--nodes", "--json", "majority", "Example"):
        assert word in proc.stdout


def test_ask_only_the_nodes_of_a_role(tmp_path: Path, team_file: Path) -> None:
    proc = lmteams(
        "ask", "What is 2 + 2?", "-t", str(team_file), "--role", "critic", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert [n["node"] for n in json.loads(proc.stdout)["nodes"]] == ["b"]
    assert_clean_error(
        lmteams("ask", "q", "-t", str(team_file), "--role", "poet", cwd=tmp_path),
        "--role",
        "role 'poet'",
    )
