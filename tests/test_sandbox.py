from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from lmteams.sandbox import (
    Isolation,
    SandboxResult,
    _kept_folders,
    hidden_folders,
    network_isolation_available,
    process_isolation_available,
    python_argv,
    run_sandboxed,
    sandbox_isolation,
)
from lmteams.sandbox_settings import SandboxLimits


async def run_python(code: str, **limits: float) -> SandboxResult:
    return await run_sandboxed(
        python_argv(), files={"main.py": code}, limits=SandboxLimits.model_validate(limits)
    )


async def test_runs_a_program_and_captures_output() -> None:
    result = await run_python("print('hello'); import sys; sys.exit(3)")
    assert result.returncode == 3 and result.stdout.strip() == "hello"
    assert not result.ok


async def test_time_limit_kills_the_program() -> None:
    result = await run_python("import time\nwhile True: time.sleep(0.1)", time_limit_s=1)
    assert result.timed_out and result.returncode is None
    assert result.duration_s < 10
    assert "timed out" in result.summary()


async def test_memory_limit_stops_a_hog() -> None:
    result = await run_python("x = bytearray(600 * 1024 * 1024)\nprint('allocated')", memory_mb=256)
    assert result.returncode != 0
    assert "allocated" not in result.stdout
    assert "MemoryError" in result.stderr


async def test_secrets_are_not_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-super-secret")
    monkeypatch.setenv("MY_TOKEN", "hunter2")
    result = await run_python("import os; print(sorted(os.environ))")
    assert "OPENAI_API_KEY" not in result.stdout and "MY_TOKEN" not in result.stdout
    assert "sk-super-secret" not in result.stdout


@pytest.mark.skipif(not network_isolation_available(), reason="no network namespaces here")
async def test_no_network() -> None:
    code = (
        "import socket\n"
        "s = socket.socket()\ns.settimeout(2)\n"
        "try:\n    s.connect(('127.0.0.1', 9))\n    print('connected')\n"
        "except OSError as e:\n    print('blocked', e.errno)\n"
        "import os; print(os.listdir('/sys/class/net'))"
    )
    result = await run_python(code)
    assert result.network_isolated
    assert "connected" not in result.stdout and "blocked" in result.stdout


async def test_works_on_a_copy_of_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("VALUE = 41\n")
    result = await run_sandboxed(
        python_argv(),
        workdir=tmp_path,
        files={
            "main.py": "import mod\nopen('mod.py','w').write('VALUE = 0')\nprint(mod.VALUE + 1)"
        },
    )
    assert result.stdout.strip() == "42"
    assert (tmp_path / "mod.py").read_text() == "VALUE = 41\n"  # original untouched


async def test_files_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        await run_sandboxed(["true"], files={"../evil.py": "x"})


async def test_cancellation_kills_the_process() -> None:
    task = asyncio.ensure_future(run_python("import time; time.sleep(60)"))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_output_is_capped_keeping_head_and_tail() -> None:
    result = await run_python("print('a' * 50000 + 'z' * 50000)", output_limit_bytes=1000)
    assert len(result.stdout) <= 1000
    assert result.stdout.startswith("a" * 400) and result.stdout.endswith("z" * 400 + "\n")
    assert "bytes cut ...]" in result.stdout
    assert result.output_cut_bytes > 98000


@pytest.mark.skipif(not process_isolation_available(), reason="no process namespaces here")
async def test_other_processes_environments_are_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proc-leak-check")
    code = (
        "import glob\nleaks = 0\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n        leaks += b'sk-proc-leak-check' in open(path, 'rb').read()\n"
        "    except OSError:\n        pass\n"
        "import os\nprint('leaks', leaks, 'pid', os.getpid())"
    )
    result = await run_python(code)
    assert result.process_isolated
    assert "leaks 0" in result.stdout and "pid 1" in result.stdout


def test_hidden_folders_cover_home_temp_and_event_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LMTEAMS_DB", str(tmp_path / "logs" / "runs.db"))
    hidden = hidden_folders([tmp_path / "extra"])
    for folder in (home, tmp_path / "logs", Path.cwd() / ".lmteams", tmp_path / "extra"):
        assert str(folder.resolve()) in hidden
    assert "/tmp" in hidden and "/var/tmp" in hidden and "/" not in hidden


def test_a_kept_folder_never_uncovers_a_hidden_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lib").mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path), str(tmp_path / "lib")])
    root = str(tmp_path.resolve())
    kept = _kept_folders([root + "/.lmteams"])
    assert root not in kept  # it holds the hidden folder
    assert root + "/lib" in kept and os.path.realpath(sys.prefix) in kept


def test_isolation_lists_what_is_missing_in_a_fixed_order() -> None:
    assert Isolation(True, True, True, True).missing() == ()
    gaps = Isolation(network=True).missing()
    assert [g.split(" (")[0] for g in gaps] == ["files", "processes", "process limit"]
    assert "network" in Isolation().missing()[-1]
    assert not any("network" in g for g in Isolation().missing(network_allowed=True))


@pytest.mark.skipif(sandbox_isolation()[1] is not None, reason="no namespaces here")
async def test_a_missing_program_is_one_line() -> None:
    result = await run_sandboxed(["/nonexistent/program"])
    assert result.returncode == 127
    assert result.stderr == (
        "lmteams sandbox: cannot run /nonexistent/program: No such file or directory\n"
    )
