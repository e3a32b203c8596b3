"""`lmteams report` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from ..cli.test_cli import SCRIPTED_TEAM, assert_clean_error, lmteams


def test_report_of_an_ask_run(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(SCRIPTED_TEAM)
    asked = lmteams("ask", "What is 2 + 2?", "--team", "team.yaml", "--json", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    run_id = json.loads(asked.stdout)["run_id"]
    proc = lmteams("report", run_id[:12], "-o", "rep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rep" / "report.html").exists()
    assert (tmp_path / "rep" / "agreement.png").exists()


def test_report_errors(tmp_path: Path) -> None:
    assert_clean_error(lmteams("report", "no-such-run", cwd=tmp_path), "--db", "no event log")
    (tmp_path / "team.yaml").write_text(SCRIPTED_TEAM)
    asked = lmteams("ask", "What is 2 + 2?", "--team", "team.yaml", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert_clean_error(lmteams("report", "no-such-run", cwd=tmp_path), "no run")
    (tmp_path / "empty").mkdir()
    assert_clean_error(lmteams("report", "empty", cwd=tmp_path), "RUN_OR_SWEEP", "sweep.json")
