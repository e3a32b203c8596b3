"""Success rules, the final suite, files a project brings, undeclared writes, tries on resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lmteams.analysis.metrics import compute
from lmteams.cli.errors import run_exit_code
from lmteams.coordinator.resume import resume_project
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.models.scripted import ScriptedCall
from lmteams.scheduling.project import ProjectSpec, parse_project
from lmteams.state.store import EventStore
from lmteams.testing import scripted_team

WRONG = "add.py\n```python\ndef add(a, b):\n    return a - b\n```"
RIGHT = "add.py\n```python\ndef add(a, b):\n    return a + b\n```"
PLUGINLESS = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {python} -m pytest -q"


def project(tmp_path: Path, *, check: str | None = None, **fields: object) -> ProjectSpec:
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    (files / "test_add.py").write_text(
        "from add import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    spec = parse_project(
        {
            "project": "adder",
            "max_check_retries": 1,
            "suite": PLUGINLESS,
            "tasks": [{"id": "add", "files": ["add.py"], "check": check}],
            **fields,
        },
        source="t",
    )
    return spec.with_files(files)


async def run(spec: ProjectSpec, store: EventStore, reply: str, **settings: object):  # type: ignore[no-untyped-def]
    team, backends = scripted_team(1, lambda call: reply)
    return await run_project(
        team, spec, store, RunSettings(workers=1, **settings), backends=backends
    )


CHECK = '{python} -c "from add import add; assert add(2, 3) == 5"'


async def test_declared_marks_done_what_the_node_wrote_and_records_the_failing_suite(
    tmp_path: Path, store: EventStore
) -> None:
    result = await run(project(tmp_path, check=CHECK), store, WRONG, success="declared")
    assert result.status == "done" and result.success == "declared"
    assert result.suite is not None and not result.suite.ok
    assert (result.suite.passed, result.suite.failed) == (0, 1)
    events = store.events(result.run_id)
    assert not [e for e in events if e.type == "check_run"]  # the study's rule: no gate
    metrics = compute(result.run_id, events, None)
    assert metrics.suite_ok is False and metrics.suite_failed == 1


async def test_checks_gate_each_task_and_list_the_failure(
    tmp_path: Path, store: EventStore
) -> None:
    result = await run(project(tmp_path, check=CHECK), store, WRONG)
    assert result.status == "partial" and result.tasks == {"add": "failed"}
    metrics = compute(result.run_id, store.events(result.run_id), None)
    assert [(p.task, p.state) for p in metrics.problems] == [("add", "failed")]
    assert "AssertionError" in metrics.problems[0].reason
    assert run_exit_code(result) == 4


async def test_suite_rule_fails_a_run_whose_tasks_passed_but_suite_did_not(
    tmp_path: Path, store: EventStore
) -> None:
    # the task's own check is too weak to catch the bug; the suite catches it
    weak = '{python} -c "import add"'
    result = await run(project(tmp_path, check=weak), store, WRONG, success="suite")
    assert result.tasks == {"add": "done"}
    assert result.status == "suite_failed" and run_exit_code(result) == 4
    good = await run(project(tmp_path, check=weak), store, RIGHT, success="suite")
    assert good.status == "done" and good.suite is not None and good.suite.passed == 1


def test_an_unknown_success_rule_is_bad_input() -> None:
    with pytest.raises(ConfigError) as info:
        RunSettings(success="vibes")
    assert str(info.value) == "--success: unknown success 'vibes'; one of: declared, checks, suite"


async def test_a_reply_rewriting_a_brought_file_is_refused_and_logged(
    tmp_path: Path, store: EventStore
) -> None:
    reply = RIGHT + "\n\ntest_add.py\n```python\ndef test_add():\n    pass\n```"
    spec = project(tmp_path)
    result = await run(spec, store, reply, success="suite")
    assert result.status == "done"
    events = store.events(result.run_id)
    refused = [e.data for e in events if e.type == "write_refused"]
    assert [(r["path"], r["status"]) for r in refused] == [("test_add.py", "read_only")]
    assert (Path(result.workspace) / "test_add.py").read_text().endswith("== 5\n")
    listed = next(e.data for e in events if e.type == "project_files")
    assert listed["paths"] == ["test_add.py"] and listed["read_only"] == ["test_add.py"]
    metrics = compute(result.run_id, events, None)
    assert metrics.read_only_refused == 1 and metrics.undeclared_writes == 0


async def test_writing_outside_the_declared_files_is_logged_and_counted(
    tmp_path: Path, store: EventStore
) -> None:
    reply = RIGHT + "\n\nhelpers.py\n```python\nX = 1\n```"
    result = await run(project(tmp_path), store, reply)
    events = store.events(result.run_id)
    undeclared = [e.data for e in events if e.type == "undeclared_write"]
    assert [(u["task"], u["path"]) for u in undeclared] == [("add", "helpers.py")]
    assert compute(result.run_id, events, None).undeclared_writes == 1


async def test_a_resumed_task_keeps_its_retry_limit(tmp_path: Path) -> None:
    """Killed during its second try of two, the task gets that try back, never a third."""
    spec = project(tmp_path, check=CHECK)
    store = EventStore(tmp_path / "crash.db")
    team, backends = scripted_team(1, lambda call: WRONG)
    running = asyncio.ensure_future(
        run_project(team, spec, store, RunSettings(workers=1), backends=backends)
    )
    while not running.done():
        runs = store.runs()
        if runs and len(store.events(runs[0].run_id, types=["check_run"])) >= 1:
            attempts = store.events(runs[0].run_id, types=["task_attempt"])
            if len(attempts) >= 2:
                break
        await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    run_id = store.runs()[0].run_id
    result = await resume_project(store, run_id, backends=backends)
    assert result.tasks == {"add": "failed"}
    attempts = [e.data["attempt"] for e in store.events(run_id, types=["task_attempt"])]
    assert attempts == [1, 2]  # max_check_retries 1: two tries in all, across both segments
    metrics = compute(run_id, store.events(run_id), spec.graph())
    assert metrics.segments == 2 and metrics.active_s is not None
    assert metrics.total_s is not None and metrics.active_s <= metrics.total_s


def script_that_imports(call: ScriptedCall) -> str:
    from lmteams.testing import project_script

    if "Write: user.py" in call.prompt:
        return "user.py\n```python\nfrom base import VALUE\nDOUBLE = 2 * VALUE\n```"
    if "Write: base.py" in call.prompt:
        return "base.py\n```python\nVALUE = 21\n```"
    return project_script(call)


def importing_project(slow_check: str) -> ProjectSpec:
    """user imports base, which waits for slow; the check of ``slow_check``'s module takes
    1.5 s, so that the order in which the checks end is the test's, not the machine's. No retry
    to spend: only parking (or checking again) can save user."""
    return parse_project(
        {
            "max_check_retries": 0,
            "check": (
                f"{{python}} -c \"import time; time.sleep(1.5 if '{{module}}' == '{slow_check}' "
                'else 0); import {module}"'
            ),
            "tasks": [
                {"id": "user", "files": ["user.py"], "description": "from base import VALUE"},
                {"id": "slow", "files": ["slow.py"]},
                {"id": "base", "files": ["base.py"], "dependencies": ["slow"]},
            ],
        },
        source="t",
    )


async def test_a_check_needing_an_undeclared_module_parks_until_it_lands(
    tmp_path: Path, store: EventStore
) -> None:
    spec = importing_project("slow")  # user's check ends while base is still to come
    team, backends = scripted_team(2, script_that_imports)
    result = await run_project(
        team, spec, store, RunSettings(topology="steal", workers=2), backends=backends
    )
    assert result.status == "done", result.tasks
    events = store.events(result.run_id)
    parked = [e.data for e in events if e.type == "task_parked"]
    assert [(p["task"], p["waiting_on"]) for p in parked] == [("user", "base")]
    assert parked[0]["reason"] == "needs base"
    asked = [e.data["task"] for e in events if e.type == "task_attempt"]
    assert asked.count("user") == 1  # re-checked after base landed, not asked again
    rechecks = [e.data for e in events if e.type == "check_run" and e.data.get("recheck")]
    assert [(c["task"], c["ok"]) for c in rechecks] == [("user", True)]
    assert compute(result.run_id, events, spec.graph()).parked == 1


async def test_a_resumed_run_keeps_its_budget(tmp_path: Path) -> None:
    """What was spent before the coordinator died still counts: the resumed run stops
    where the uninterrupted one stopped, not 1.6x further."""
    from lmteams.faults.config import BudgetSpec
    from lmteams.runtime.clock import VirtualClock
    from lmteams.scheduling.project import load_project
    from lmteams.testing import project_script

    from ..scheduling.test_graph import STUDY

    study = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p05"))

    def team():  # type: ignore[no-untyped-def]
        spec, backends = scripted_team(1, project_script, latency_s=1.0)
        return spec.model_copy(update={"budget": BudgetSpec(max_tokens=3000)}), backends

    spec, backends = team()
    with EventStore(tmp_path / "clean.db") as clean, VirtualClock():
        expected = await run_project(spec, study, clean, RunSettings(workers=1), backends=backends)
    assert expected.status == "stopped"
    done = sum(s == "done" for s in expected.tasks.values())

    spec, backends = team()
    store = EventStore(tmp_path / "crash.db")
    with VirtualClock():
        running = asyncio.ensure_future(
            run_project(spec, study, store, RunSettings(workers=1), backends=backends)
        )
        await asyncio.sleep(0)
        while len(store.events(store.runs()[0].run_id, types=["task_done"])) < done // 2:
            await asyncio.sleep(0.25)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        result = await resume_project(store, store.runs()[0].run_id, backends=backends)
    assert result.status == "stopped"
    assert sum(s == "done" for s in result.tasks.values()) == done


async def test_a_check_that_ran_before_its_module_landed_runs_again(store: EventStore) -> None:
    """user's check starts in a copy of the workspace without base.py and ends after base is
    done: it failed on a module that exists now, so it runs again instead of failing."""
    spec = importing_project("user")
    team, backends = scripted_team(2, script_that_imports)
    result = await run_project(
        team, spec, store, RunSettings(topology="steal", workers=2), backends=backends
    )
    assert result.status == "done", result.tasks
    checks = [e.data for e in store.events(result.run_id) if e.type == "check_run"]
    user = [(c["ok"], c.get("recheck")) for c in checks if c["task"] == "user"]
    assert user == [(False, None), (True, 1)]
    assert [c["task"] for c in checks].index("base") < [c["task"] for c in checks].index("user")
