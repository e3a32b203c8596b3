"""The event log's settings and a locked log, as a user meets them on the command line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TEAM = """
name: scripted
models:
  m: {backend: scripted, answers: {"2 + 2": "Answer: 4"}, default: "Answer: 0"}
nodes:
  - {name: a}
  - {name: b}
"""


def lmteams(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmteams.cli.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def team(tmp_path: Path) -> Path:
    (tmp_path / "team.yaml").write_text(TEAM)
    return tmp_path / "team.yaml"


def ask(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return lmteams(
        "ask", "What is 2 + 2?", "--team", "team.yaml", "--db", "log.db", cwd=tmp_path, env=env
    )


def test_a_log_locked_by_another_writer_is_one_line(tmp_path: Path, team: Path) -> None:
    assert ask(tmp_path).returncode == 0  # the log exists, with its schema
    locker = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        proc = ask(tmp_path, LMTEAMS_BUSY_TIMEOUT_S="0.05")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # 2: an event log that cannot be written (the exit-code table in the README)
    one_line_error(proc, 2, "is locked by another process", "resume the run")


def test_full_durability_from_the_environment(tmp_path: Path, team: Path) -> None:
    proc = ask(tmp_path, LMTEAMS_DURABILITY="full")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("LMTEAMS_DURABILITY", "fast", "LMTEAMS_DURABILITY: must be normal or full, not 'fast'"),
        ("LMTEAMS_BUSY_TIMEOUT_S", "soon", "LMTEAMS_BUSY_TIMEOUT_S: must be a number of seconds"),
        ("LMTEAMS_BUSY_TIMEOUT_S", "-1", "LMTEAMS_BUSY_TIMEOUT_S: must be a number of seconds"),
    ],
)
def test_a_bad_log_setting_is_one_line(
    tmp_path: Path, team: Path, name: str, value: str, fragment: str
) -> None:
    one_line_error(ask(tmp_path, **{name: value}), 2, fragment)
