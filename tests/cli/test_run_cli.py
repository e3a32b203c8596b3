"""`lmteams analyze`, `run`, `sweep` and `metrics` as a user runs them."""

from __future__ import annotations

import json
import math
import statistics
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..scheduling.test_graph import STUDY
from .test_cli import assert_clean_error, lmteams

TEAM = """
name: scripted-coders
models:
  m: {backend: scripted, script: "lmteams.testing:project_script", latency_s: 0.05}
defaults: {model: m, max_concurrent: 1}
nodes: [{name: w1}, {name: w2}, {name: w3}, {name: boss, role: lead}]
"""


@pytest.fixture
def team(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


@pytest.mark.parametrize(
    ("stem", "c", "p"),
    [("mathutilities20_p02", 16, 0.2), ("svgutils_p05", 10, 0.5), ("dataanalysis_p09", 2, 0.9)],
)
def test_analyze_study_files(tmp_path: Path, stem: str, c: int, p: float) -> None:
    path = next(x for x in STUDY if x.stem == stem)
    proc = lmteams("analyze", str(path), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["n_tasks"], data["critical_path"], data["p"]) == (20, c, p)
    assert [round(r["amdahl"], 2) for r in data["by_workers"][1:5]] == {
        0.2: [1.11, 1.15, 1.18, 1.19],
        0.5: [1.33, 1.5, 1.6, 1.67],
        0.9: [1.82, 2.5, 3.08, 3.57],
    }[p]
    assert data["by_workers"][2]["lower_bound"] == max(c, 7)
    human = lmteams("analyze", str(path), cwd=tmp_path)
    assert "recommended team size" in human.stdout and f"C = {c}" in human.stdout


def test_run_json_and_metrics(tmp_path: Path, team: Path) -> None:
    path = next(x for x in STUDY if x.stem == "mathutilities20_p05")
    proc = lmteams(
        "run",
        str(path),
        "--team",
        str(team),
        "--topology",
        "lead",
        "--workers",
        "3",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"]["status"] == "done"
    assert out["metrics"]["tasks_done"] == 20 and out["metrics"]["topology"] == "lead"
    run_id = out["result"]["run_id"]
    metrics = lmteams("metrics", run_id, "--json", cwd=tmp_path)
    assert json.loads(metrics.stdout)["calls"] >= 20
    human = lmteams("run", str(path), "--team", str(team), "-T", "steal", "-w", "2", cwd=tmp_path)
    assert (
        human.returncode == 0
        and "20/20 tasks done" in human.stdout
        and "Amdahl predicts" in human.stdout
    )


def test_sweep_writes_table_and_plots(tmp_path: Path, team: Path) -> None:
    path = next(x for x in STUDY if x.stem == "svgutils_p09")
    proc = lmteams(
        "sweep",
        str(path),
        "--team",
        str(team),
        "--workers",
        "1..3",
        "--topology",
        "preassign,decentralized",
        "--reps",
        "2",
        "--out",
        "out",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(rows) == 2 * 3 * 2
    assert (tmp_path / "out" / "sweep.csv").read_text().startswith("topology,workers,rep")
    for name in ("speedup.png", "tokens.png", "gantt-preassign.png", "gantt-decentralized.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    # Behaviour, not speed (wall-clock speedups drift on a busy machine): every cell ran and
    # is done, every speedup is its run's makespan against its topology's n = 1 baseline, and
    # the 3-worker runs really ran 3 tasks side by side.
    assert {(m["topology"], m["workers"]) for m in data["medians"]} == {
        (t, n) for t in ("preassign", "decentralized") for n in (1, 2, 3)
    }
    assert all(r["status"] == "done" for r in rows)
    assert_speedups_follow_their_baseline(rows)
    from lmteams.state.store import EventStore

    store = EventStore(tmp_path / ".lmteams" / "lmteams.db")
    for row in rows:
        if row["topology"] == "preassign":
            assert ran_side_by_side(store, row["run_id"], row["workers"]), row
    store.close()


def assert_speedups_follow_their_baseline(rows: list[dict[str, Any]]) -> None:
    """Each speedup = the mean makespan of its topology's n = 1 runs / its own makespan."""
    for row in rows:
        ones = [
            r["makespan_s"] for r in rows if r["topology"] == row["topology"] and r["workers"] == 1
        ]
        assert math.isfinite(row["speedup"]) and row["speedup"] > 0, row
        expected = statistics.mean(ones) / row["makespan_s"]
        assert row["speedup"] == pytest.approx(expected, rel=1e-3, abs=1e-4), row


def ran_side_by_side(store: Any, run_id: str, workers: int) -> bool:
    """Whether the run's first ``workers`` tasks went to distinct nodes before any finished."""
    events = store.events(run_id, types=["task_assigned", "task_done"])
    first_done = next(i for i, e in enumerate(events) if e.type == "task_done")
    started = [e.node for e in events[:first_done] if e.type == "task_assigned"]
    return len(set(started)) == workers


def test_bad_inputs(tmp_path: Path, team: Path) -> None:
    bad = tmp_path / "cycle.json"
    bad.write_text(
        json.dumps(
            {"tasks": [{"id": "a", "dependencies": ["b"]}, {"id": "b", "dependencies": ["a"]}]}
        )
    )
    assert_clean_error(lmteams("analyze", str(bad), cwd=tmp_path), "dependency cycle")
    assert_clean_error(
        lmteams("run", "tiny-math", "--team", str(team), "--topology", "ring", cwd=tmp_path),
        "unknown topology 'ring'",
    )
    assert_clean_error(
        lmteams("run", "tiny-math", "--team", str(team), "--workers", "9", cwd=tmp_path),
        "--workers 9",
    )
    assert_clean_error(lmteams("run", "--team", str(team), cwd=tmp_path), "give a project")
    assert_clean_error(
        lmteams("sweep", "tiny-math", "--team", str(team), "--workers", "a..b", cwd=tmp_path),
        "--workers",
    )
    assert_clean_error(lmteams("run", "nope.yaml", cwd=tmp_path), "nope.yaml: file not found")
    assert_clean_error(
        lmteams("sweep", "tiny-math", "--team", str(team), "--runtime", "k8s", cwd=tmp_path),
        "--runtime: unknown runtime 'k8s'",
    )
    assert_clean_error(lmteams("metrics", "zzz", cwd=tmp_path), "no run")
    (tmp_path / "taken").write_text("a file, not a directory")
    runs_before = lmteams("runs", "--json", cwd=tmp_path).stdout
    assert_clean_error(
        lmteams("run", "tiny-math", "--team", str(team), "--workdir", "taken", cwd=tmp_path),
        "taken exists and is not a directory",
    )
    assert lmteams("runs", "--json", cwd=tmp_path).stdout == runs_before  # no run was opened


def test_run_writes_its_files_to_the_workdir_given(tmp_path: Path, team: Path) -> None:
    project = next(x for x in STUDY if x.stem == "svgutils_p09")
    proc = lmteams(
        "run", str(project), "--team", str(team), "--workdir", "out/files", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["result"]
    workdir = tmp_path / "out" / "files"
    assert result["status"] == "done" and Path(result["workspace"]) == workdir
    written = {p.relative_to(workdir).as_posix() for p in workdir.rglob("*") if p.is_file()}
    expected = {f for t in json.loads(project.read_text())["tasks"] for f in t.get("files", [])}
    assert expected and expected <= written


MAX_TOKENS = 120
TASKS = ("add", "square", "double")  # double depends on add


def trimmed_tiny_math(tmp_path: Path) -> tuple[Path, Path]:
    """The shipped tiny-math project and coders team, cut down so the work itself is bounded.

    Three tasks, one retry each, two developers, 120 tokens a reply: at most 6 model calls,
    so the test does not depend on the machine being quiet (the whole project, 200 tokens a
    reply, outran 900 s on a loaded machine).
    """
    from lmteams.scheduling.project import builtin_project

    project = yaml.safe_load(builtin_project("tiny-math").read_text())
    project["tasks"] = [t for t in project["tasks"] if t["id"] in TASKS]
    project["max_check_retries"] = 1
    team = yaml.safe_load((resources.files("lmteams.data") / "coding_team.yaml").read_text())
    team["nodes"] = team["nodes"][:2]  # two developers, no lead (steal needs none)
    team["defaults"]["max_tokens"] = MAX_TOKENS
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / "team.yaml").write_text(yaml.safe_dump(team))
    return tmp_path / "project.yaml", tmp_path / "team.yaml"


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(660)  # a hang guard only: the work is bounded (about 40 s here)
def test_run_the_shipped_project_on_the_embedded_model(tmp_path: Path) -> None:
    """The real model drives the whole pipeline: prompt, reply, files, sandboxed checks, retries.

    What it asserts holds however well the 135M model codes on the day (its success rate is
    the benchmarks' business): the accounting is consistent and bounded, and the exit code
    follows the outcome.
    """
    project, team = trimmed_tiny_math(tmp_path)
    proc = lmteams(
        "run",
        str(project),
        "-t",
        str(team),
        "--topology",
        "steal",
        "--workers",
        "2",
        "--json",
        cwd=tmp_path,
        timeout=600,
    )
    out = json.loads(proc.stdout)
    result, metrics = out["result"], out["metrics"]
    tasks = result["tasks"]
    assert proc.returncode == (0 if result["status"] == "done" else 4), proc.stderr
    assert set(tasks) == set(TASKS) and set(tasks.values()) <= {"done", "failed", "blocked"}
    assert (tasks["double"] == "blocked") == (tasks["add"] != "done")
    assert metrics["tasks_done"] == sum(state == "done" for state in tasks.values())
    # add and square are each tried once or twice; double only once add is done
    assert 2 <= metrics["calls"] <= 2 * len(TASKS)
    assert 0 < metrics["completion_tokens"] <= metrics["calls"] * MAX_TOKENS
    assert metrics["checks"] >= 1  # replies were checked in the sandbox
    workspace = Path(result["workspace"])
    workspace = workspace if workspace.is_absolute() else tmp_path / workspace
    written = {p.name for p in workspace.iterdir()}
    assert written & {"add.py", "square.py"}  # the replies' code became files


def test_live_view_renders_every_part() -> None:
    from rich.console import Console

    from lmteams.cli.run_cmd import RunView
    from lmteams.coordinator.settings import Snapshot

    view = RunView(total=5, topology="steal")
    view.update(
        Snapshot(
            counts={"done": 2, "running": 1, "pending": 2},
            ready=1,
            nodes={"a": "working on t3", "b": "idle"},
            notes={"steal": 1},
            tokens=120,
            roles={"coder": (1, 2, 1)},
            health={"a": "healthy", "b": "dead"},
            breakers={"m": "open"},
        )
    )
    console = Console(record=True, width=120)
    console.print(view)
    text = console.export_text()
    for fragment in (
        "2/5 done",
        "working on t3",
        "dead",
        "coder: 1/2 busy, 1 queued",
        "breakers: m open",
        "steal: 1",
    ):
        assert fragment in text, text


def test_run_shows_what_resilience_cost(tmp_path: Path) -> None:
    """Resent calls are counted in the totals, and the human output says what they cost."""
    team = tmp_path / "retrying.yaml"
    team.write_text(
        TEAM
        + "resilience: {retries: {max_attempts: 6, base_s: 0}}\n"
        + "faults: {seed: 3, nodes: {w1: {error_rate: 0.5}}}\n"
    )
    path = next(x for x in STUDY if x.stem == "mathutilities20_p05")
    proc = lmteams("run", str(path), "--team", str(team), "-T", "steal", "-w", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("resilience:"))
    failed = int(line.split()[1])
    assert failed > 0 and "resent" in line and "hedge copies" in line
