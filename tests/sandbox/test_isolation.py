"""Where isolation is missing: refused unless opted in; when opted in, said in output and log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lmteams import sandbox
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError, SandboxUnavailable
from lmteams.sandbox import Isolation, python_argv, run_sandboxed
from lmteams.sandbox_settings import SandboxLimits
from lmteams.scheduling.project import load_project, parse_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team
from lmteams.tools.python_tool import PythonToolOptions, run_program

from ..cli.test_cli import assert_clean_error
from .conftest import full_isolation


@pytest.fixture
def no_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without namespaces (macOS, a locked-down container)."""
    monkeypatch.setattr(
        sandbox, "sandbox_isolation", lambda network_allowed=False: (Isolation(), "no unshare")
    )


async def test_missing_isolation_is_refused_before_the_program_runs(
    no_namespaces: None, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(SandboxUnavailable) as info:
        await run_sandboxed(python_argv(), files={"main.py": f"open({str(marker)!r}, 'w')"})
    assert not marker.exists()
    message = str(info.value)
    assert "\n" not in message
    assert "missing: files, processes, process limit, network" in message
    assert "no unshare" in message and "isolation: best_effort" in message


async def test_best_effort_runs_and_says_what_is_missing(no_namespaces: None) -> None:
    limits = SandboxLimits(isolation="best_effort")
    result = await run_sandboxed(python_argv(), files={"main.py": "print('ran')"}, limits=limits)
    assert result.stdout == "ran\n" and result.ok
    first = result.stderr.splitlines()[0]
    assert first.startswith("lmteams sandbox: weak isolation, missing: files")
    assert not result.files_isolated and not result.process_limited
    assert result.isolation_note.startswith("weak: files")


async def test_an_escaped_child_holding_the_output_open_does_not_hang_the_run(
    no_namespaces: None,
) -> None:
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(5)'],"
        " start_new_session=True)\n"
        "print('parent done', flush=True)\n"
    )
    limits = SandboxLimits(isolation="best_effort", time_limit_s=1)
    result = await run_sandboxed(python_argv(), files={"main.py": code}, limits=limits)
    assert result.timed_out  # its output never closed within the time limit
    assert result.stdout == "parent done\n"


async def test_allowed_network_is_not_reported_missing(no_namespaces: None) -> None:
    limits = SandboxLimits(isolation="best_effort", network=True)
    result = await run_sandboxed(python_argv(), files={"main.py": "pass"}, limits=limits)
    assert "network" not in result.missing and result.missing


async def test_python_tool_refuses_too(no_namespaces: None) -> None:
    with pytest.raises(SandboxUnavailable):
        await run_program("print(1)")
    options = PythonToolOptions(sandbox=SandboxLimits(isolation="best_effort"))
    assert (await run_program("print(1)", options)).stdout == "1\n"


def checked_project(isolation: str):  # type: ignore[no-untyped-def]
    return parse_project(
        {
            "sandbox": {"isolation": isolation},
            "tasks": [{"id": "a", "files": ["a.py"], "check": "true"}],
        },
        source="project.yaml",
    )


async def test_a_run_with_checks_is_refused_before_any_model_call(
    no_namespaces: None, store: EventStore
) -> None:
    spec, backends = scripted_team(1, project_script, latency_s=0.01)
    with pytest.raises(SandboxUnavailable):
        await run_project(
            spec,
            checked_project("required"),
            store,
            RunSettings(topology="steal", workers=1),
            backends=backends,
        )
    assert backends["scripted"].calls == 0  # type: ignore[attr-defined]


async def test_an_opted_in_run_logs_what_is_missing(no_namespaces: None, store: EventStore) -> None:
    spec, backends = scripted_team(1, project_script, latency_s=0.01)
    result = await run_project(
        spec,
        checked_project("best_effort"),
        store,
        RunSettings(topology="steal", workers=1),
        backends=backends,
    )
    assert result.status == "done"
    [weak] = store.events(result.run_id, types=["sandbox_weak"])
    assert weak.data["missing"][0].startswith("files")
    [check] = store.events(result.run_id, types=["check_run"])
    assert check.data["sandbox"].startswith("weak: files")


@full_isolation
async def test_checks_here_run_fully_isolated(store: EventStore) -> None:
    spec, backends = scripted_team(1, project_script, latency_s=0.01)
    result = await run_project(
        spec,
        checked_project("required"),
        store,
        RunSettings(topology="steal", workers=1),
        backends=backends,
    )
    assert not store.events(result.run_id, types=["sandbox_weak"])
    [check] = store.events(result.run_id, types=["check_run"])
    assert check.data["ok"] and check.data["sandbox"] == "full"


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("isolation: maybe", "sandbox.isolation"),
        ("max_processes: 0", "sandbox.max_processes"),
        ("max_processes: many", "sandbox.max_processes"),
    ],
)
def test_bad_sandbox_settings_name_file_and_field(tmp_path: Path, setting: str, field: str) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(f"sandbox: {{{setting}}}\ntasks: [{{id: a, files: [a.py]}}]\n")
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert str(path) in str(info.value) and field in str(info.value)


PATCHED_CLI = """
import sys
from lmteams import sandbox
sandbox.sandbox_isolation = lambda network_allowed=False: (sandbox.Isolation(), "no unshare")
from lmteams.cli.app import main
sys.argv = ["lmteams", *sys.argv[1:]]
main()
"""

TEAM = """
name: scripted-coders
models:
  m: {backend: scripted, script: "lmteams.testing:project_script", latency_s: 0.01}
defaults: {model: m}
nodes: [{name: w1}]
"""


def test_cli_refusal_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    (tmp_path / "project.yaml").write_text("tasks: [{id: a, files: [a.py], check: 'true'}]\n")
    argv = ["run", "project.yaml", "--team", "team.yaml", "--workers", "1"]
    proc = subprocess.run(
        [sys.executable, "-c", PATCHED_CLI, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_clean_error(proc, "cannot isolate model-written code", "isolation: best_effort")
    assert len(proc.stderr.strip().splitlines()) == 1
