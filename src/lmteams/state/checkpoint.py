"""WAL checkpoints of the event log, on a thread of their own.

SQLite checkpoints a WAL database from inside the commit that crosses its threshold (1,000
pages): that one commit copies the WAL into the database file and syncs both, which on a
virtual machine's disk cost 30 to 250 ms, so every few hundred asks one stalled the event loop
and the stalls came to a sixth of an ask's cost at four nodes (measured side by side). Here the
writer's automatic checkpoint is off and a thread with its own connection runs passive
checkpoints instead: they never take the write lock, so commits go on meanwhile, and the thread
waits in SQLite (which releases the GIL) for the disk. Nothing about durability changes: a
commit is in the WAL before it returns, whether or not it has been checkpointed yet.

The WAL starts over only after a checkpoint has copied every frame in it, which a thread never
sees while commits keep coming. So once the WAL is long, the thread catches up as far as it can
and then leaves the last few frames to the writer: one more passive pass on the writer's own
connection, right after a commit, which nothing else can be writing during (the thread used to
run a RESTART checkpoint instead: it held the write lock while it copied, and a commit that
met the lock slept in SQLite's busy handler in steps of 1, 2, 5, 10, 15 ms..., past the moment
the lock was free: commits of 18 and 33 ms, measured).

The thread starts on the first checkpoint that is due, so a short-lived store never starts one.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

#: Rows committed (each commit counted as :data:`COMMIT_WEIGHT` rows more, for the pages every
#: commit writes) before a checkpoint is due: about 4 MB of WAL for the log's rows.
CHECKPOINT_ROWS = 8192
COMMIT_WEIGHT = 16
#: WAL frames (pages) past which the WAL is also made to start over: 8 MiB at the log's
#: 4 KiB pages (32 MiB for a log made with 16 KiB pages before 2026-12-02).
RESTART_FRAMES = 2048
#: Before the writer's pass, passive passes (at most this many) until fewer frames than this
#: came during one: what is left for the writer to copy is then small.
CATCH_UP_PASSES = 3
CAUGHT_UP_FRAMES = 32


class Checkpointer:
    """Passive WAL checkpoints of the database at ``path``, run by a background thread."""

    def __init__(self, path: Path, *, every_rows: int = CHECKPOINT_ROWS) -> None:
        self.path = path
        self.every_rows = every_rows
        self.checkpoints = 0  # the thread's passes, for tests and benchmarks
        self.restarts = 0  # the writer's passes that copied the whole WAL (it then starts over)
        #: The thread caught up: the writer's next commit copies what is left (:meth:`finish`).
        self.finish_due = False
        self._due = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        #: The thread could not open the database: the writer must checkpoint for itself.
        self.failed = False

    def committed(self, rows: int) -> None:
        """Count one commit of ``rows`` rows; wake the thread once a checkpoint is due."""
        self._due += rows + COMMIT_WEIGHT
        if self._due < self.every_rows:
            return
        self._due = 0
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"lmteams-checkpoint:{self.path.name}", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it is running, if any)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop = True
        self._wake.set()
        thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=0
            )
        except sqlite3.Error:
            self.failed = True
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    self._checkpoint(conn)
                except sqlite3.Error:
                    continue  # another process checkpoints: the next round catches up
        finally:
            conn.close()

    def finish(self, conn: sqlite3.Connection) -> None:
        """Copy what is left of the WAL on the writer's connection ``conn``, between commits
        (so none waits for it); the next commit then starts the WAL over, unless a reader of
        another connection still reads from it."""
        self.finish_due = False
        try:
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        except sqlite3.Error:
            return  # the commit before it stands; the thread's next round tries again
        if busy:  # the thread is in a pass of its own: try again after the next commit
            self.finish_due = True
        elif copied == frames:
            self.restarts += 1

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        # The copy and its syncs, beside the writer's commits (a passive checkpoint takes no
        # lock that a writer needs).
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        self.checkpoints += 1
        if frames < RESTART_FRAMES or self.finish_due:
            return
        # Copy what came meanwhile, a pass at a time, while the passes keep finding new frames:
        # the less the writer's pass is left, the shorter the commit that runs it.
        for _ in range(CATCH_UP_PASSES):
            _, now, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
            caught_up = now - frames < CAUGHT_UP_FRAMES
            frames = now
            if caught_up:
                break
        self.finish_due = True
