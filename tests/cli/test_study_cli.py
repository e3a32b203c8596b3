"""The study's protocol from the command line: analyze's undeclared imports, --success,
--files, the oracle team, and runs whose coordinator died."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from lmteams.scheduling.project import study_folder

from ..scheduling.test_graph import STUDY
from .test_cli import assert_clean_error, lmteams


def study(name: str) -> str:
    return str(next(p for p in STUDY if p.stem == name))


def test_analyze_warns_of_undeclared_imports_with_effective_p(tmp_path: Path) -> None:
    proc = lmteams("analyze", study("svgutils_p09"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["p"] == 0.9 and data["effective_p"] == 0.75
    assert data["effective_critical_path"] == 5 and len(data["undeclared_imports"]) == 19
    text = lmteams("analyze", study("svgutils_p09"), cwd=tmp_path).stdout
    assert "19 imports of other tasks' modules are not declared" in text
    assert "effective C = 5, p = 0.75 (labelled C = 2, p = 0.90)" in " ".join(text.split())
    plain = lmteams("analyze", study("mathutilities20_p05"), cwd=tmp_path).stdout
    assert "not declared" not in plain


def test_unknown_success_rule_is_one_line(tmp_path: Path) -> None:
    proc = lmteams("run", "tiny-math", "--success", "vibes", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "--success: unknown success 'vibes'; one of: declared, checks, suite")


def test_missing_files_folder_is_one_line(tmp_path: Path) -> None:
    proc = lmteams("run", "tiny-math", "--files", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "--files", "does not exist")


def test_oracle_team_runs_a_study_project_with_its_tests(tmp_path: Path) -> None:
    name = "mathutilities20_p05"
    env = {"LMTEAMS_ORACLE_SOLUTIONS": str(study_folder(name) / "solutions")}
    # no plugins of this environment in the suite run (the study's tests need none)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = lmteams(
        "run", study(name), "--team", "oracle", "--files", str(study_folder(name) / "files"),
        "--success", "suite", "--topology", "steal", "--workers", "3", "--json",
        cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"]["status"] == "done" and out["result"]["suite"]["ok"]
    assert out["metrics"]["suite_passed"] >= 20 and out["metrics"]["problems"] == []


def test_oracle_team_without_solutions_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LMTEAMS_ORACLE_SOLUTIONS"}
    proc = subprocess.run(
        [sys.executable, "-m", "lmteams.cli.app", "run", "tiny-math", "--team", "oracle"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert_clean_error(proc, "LMTEAMS_ORACLE_SOLUTIONS")


def test_a_running_run_whose_coordinator_died_reads_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    proc = lmteams("run", "tiny-math", "--team", "oracle", "--db", str(db), cwd=tmp_path,
                   env={"LMTEAMS_ORACLE_SOLUTIONS": str(tmp_path)})  # fmt: skip
    listed = json.loads(lmteams("runs", "--json", "--db", str(db), cwd=tmp_path).stdout)
    run_id = listed[0]["run_id"]
    assert listed[0]["status"] != "interrupted", proc.stderr
    # as if the coordinator had been killed: still marked running, its process gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE runs SET status = 'running', ended_at = NULL WHERE run_id = ?", (run_id,)
        )
        rows = conn.execute(
            "SELECT seq, data FROM events WHERE run_id = ? AND type = 'coordinator'", (run_id,)
        ).fetchall()
        assert rows
        for seq, data in rows:
            fields = json.loads(data)
            fields["pid"] = dead.pid
            conn.execute("UPDATE events SET data = ? WHERE seq = ?", (json.dumps(fields), seq))
    listed = json.loads(lmteams("runs", "--json", "--db", str(db), cwd=tmp_path).stdout)
    assert listed[0]["status"] == "interrupted"
    text = lmteams("runs", "--db", str(db), cwd=tmp_path).stdout
    assert "interrupted" in text


def test_analyze_reads_the_code_a_run_wrote(tmp_path: Path) -> None:
    project = tmp_path / "p.yaml"
    project.write_text("tasks:\n  - {id: a, files: [a.py]}\n  - {id: b, files: [b.py]}\n")
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "a.py").write_text("from b import X\n")
    (solutions / "b.py").write_text("X = 1\n")
    db = str(tmp_path / "log.db")
    env = {"LMTEAMS_ORACLE_SOLUTIONS": str(solutions)}
    proc = lmteams(
        "run", str(project), "--team", "oracle", "--db", db, "--json", cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["result"]["run_id"]
    before = json.loads(lmteams("analyze", str(project), "--json", cwd=tmp_path).stdout)
    assert before["undeclared_imports"] == [] and before["effective_p"] == 0.5
    after = lmteams("analyze", str(project), "--run", run_id, "--db", db, "--json", cwd=tmp_path)
    data = json.loads(after.stdout)
    assert data["undeclared_imports"] == [{"task": "a", "imports": "b", "from_task": "b"}]
    assert data["effective_critical_path"] == 2 and data["effective_p"] == 0.0
    missing = lmteams("analyze", str(project), "--run", "run-nope", "--db", db, cwd=tmp_path)
    assert missing.returncode == 2
    assert_clean_error(missing, "run-nope")


def test_oracle_solutions_that_are_not_a_folder_is_one_line(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        f"models:\n  o: {{backend: oracle, solutions: {tmp_path / 'nope'}}}\n"
        "defaults: {model: o}\nnodes: [{name: a}]\n"
    )
    proc = lmteams("run", "tiny-math", "--team", str(team), "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "solutions", "is not a folder")
    team.write_text(
        "models:\n  o: {backend: oracle, answers: 3}\ndefaults: {model: o}\nnodes: [{name: a}]\n"
    )
    proc = lmteams("run", "tiny-math", "--team", str(team), "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "models.o.answers")
