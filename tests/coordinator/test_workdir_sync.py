"""The run's working folder is complete before any check runs in it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from lmteams.coordinator import tasks
from lmteams.coordinator.tasks import TaskRunner


def bare_runner(workdir: Path) -> TaskRunner:
    """Only what ``sync_workdir`` touches (a whole runner needs a team and a project)."""
    runner = TaskRunner.__new__(TaskRunner)
    runner.workdir = workdir
    runner._dirty = {"test_a.py", "a.py"}
    runner._writer = None
    runner._syncing = asyncio.Lock()
    runner.workspace = SimpleNamespace(read=lambda path: f"# {path}\n")  # type: ignore[assignment]
    return runner


async def test_a_check_waits_for_the_batch_another_check_is_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the study acceptance run: the second of two checks found nothing left to write,
    ran at once, and its shipped test file was not on disk yet."""
    writing, release = threading.Event(), threading.Event()
    write = tasks._write_files

    def held_write(root: Path, files: dict[str, str]) -> None:
        writing.set()
        release.wait(10)
        write(root, files)

    monkeypatch.setattr(tasks, "_write_files", held_write)
    runner = bare_runner(tmp_path)
    first = asyncio.create_task(runner.sync_workdir())
    assert await asyncio.to_thread(writing.wait, 10)
    second = asyncio.create_task(runner.sync_workdir())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not second.done(), "a check went ahead while the folder was half written"
    release.set()
    await asyncio.gather(first, second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "test_a.py"]


def test_mirrored_files_are_utf8_in_their_folders_and_replace_what_was_there(
    tmp_path: Path,
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "old.py").write_text("x = 'a much longer earlier version'\n" * 50)
    files = {
        "pkg/old.py": "x = 1\n",
        "pkg/deep/er/new.py": "name = 'Zoë ∑'\n",
        "top.py": "",
    }
    tasks._write_files(tmp_path, files)
    assert (tmp_path / "pkg" / "old.py").read_text() == "x = 1\n"  # cut to the new length
    assert (tmp_path / "pkg/deep/er/new.py").read_bytes() == "name = 'Zoë ∑'\n".encode()
    assert (tmp_path / "top.py").read_bytes() == b""
