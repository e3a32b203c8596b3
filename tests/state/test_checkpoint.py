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
    """Stands in for a connection: WAL frame counts as a writer keeps committing."""

    def __init__(self, frames: list[int], busy: bool = False) -> None:
        self.frames, self.sql, self.busy = iter(frames), [], busy

    def execute(self, sql: str) -> _Recording:
        self.sql.append(sql)
        frames = next(self.frames) if "wal_checkpoint" in sql else 0
        self._row = (1, -1, -1) if self.busy else (0, frames, frames)
        return self

    def fetchall(self) -> list[tuple[int, ...]]:
        return [self._row]


@pytest.mark.parametrize(
    ("frames", "passive_passes"),
    [
        ([100], 1),  # a small WAL: nothing left for the writer
        ([5000, 5400, 5410], 3),  # 400 frames came during the first pass, 10 during the next
        ([5000, 6000, 7000, 8000, 9000], 4),  # never caught up: at most CATCH_UP_PASSES more
    ],
)
def test_the_thread_catches_up_then_leaves_the_rest_to_the_writer(
    frames: list[int], passive_passes: int
) -> None:
    conn = _Recording(frames)
    checkpointer = checkpoint.Checkpointer(Path("unused.db"))
    checkpointer._checkpoint(conn)  # type: ignore[arg-type]
    # Only passive passes, which never take the write lock that a commit needs.
    assert conn.sql == ["PRAGMA wal_checkpoint(PASSIVE)"] * passive_passes
    assert checkpointer.finish_due is (frames[0] >= checkpoint.RESTART_FRAMES)


def test_the_writers_pass_is_tried_again_while_the_thread_is_in_one() -> None:
    checkpointer = checkpoint.Checkpointer(Path("unused.db"))
    checkpointer.finish_due = True
    checkpointer.finish(_Recording([9000], busy=True))  # type: ignore[arg-type]
    assert checkpointer.finish_due and checkpointer.restarts == 0
    checkpointer.finish(_Recording([9000]))  # type: ignore[arg-type]
    assert not checkpointer.finish_due and checkpointer.restarts == 1


def test_a_commit_runs_the_writers_pass_once_due(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EventStore(path) as store:
        run_id = store.new_run("x")
        _commit_ticks(store, run_id, commits=3)
        checkpointer = store._checkpointer
        assert checkpointer is not None
        checkpointer.finish_due = True  # as the thread leaves it once it has caught up
        _commit_ticks(store, run_id, commits=1)
        assert not checkpointer.finish_due and checkpointer.restarts == 1
        wal_bytes = (tmp_path / "log.db-wal").stat().st_size
        # Everything was copied, so the next commit writes at the start of the WAL again.
        _commit_ticks(store, run_id, commits=1)
        assert (tmp_path / "log.db-wal").stat().st_size == wal_bytes
        _, frames, copied = store._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert 0 < frames == copied < 20
        assert len(store.events(run_id)) == 5 * 20
