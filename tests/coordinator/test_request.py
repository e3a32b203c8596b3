"""RunRequest from Python: what `lmteams run` does, as one call."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from lmteams.coordinator.request import RunRequest, RunTopology, run_request
from lmteams.errors import ConfigError
from lmteams.scheduling.topologies import TOPOLOGIES
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team


def test_the_literal_names_every_topology() -> None:
    assert get_args(RunTopology) == TOPOLOGIES


async def test_a_run_request_runs_and_reports_metrics(tmp_path: Path, store: EventStore) -> None:
    spec, backends = scripted_team(2, project_script)
    files = tmp_path / "brought"
    files.mkdir()
    (files / "notes.txt").write_text("read me\n")
    request = RunRequest(
        project="tiny-math",
        team=spec,
        topology="preassign",
        workers=2,
        success="declared",  # the scripted replies are not the functions tiny-math checks for
        files=files,
        workdir=tmp_path / "ws",
    )
    started = []
    report = await run_request(
        request, store, backends=backends, on_start=lambda p, s: started.append((p, s))
    )
    assert report.result.status == "done"
    assert report.metrics.tasks_done == report.metrics.tasks > 0
    assert report.metrics.workers == 2
    [(project, settings)] = started
    assert project is not None and project.files_dir == str(files.resolve())
    assert settings.topology == "preassign" and settings.workdir == str((tmp_path / "ws").resolve())
    assert (tmp_path / "ws" / "notes.txt").read_text() == "read me\n"
    assert store.run(report.result.run_id).kind == "run"


def test_the_plan_topology_is_steal_after_planning() -> None:
    request = RunRequest(goal="a calculator", topology="plan")
    assert request.project_spec() is None
    assert request.settings().topology == "steal"


def test_check_applies_to_a_project_without_one() -> None:
    request = RunRequest(project="tiny-math", check="{python} -c 'pass'")
    spec = request.project_spec()
    assert spec is not None and spec.check == "{python} -c 'pass'"


@pytest.mark.parametrize(
    ("values", "line"),
    [
        (
            {"topology": "ring"},
            "--topology: unknown topology 'ring'; one of: "
            "preassign, steal, decentralized, lead, dynamic, plan",
        ),
        ({"topology": "plan"}, "--goal: the plan topology needs --goal"),
        ({"project": None}, "PROJECT: give a project (file or shipped name) or --goal"),
        (
            {"balance": "chaos"},
            "--balance: unknown balance 'chaos'; one of: least-loaded, round-robin",
        ),
        (
            {"success": "maybe"},
            "--success: unknown success 'maybe'; one of: declared, checks, suite",
        ),
        ({"harness": "async"}, "--harness: unknown harness 'async'; one of: lmteams, rounds"),
        ({"workers": 0}, "--workers: Input should be greater than or equal to 1"),
        ({"threads": 0}, "--threads: Input should be greater than or equal to 1"),
        ({"max_rounds": -1}, "--max-rounds: Input should be greater than or equal to 0"),
        ({"topolgy": "steal"}, "--topolgy: unknown field"),
    ],
)
def test_bad_values_are_the_flags_error_line(values: dict[str, object], line: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunRequest(**{"project": "tiny-math", **values})  # type: ignore[arg-type]
    assert str(info.value) == line or str(info.value).startswith(line)


def test_bad_settings_are_refused_before_the_run(store: EventStore) -> None:
    with pytest.raises(ConfigError, match="^--lease-s: Input should be greater than 0"):
        RunRequest(project="tiny-math", lease_s=0).settings()
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        RunRequest(project="nope.yaml").project_spec()
    assert store.runs() == []


async def test_a_sweep_request_runs_the_grid_and_writes_its_files(
    tmp_path: Path, store: EventStore
) -> None:
    from lmteams.coordinator.request import SweepRequest, sweep_request

    spec, backends = scripted_team(2, project_script)
    request = SweepRequest(
        project="tiny-math", workers="2", topologies="preassign", team=spec, out=tmp_path / "o"
    )
    assert request.workers == (2,) and request.runs == 2  # n = 1 is always run
    seen: list[tuple[str, int]] = []
    report = await sweep_request(
        request, store, backends=backends, on_run=lambda top, n, rep, m: seen.append((top, n))
    )
    assert sorted(seen) == [("preassign", 1), ("preassign", 2)]
    assert {m["workers"] for m in report.medians} == {1, 2}
    names = {p.name for p in report.files}
    assert {"sweep.csv", "sweep.json", "speedup.png", "tokens.png", "gantt-preassign.png"} <= names
    assert all(p.exists() for p in report.files)


@pytest.mark.parametrize(
    ("values", "line"),
    [
        (
            {"topologies": "steal,plan"},
            "--topology: unknown topology 'plan' for a sweep; one of: "
            "preassign, steal, decentralized, lead",
        ),
        ({"topologies": ""}, "--topology: no topology given"),
        ({"workers": "5..1"}, "--workers: worker counts must be at least 1"),
        ({"reps": 0}, "--reps: Input should be greater than or equal to 1"),
        ({"balance": "x"}, "--balance: unknown balance 'x'; one of: least-loaded, round-robin"),
    ],
)
def test_bad_sweep_values_are_the_flags_error_line(values: dict[str, object], line: str) -> None:
    from lmteams.coordinator.request import SweepRequest

    with pytest.raises(ConfigError) as info:
        SweepRequest(**{"project": "tiny-math", **values})  # type: ignore[arg-type]
    assert str(info.value).startswith(line)
