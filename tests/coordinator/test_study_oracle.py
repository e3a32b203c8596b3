"""Acceptance: the study's projects with their shipped tests, run by the oracle team.

With correct code supplied (reference solutions), every task must pass its check and the whole
suite must pass, under every topology; what could fail is lmteams. svgutils_p05's descriptions
import modules of tasks they do not declare as dependencies, so these runs also exercise parking.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.analysis.metrics import compute
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.models.oracle import oracle_script
from lmteams.scheduling.project import ProjectSpec, load_project, study_folder
from lmteams.state.store import EventStore
from lmteams.testing import scripted_team

from ..scheduling.test_graph import STUDY

TOPOLOGIES = ["preassign", "steal", "decentralized", "lead", "dynamic"]
PROJECTS = ["mathutilities20_p05", "dataanalysis_p05", "svgutils_p05"]
IMPORT_CHECK = '{python} -c "import {module}"'
# plugins of this environment (hypothesis, asyncio...) are not the study's: skip loading them
SUITE = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {python} -m pytest -q"


def study_project(name: str, check: str | None = IMPORT_CHECK) -> ProjectSpec:
    project = load_project(next(p for p in STUDY if p.stem == name))
    project = project.with_files(study_folder(name) / "files")
    return project.model_copy(update={"check": check, "suite": SUITE})


async def oracle_run(  # type: ignore[no-untyped-def]
    name: str, topology: str, store: EventStore, project: ProjectSpec, harness: str = "lmteams"
):
    workers = 3
    script = oracle_script(study_folder(name) / "solutions")
    # real time: checks run in the sandbox, whose time limit a virtual clock would skip past
    spec, backends = scripted_team(workers + (topology == "lead"), script, latency_s=0.01)
    return await run_project(
        spec,
        project,
        store,
        RunSettings(topology=topology, workers=workers, success="suite", harness=harness),
        backends=backends,
    )


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("name", PROJECTS)
async def test_oracle_completes_study_project_with_passing_suite(
    name: str, topology: str, store: EventStore
) -> None:
    # per-task checks (a sandboxed import each) only where they can park: keeps the tests quick
    project = study_project(name, IMPORT_CHECK if name == "svgutils_p05" else None)
    result = await oracle_run(name, topology, store, project)
    assert result.status == "done", (result.tasks, result.suite)
    assert list(result.tasks.values()).count("done") == 20
    assert result.suite is not None and result.suite.ok, result.suite
    tests = len(list((study_folder(name) / "files").glob("test_*.py")))
    assert result.suite.failed == 0 and result.suite.errors == 0
    assert result.suite.passed is not None and result.suite.passed >= tests
    metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    assert metrics.tasks_done == 20 and metrics.suite_passed == result.suite.passed
    # the only failed checks are those that needed a module not written yet: they parked
    assert metrics.checks_failed == metrics.parked
    if name == "svgutils_p05" and topology == "steal":
        # tasks 11-18 import chain modules they do not declare: with 3 workers some start
        # before those exist and wait for them
        assert metrics.parked > 0


@pytest.mark.parametrize("topology", ["preassign", "decentralized"])
@pytest.mark.parametrize("name", PROJECTS)
async def test_oracle_completes_study_project_in_the_studys_rounds(
    name: str, topology: str, store: EventStore
) -> None:
    """The study's own protocol (--harness rounds), both of its modes."""
    project = study_project(name, None)
    result = await oracle_run(name, topology, store, project, harness="rounds")
    assert result.status == "done", result.tasks
    assert list(result.tasks.values()).count("done") == 20
    assert result.suite is not None and result.suite.ok, result.suite
    assert result.suite.failed == 0 and result.suite.errors == 0


@pytest.mark.slow
async def test_pytest_checks_park_on_modules_of_undeclared_dependencies(store: EventStore) -> None:
    """Each task checked by its own shipped test file, as a user would run the study."""
    name = "svgutils_p05"
    project = study_project(
        name, check="{python} -m pytest -q -p no:cacheprovider test_{module}.py"
    )
    result = await oracle_run(name, "steal", store, project)
    assert result.status == "done", result.tasks
    events = store.events(result.run_id)
    parked = [e.data for e in events if e.type == "task_parked"]
    assert parked and all(p["reason"].startswith("needs ") for p in parked)
    owners = {t.id: t.files[0][:-3] for t in project.tasks}
    for event in parked:
        assert owners[event["waiting_on"]] in event["reason"]
    attempts = [e.data for e in events if e.type == "task_attempt"]
    assert len(attempts) == 20  # parking re-checks: no task was asked twice


def test_shipped_tests_fail_without_solutions(tmp_path: Path) -> None:
    """The shipped tests can fail: a suite without the solutions does not pass (collected
    test modules import the missing solution modules)."""
    import os
    import subprocess
    import sys

    folder = study_folder("mathutilities20_p05") / "files"
    broken = tmp_path / "work"
    broken.mkdir()
    for path in folder.glob("*.py"):
        (broken / path.name).write_text(path.read_text())
    (broken / "add.py").write_text("def add(a, b):\n    return a - b\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_add.py"],
        cwd=broken,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "1 failed" in done.stdout
