"""`lmteams run --harness rounds` and `lmteams study compare` as a user runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lmteams.state.store import EventStore

from ..analysis.study_runs import CONDITION, scripted_run, study_project, write_study
from .test_cli import assert_clean_error, lmteams

SCRIPT = Path(__file__).resolve().parents[1] / "coordinator" / "rounds_script.py"


def team(tmp_path: Path, model: str) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(
        "name: rounds\nmodels:\n  m: " + model + "\ndefaults: {model: m}\n"
        "nodes: [{name: w1}, {name: w2}, {name: w3}]\n"
    )
    return path


def test_run_in_rounds_finishes_tiny_math(tmp_path: Path) -> None:
    agents = team(tmp_path, f'{{backend: scripted, script: "{SCRIPT}:rounds_script"}}')
    proc = lmteams(
        "run", "tiny-math", "--team", str(agents), "--harness", "rounds",
        "--topology", "decentralized", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"]["status"] == "done" and out["metrics"]["tasks_done"] == 5


def test_max_rounds_ends_unfinished_with_exit_4(tmp_path: Path) -> None:
    agents = team(tmp_path, """{backend: scripted, default: '{"action": "wait"}'}""")
    proc = lmteams(
        "run", "tiny-math", "--team", str(agents), "--harness", "rounds",
        "--topology", "preassign", "--max-rounds", "2", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "unfinished" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--harness", "bogus"], "--harness: unknown harness 'bogus'; one of: lmteams, rounds"),
        (["--harness", "rounds", "--topology", "steal"], "--harness rounds runs the study's"),
        (["--harness", "rounds", "--max-rounds", "-1"], "--max-rounds"),
    ],
)
def test_bad_rounds_flags_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    agents = team(tmp_path, """{backend: scripted, default: '{"action": "wait"}'}""")
    proc = lmteams("run", "tiny-math", "--team", str(agents), *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, says)
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, list[str]]:
    """A log with decentralized rounds runs of the study project at n = 1 and 2."""
    db = tmp_path / "log.db"

    async def make() -> list[str]:
        store = EventStore(db)
        try:
            runs = [await scripted_run(store, study_project(), "decentralized", n) for n in (1, 2)]
        finally:
            store.close()
        return [r.run_id for r in runs]

    return db, asyncio.run(make())


def test_study_compare_table_json_and_plot(tmp_path: Path, logged: tuple[Path, list[str]]) -> None:
    db, runs = logged
    data = write_study(tmp_path / "study")
    png = tmp_path / "cmp.png"
    proc = lmteams(
        "study", "compare", *runs, "--db", str(db), "--data", str(data), "--out", str(png),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = next(
        line for line in proc.stdout.splitlines() if line.startswith(CONDITION) and " 2 " in line
    )
    assert row.split()[:6] == [CONDITION, "decentralized", "2", "1/1", "1.90", "2.25"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    proc = lmteams(
        "study", "compare", *runs, "--db", str(db), "--data", str(data), "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [(r["workers"], r["kept"]) for r in out["rows"]] == [(1, 1), (2, 1)]
    assert out["excluded"] == 0 and len(out["runs"]) == 2


def test_study_compare_bad_inputs(tmp_path: Path, logged: tuple[Path, list[str]]) -> None:
    db, runs = logged
    data = write_study(tmp_path / "study")
    proc = lmteams("study", "compare", runs[0], "--db", str(db), "--data", "nowhere", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "nowhere", "no such folder")
    store = EventStore(db)
    ask = store.new_run("ask", params={"question": "?"})
    store.close()
    proc = lmteams("study", "compare", ask, "--db", str(db), "--data", str(data), cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, f"run {ask} is a 'ask' run, not a project run")
    proc = lmteams(
        "study", "compare", "run-none", "--db", str(db), "--data", str(data), cwd=tmp_path
    )
    assert proc.returncode == 2
    assert_clean_error(proc, "run-none")
    proc = lmteams("study", "fly", runs[0], "--db", str(db), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "fly" in proc.stderr
