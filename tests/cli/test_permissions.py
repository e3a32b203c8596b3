"""An event log the user cannot write, run as an unprivileged user (permissions never bite root).

CI runs as root, so the test drops to ``nobody`` with ``setpriv`` (or ``runuser``); as any other
user it runs as that user. It skips only as root with no way to drop privileges.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import SCRIPTED_TEAM, assert_clean_error, lmteams

NOBODY = 65534


def unprivileged_prefix() -> list[str] | None:
    """The command prefix that runs a program as an unprivileged user, or None if there is none."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


PREFIX = unprivileged_prefix()
pytestmark = pytest.mark.skipif(
    PREFIX is None, reason="running as root with neither setpriv nor runuser to drop privileges"
)


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder the unprivileged user can enter and read but not write (pytest's are private)."""
    root = Path(tempfile.mkdtemp(prefix="lmteams-perm-"))
    root.chmod(0o755)
    (root / "team.yaml").write_text(SCRIPTED_TEAM)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def as_user(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PREFIX is not None
    return subprocess.run(
        [*PREFIX, sys.executable, "-m", "lmteams.cli.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(cwd), "COLUMNS": "160"},
    )


def can_run_python(cwd: Path) -> None:
    assert PREFIX is not None
    probe = subprocess.run(
        [*PREFIX, sys.executable, "-c", "import lmteams"], cwd=cwd, capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"the unprivileged user cannot run this Python: {probe.stderr.strip()[-200:]}")


def test_a_read_only_event_log_file_is_one_line_and_exit_2(place: Path) -> None:
    can_run_python(place)
    db = place / "log.db"
    made = lmteams("ask", "What is 2 + 2?", "-t", "team.yaml", "--db", str(db), cwd=place)
    assert made.returncode == 0, made.stderr
    for leftover in (place / "log.db-wal", place / "log.db-shm"):
        leftover.unlink(missing_ok=True)
    db.chmod(0o444)
    for args in (["ask", "What is 2 + 2?", "-t", "team.yaml", "--json"], ["runs"]):
        proc = as_user(*args, "--db", str(db), cwd=place)
        assert proc.returncode == 2, proc.stderr
        assert_clean_error(proc, f"cannot open the event log {db}", "readonly database")
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


@pytest.mark.parametrize(
    ("db", "problem"),
    [
        ("log.db", "unable to open database file"),  # the folder exists but is not writable
        ("new/log.db", "Permission denied: new"),  # its folder cannot be made
        (None, "Permission denied: .lmteams"),  # the default, ./.lmteams/lmteams.db
    ],
)
def test_a_read_only_folder_is_one_line_and_exit_2(
    place: Path, db: str | None, problem: str
) -> None:
    can_run_python(place)
    args = ["ask", "What is 2 + 2?", "-t", "team.yaml"] + (["--db", db] if db else [])
    proc = as_user(*args, cwd=place)
    assert proc.returncode == 2, proc.stderr
    assert_clean_error(proc, "cannot open the event log", problem)
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
