"""WAL checkpoints of the event log, on a thread of their own.

SQLite checkpoints a WAL database from inside the commit that crosses its threshold (1,000
pages): that one commit copies the WAL into the database file and syncs both, which on a
virtual machine's disk cost 30 to 250 ms, so every few hundred asks one stalled the event loop
and the stalls came to a sixth of an ask's cost at four nodes (measured side by side). Here the
writer's automatic checkpoint is off and a thread with its own connection runs passive
checkpoints instead: they never take the write lock, so commits go on meanwhile, and the thread
waits in SQLite (which releases the GIL) for the disk. Nothing about durability changes: a
commit is in the WAL before it returns, whether or not it has been checkpointed yet.

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
#: WAL frames (pages) past which a checkpoint also starts the WAL over: 8 MiB at the log's
#: 4 KiB pages (32 MiB for a log made with 16 KiB pages before 2026-12-02).
RESTART_FRAMES = 2048
#: Before it, passive passes (at most this many) until fewer frames than this came during one:
#: what is left to copy under the write lock is then small.
CATCH_UP_PASSES = 3
CAUGHT_UP_FRAMES = 32
#: How long that checkpoint waits for the write lock (and for readers to leave the WAL).
RESTART_WAIT_MS = 50


class Checkpointer:
    """Passive WAL checkpoints of the database at ``path``, run by a background thread."""

    def __init__(self, path: Path, *, every_rows: int = CHECKPOINT_ROWS) -> None:
        self.path = path
        self.every_rows = every_rows
        self.checkpoints = 0  # completed, for tests and benchmarks
        self.restarts = 0  # of those, the ones after which the WAL started over
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

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        # The copy and its syncs, beside the writer's commits (a passive checkpoint takes no
        # lock that a writer needs).
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        self.checkpoints += 1
        if frames < RESTART_FRAMES:
            return
        # The WAL starts over only once every frame in it is copied, which never happens
        # while commits keep coming: so now and then, copy what was committed meanwhile under
        # the write lock and start the WAL over. The writer waits while that copy runs (up to
        # hundreds of ms when it is large, measured), so first catch up without the lock.
        for _ in range(CATCH_UP_PASSES):
            _, now, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
            caught_up = now - frames < CAUGHT_UP_FRAMES
            frames = now
            if caught_up:
                break
        conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()[0]
        finally:
            conn.execute("PRAGMA busy_timeout=0")
        self.restarts += not busy
