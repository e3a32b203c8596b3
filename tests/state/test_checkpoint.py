"""The event log's WAL is checkpointed by a thread of its own, not inside a commit."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import lmteams.state.checkpoint as checkpoint
from lmteams.state.store import EventStore


def _commit_ticks(store: EventStore, run_id: str, commits: int, rows: int = 20) -> None:
    for c in range(commits):
        for i in range(rows):
            store.append(run_id, "tick", {"c": c, "i": i, "pad": "x" * 400})
        store.flush()


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_commits_leave_the_checkpoints_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EventStore(path) as store:
        # The writer's own (in-commit) checkpoints are off; the thread's are not.
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        run_id = store.new_run("x")
        _commit_ticks(store, run_id, commits=5)
        checkpointer = store._checkpointer
        assert checkpointer is not None and checkpointer._thread is None  # not due yet: no thread
        _commit_ticks(store, run_id, commits=checkpoint.CHECKPOINT_ROWS // 20)
        assert checkpointer._thread is not None
        assert _wait_for(lambda: checkpointer.checkpoints >= 1)
        assert len(store.events(run_id)) == 20 * (5 + checkpoint.CHECKPOINT_ROWS // 20)
    assert not (tmp_path / "log.db-wal").exists()  # the writer, closed last, removed the WAL
    assert checkpointer._thread is None
    with EventStore(path) as again:
        assert len(again.events(run_id)) == 20 * (5 + checkpoint.CHECKPOINT_ROWS // 20)


def test_the_wal_starts_over_instead_of_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 8)
    path = tmp_path / "log.db"
    with EventStore(path) as store:
        store._checkpointer = checkpoint.Checkpointer(path, every_rows=200)
        run_id = store.new_run("x")
        for _ in range(40):
            _commit_ticks(store, run_id, commits=10)
            time.sleep(0.005)  # leave the thread a moment between bursts, as a run does
        checkpointer = store._checkpointer
        assert _wait_for(lambda: checkpointer.restarts >= 1)
        # Every row is still there, in order, across the restarts.
        events = store.events(run_id)
        assert [(e.data["c"], e.data["i"]) for e in events] == [
            (c, i) for _ in range(40) for c in range(10) for i in range(20)
        ]


def test_without_a_thread_sqlite_checkpoints_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    path = tmp_path / "log.db"
    with EventStore(path) as store:
        monkeypatch.setattr(sqlite3, "connect", refuse)  # the thread's connection, opened later
        store._checkpointer = checkpoint.Checkpointer(path, every_rows=50)
        run_id = store.new_run("x")
        _commit_ticks(store, run_id, commits=3)
        assert _wait_for(lambda: store._checkpointer is None or store._checkpointer.failed)
        _commit_ticks(store, run_id, commits=1)
        assert store._checkpointer is None
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert len(store.events(run_id)) == 80


def test_a_store_in_memory_has_no_checkpointer() -> None:
    with EventStore(Path(":memory:")) as store:
        assert store._checkpointer is None
        run_id = store.new_run("x")
        _commit_ticks(store, run_id, commits=2)
        assert len(store.events(run_id)) == 40


class _Recording:
    """Stands in for the thread's connection: WAL frame counts as a writer keeps committing."""

    def __init__(self, frames: list[int]) -> None:
        self.frames, self.sql = iter(frames), []

    def execute(self, sql: str) -> _Recording:
        self.sql.append(sql)
        self._row = (0, next(self.frames), 0) if "PASSIVE" in sql or "RESTART" in sql else ()
        return self

    def fetchall(self) -> list[tuple[int, ...]]:
        return [self._row]


@pytest.mark.parametrize(
    ("frames", "passive_passes"),
    [
        ([100, 0], 1),  # a small WAL: no restart
        ([5000, 5400, 5410, 0], 3),  # 400 frames came during the first pass, 10 during the next
        ([5000, 6000, 7000, 8000, 9000, 0], 4),  # never caught up: at most CATCH_UP_PASSES more
    ],
)
def test_a_restart_first_catches_up_without_the_write_lock(
    frames: list[int], passive_passes: int
) -> None:
    conn = _Recording(frames)
    checkpointer = checkpoint.Checkpointer(Path("unused.db"))
    checkpointer._checkpoint(conn)  # type: ignore[arg-type]
    checkpoints = [s for s in conn.sql if "wal_checkpoint" in s]
    assert checkpoints[:passive_passes] == ["PRAGMA wal_checkpoint(PASSIVE)"] * passive_passes
    restarted = frames[0] >= checkpoint.RESTART_FRAMES
    assert checkpoints[passive_passes:] == (["PRAGMA wal_checkpoint(RESTART)"] if restarted else [])
