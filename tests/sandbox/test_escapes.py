"""Each escape of issue 11 section 2, tried from inside the sandbox, must be blocked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.sandbox import SandboxResult, python_argv, run_sandboxed
from lmteams.sandbox_settings import SandboxLimits
from lmteams.scheduling.project import parse_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from .conftest import full_isolation

pytestmark = full_isolation


async def run_python(code: str, *, hide: tuple[Path, ...] = (), **limits: object) -> SandboxResult:
    return await run_sandboxed(
        python_argv(),
        files={"main.py": code},
        limits=SandboxLimits.model_validate(limits),
        hide=hide,
    )


TRY_WRITE = """
import sys
for path in sys.argv[1:] or PATHS:
    try:
        with open(path, "a") as f:
            f.write("tampered")
        print("wrote", path)
    except OSError as e:
        print("blocked", path, e.strerror)
"""


async def test_cannot_write_a_file_outside_the_work_folder(visible_dir: Path) -> None:
    decoy = visible_dir / "events.db"  # stands in for an event log the program knows about
    decoy.write_text("original")
    decoy.chmod(0o666)
    fresh = visible_dir / "new-file.txt"
    paths = [str(decoy), str(fresh), f"{sys.prefix}/lmteams-sandbox-escape.txt"]
    result = await run_python(f"PATHS = {paths!r}\n{TRY_WRITE}")
    assert result.files_isolated
    assert result.returncode == 0, result.stderr
    assert "wrote" not in result.stdout
    assert result.stdout.count("Read-only file system") == 3
    assert decoy.read_text() == "original"
    assert not fresh.exists() and not Path(paths[2]).exists()


async def test_the_work_folder_is_writable() -> None:
    result = await run_python(f"PATHS = ['out.txt']\n{TRY_WRITE}\nprint(open('out.txt').read())")
    assert "wrote out.txt" in result.stdout and "tampered" in result.stdout


async def test_hidden_folders_are_invisible(visible_dir: Path) -> None:
    log_folder = visible_dir / "logs"
    log_folder.mkdir()
    log_folder.chmod(0o755)
    (log_folder / "lmteams.db").write_text("events")
    code = (
        "import os\n"
        f"print('listing', os.listdir({str(log_folder)!r}))\n"
        f"print('exists', os.path.exists({str(log_folder / 'lmteams.db')!r}))\n"
    )
    result = await run_python(code, hide=(log_folder,))
    assert "listing []" in result.stdout and "exists False" in result.stdout


async def test_a_secret_in_home_cannot_be_read(
    visible_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = visible_dir / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o755)
    home.chmod(0o755)
    secret = home / ".ssh" / "id_token"
    secret.write_text("s3cr3t-home-value")
    monkeypatch.setenv("HOME", str(home))
    code = (
        f"try:\n    print('read', open({str(secret)!r}).read())\n"
        "except OSError as e:\n    print('blocked', e.strerror)\n"
    )
    result = await run_python(code)
    assert "s3cr3t-home-value" not in result.stdout
    assert "blocked" in result.stdout


async def test_the_real_home_is_hidden_but_the_interpreter_still_runs() -> None:
    home = Path.home()
    code = f"import os, json\nprint(os.listdir({str(home)!r}))\nimport json; print('imported')"
    result = await run_python(code)
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
    entries = result.stdout.splitlines()[0]
    # only what the interpreter needs is bound back (a venv or pyenv under home), no files
    for item in home.iterdir():
        if item.is_file():
            assert repr(item.name) not in entries


async def test_a_fork_bomb_stops_at_the_process_cap() -> None:
    code = (
        "import os, time\nn = 0\n"
        "for _ in range(200):\n"
        "    try:\n        pid = os.fork()\n"
        "    except OSError as e:\n        print('fork refused', e.errno); break\n"
        "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "    n += 1\n"
        "print('forked', n, flush=True)\n"
    )
    result = await run_python(code, max_processes=16, time_limit_s=20)
    assert result.process_limited
    assert "fork refused" in result.stdout, result.stdout + result.stderr
    forked = int(result.stdout.split("forked")[1].split()[0])
    assert forked < 16
    assert not result.timed_out  # the sleeping children died with the program


async def test_an_endless_fork_bomb_ends_at_the_time_limit() -> None:
    code = (
        "import os\nprint('bombing', flush=True)\n"
        "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = await run_python(code, max_processes=16, time_limit_s=2)
    assert result.timed_out and result.returncode is None
    assert result.stdout.startswith("bombing")


async def test_a_check_cannot_touch_the_event_log(visible_dir: Path) -> None:
    store = EventStore(visible_dir / "log" / "lmteams.db")
    store.path.parent.chmod(0o777)
    store.path.chmod(0o666)  # so that what blocks the check is the sandbox, not permissions
    tamper = (
        f"{sys.executable} -c \"import os; print('visible', os.path.exists('{store.path}')); "
        f"open('{store.path}', 'ab').write(b'x')\""
    )
    project = parse_project(
        {
            "max_check_retries": 0,
            "tasks": [{"id": "a", "files": ["a.py"], "check": tamper}],
        },
        source="project.yaml",
    )
    spec, backends = scripted_team(1, project_script, latency_s=0.1)
    try:
        # real time: under a virtual clock the check's time limit would pass at once
        result = await run_project(
            spec, project, store, RunSettings(topology="steal", workers=1), backends=backends
        )
        checks = store.events(result.run_id, types=["check_run"])
    finally:
        store.close()
    assert len(checks) == 1 and not checks[0].data["ok"]
    assert "visible False" in checks[0].data["summary"]  # hidden, not merely read-only
    assert "Read-only file system" in checks[0].data["summary"]
    assert checks[0].data["sandbox"] == "full"
    reopened = EventStore(store.path)
    try:
        assert reopened.events(result.run_id, types=["check_run"])
    finally:
        reopened.close()
