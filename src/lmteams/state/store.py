"""The durable event log: one SQLite database (WAL mode) per workspace.

Runs, every message and state change of each run, and committed model-call results live here.
Appends are buffered and committed in groups (:meth:`EventStore.flush`), so a burst of events
costs one transaction; :class:`~lmteams.state.journal.Journal` decides when to commit. (A
writer thread was tried and measured: on two cores, the GIL hand-offs cost more than the
commits they moved off the event loop.) WAL checkpoints, which SQLite would run inside a
commit now and then, run on a thread of their own (:mod:`lmteams.state.checkpoint`).

Durability (``durability=`` or ``$LMTEAMS_DURABILITY``): ``normal`` (SQLite
``synchronous=NORMAL``) survives a crash of the process; ``full`` (``synchronous=FULL``) also
survives a power loss or an operating-system crash, at the cost of an fsync per commit.

A write that finds the log locked by another process waits SQLite's busy timeout, then is tried
again after a backoff (:data:`BUSY_RETRIES` times); then :class:`StoreBusy` is raised and what
was buffered stays buffered: nothing committed is lost and the run can be resumed.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, cached_property, partial
from itertools import chain
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import orjson
from pydantic import BaseModel, ConfigDict

from lmteams.errors import ConfigError, RunNotFound, StoreError
from lmteams.messages import from_log_row
from lmteams.state.blobs import Hasher, references, restore, share
from lmteams.state.checkpoint import Checkpointer
from lmteams.state.events import Event, dumps, event_json, read_event
from lmteams.state.migrations import migrate

DEFAULT_DB = Path(".lmteams") / "lmteams.db"

Durability = Literal["normal", "full"]
DURABILITY_ENV = "LMTEAMS_DURABILITY"
_SYNCHRONOUS: dict[str, str] = {"normal": "NORMAL", "full": "FULL"}

#: Tries after the first when the log is locked by another writer, each after a backoff.
BUSY_RETRIES = 3
#: SQLite's own wait for a lock, per try.
BUSY_TIMEOUT_S = 10.0
#: First backoff between tries (doubled each time).
BUSY_BACKOFF_S = 0.25

#: Bytes per database page of a new log. Each commit writes whole pages to the WAL (about three
#: for an ask's few small rows), and the checkpoints copy them again: 16 KiB pages wrote four
#: times the bytes, and 15,000 commits of 9 rows took 3.3 to 3.6 s against 2.1 to 2.2 s at
#: 4 KiB, with half the checkpoint stalls (bench/RESULTS.md, 2026-12-02).
PAGE_SIZE = 4096
#: Bytes a WAL file keeps once it started over (SQLite's default keeps it at its largest).
WAL_SIZE_LIMIT = 32 << 20

#: Rows per INSERT statement of a commit. One statement of many rows costs far less than
#: ``executemany``'s statement per row: 513 event rows took 5.8M instructions against 9.7M, an
#: ask's 9 rows 159k against 211k, the transaction included (cachegrind, 2026-12-02); 64 rows of
#: at most 6 values stay well under SQLite's 999 bound parameters of old builds.
ROWS_PER_INSERT = 64

_T = TypeVar("_T")


class StoreBusy(StoreError):
    """The event log stayed locked by another writer past every retry."""


BUSY_TIMEOUT_ENV = "LMTEAMS_BUSY_TIMEOUT_S"


def resolve_busy_timeout_s(value: float | None = None) -> float:
    """``value``, else ``$LMTEAMS_BUSY_TIMEOUT_S``, else :data:`BUSY_TIMEOUT_S`."""
    if value is not None:
        chosen: str | float = value
        field = "busy_timeout_s"
    else:
        chosen = os.environ.get(BUSY_TIMEOUT_ENV) or BUSY_TIMEOUT_S
        field = BUSY_TIMEOUT_ENV
    try:
        seconds = float(chosen)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds <= 3600:
        raise ConfigError(
            f"must be a number of seconds from 0 to 3600, not {chosen!r}", field=field
        )
    return seconds


def resolve_durability(value: str | None = None) -> Durability:
    """``value``, else ``$LMTEAMS_DURABILITY``, else ``normal``."""
    chosen = value if value is not None else os.environ.get(DURABILITY_ENV) or "normal"
    if chosen not in _SYNCHRONOUS:
        field = "durability" if value is not None else DURABILITY_ENV
        raise ConfigError(f"must be normal or full, not {chosen!r}", field=field)
    return cast(Durability, chosen)


def default_db_path() -> Path:
    """``$LMTEAMS_DB`` if set, else ``./.lmteams/lmteams.db``."""
    return Path(os.environ.get("LMTEAMS_DB") or DEFAULT_DB)


def new_run_id(kind: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{kind}-{stamp}-{secrets.token_hex(4)}"


class RunRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    kind: str
    status: str
    created_at: float
    ended_at: float | None
    team: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None


class EventRecord(BaseModel):
    """One row of the log: ``event`` is its typed event, ``data`` the row's JSON as logged."""

    model_config = ConfigDict(frozen=True)

    seq: int
    run_id: str
    ts: float  # wall-clock unix seconds
    t: float  # seconds since the run started, on the run's clock (virtual in simulations)
    type: str
    node: str | None
    data: dict[str, Any]

    @cached_property
    def event(self) -> Event:
        """The typed event of this row (:mod:`lmteams.state.events`), read once on first use;
        a message row gives :class:`~lmteams.state.events.MessageLogged`."""
        return read_event(self.type, self.data)


_Row = tuple[str, float, float, str, str | None, str]
_CallRow = tuple[str, str, str | None, float, str]
_EndRow = tuple[str, float, str | None, str]  # status, ended_at, result, run_id


class EventStore:
    """Access to the event log, from one thread at a time (the event loop's).

    ``durability``: ``normal`` or ``full`` (default ``$LMTEAMS_DURABILITY``, else ``normal``).
    ``busy_timeout_s``: how long SQLite waits for another writer's lock, per try (default
    ``$LMTEAMS_BUSY_TIMEOUT_S``, else 10 s).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        durability: str | None = None,
        busy_timeout_s: float | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.durability = resolve_durability(durability)
        self.busy_timeout_s = busy_timeout_s = resolve_busy_timeout_s(busy_timeout_s)
        #: How a retry waits (a test replaces it to release a lock in between).
        self.sleep: Callable[[float], None] = time.sleep
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path),
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_s,
                # room for an INSERT of every row count up to ROWS_PER_INSERT, per table
                cached_statements=256,
            )
            # Only a new log takes it; an existing one keeps the page size it was made with.
            self._conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a process crash (kill -9); only a power loss
            # can drop the last transactions. FULL syncs the WAL on every commit.
            self._conn.execute(f"PRAGMA synchronous={_SYNCHRONOUS[self.durability]}")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self._busy_retry("open", lambda: migrate(self._conn))
            self._checkpointer: Checkpointer | None = None
            if str(self.path) != ":memory:":
                self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
                # A WAL that started over is cut back to this size (it is reused, not shrunk).
                self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
                self._checkpointer = Checkpointer(self.path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the event log {self.path}: {exc}") from None
        self._events: list[_Row] = []
        self._calls: list[_CallRow] = []
        # Ends of runs, committed with the events buffered before them (dropped if that fails).
        self._run_ends: list[_EndRow] = []
        # Prompt texts waiting for the next commit, and those known to be in the log.
        self._blobs: dict[str, str] = {}
        self._stored_blobs: set[str] = set()
        self._digest = Hasher()

    # -- runs ------------------------------------------------------------------------------

    def new_run(
        self,
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        team: str | None = None,
        run_id: str | None = None,
        first: Event | None = None,
    ) -> str:
        """Open a run and return its id (a fresh one unless ``run_id`` is given).

        ``first``, the run's first event (at t = 0), is committed in the same transaction as
        the run: opening a run costs one commit, not two.
        """
        chosen = run_id
        first_row = (first.type, event_json(first)) if first is not None else None
        # Ids are a second's time stamp and 32 random bits: many runs a second (a sweep, a
        # benchmark) can draw the same one, so a fresh id is drawn again when it is taken.
        for _ in range(1 if chosen is not None else 8):
            candidate = chosen or new_run_id(kind)
            try:
                self._busy_retry(
                    "write",
                    partial(self._insert_run, candidate, kind, team, params, first_row),
                    taken=True,
                )
                return candidate
            except sqlite3.IntegrityError:
                if chosen is not None:
                    raise StoreError(f"a run named {chosen} already exists") from None
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the event log {self.path}: {exc}") from None
        raise StoreError(f"cannot draw a free run id in {self.path}")

    def _insert_run(
        self,
        run_id: str,
        kind: str,
        team: str | None,
        params: dict[str, Any] | None,
        first: tuple[str, str] | None,
    ) -> None:
        now = time.time()
        run_row = (run_id, kind, now, team, dumps(params or {}))
        # The run's events start above every seq in the log now (see migration 006).
        insert = (
            "INSERT INTO runs(run_id, kind, status, created_at, team, params, first_seq) "
            "VALUES (?, ?, 'running', ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM events))"
        )
        if first is None:
            self._conn.execute(insert, run_row)
            return
        with self._transaction():
            self._conn.execute(insert, run_row)
            self._conn.execute(
                "INSERT INTO events(run_id, ts, t, type, node, data) VALUES (?,?,0.0,?,NULL,?)",
                (run_id, now, *first),
            )

    def finish_run(self, run_id: str, status: str, result: dict[str, Any] | None = None) -> None:
        """End a run now: everything buffered and the run's end, in one transaction."""
        self.end_run(run_id, status, result)
        self.flush()

    def end_run(self, run_id: str, status: str, result: dict[str, Any] | None = None) -> None:
        """Buffer the end of a run, committed by the next :meth:`flush` in one transaction
        with everything buffered (one commit, not two, to close a run). A flush that fails
        drops it and keeps the rest: the run stays open in the log, and resumable."""
        self._run_ends.append(
            (status, time.time(), dumps(result) if result is not None else None, run_id)
        )

    def set_status(self, run_id: str, status: str) -> None:
        """Set a run's status; ``running`` reopens it (a resumed run's events go on past its
        old end, so its range of events is open again)."""
        self._write(
            "UPDATE runs SET status = ?1, "
            "last_seq = CASE WHEN ?1 = 'running' THEN NULL ELSE last_seq END WHERE run_id = ?2",
            (status, run_id),
        )

    def run(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix."""
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._read(
            f"SELECT {_RUN_SELECT} FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' "
            "ORDER BY created_at LIMIT 3",
            (run_id, pattern),
        )
        exact = [r for r in rows if r[0] == run_id]
        if exact:
            return _run_record(exact[0])
        if len(rows) == 1:
            return _run_record(rows[0])
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in {self.path}")
        raise RunNotFound(f"run id prefix {run_id!r} is ambiguous in {self.path}")

    def runs(self, *, limit: int = 50, kind: str | None = None) -> list[RunRecord]:
        sql = f"SELECT {_RUN_SELECT} FROM runs"
        args: tuple[Any, ...] = ()
        if kind:
            sql += " WHERE kind = ?"
            args = (kind,)
        sql += " ORDER BY created_at DESC LIMIT ?"
        return [_run_record(r) for r in self._read(sql, (*args, limit))]

    # -- events ----------------------------------------------------------------------------

    def append(
        self,
        run_id: str,
        type: str,
        data: dict[str, Any],
        *,
        node: str | None = None,
        t: float = 0.0,
        ts: float | None = None,
    ) -> None:
        """Buffer one event; it is durable after the next :meth:`flush`."""
        self._events.append(
            (run_id, time.time() if ts is None else ts, t, type, node, json.dumps(data))
        )

    def append_json(
        self, run_id: str, type: str, data_json: str, *, node: str | None, t: float, ts: float
    ) -> None:
        """Hot-path variant of :meth:`append` for data already serialized."""
        self._events.append((run_id, ts, t, type, node, data_json))

    def share_texts(self, envelope_json: bytes) -> bytes:
        """The logged form of a long envelope: its long message contents stored once, by hash
        (see :mod:`lmteams.state.blobs`), committed with the next flush."""
        envelope = orjson.loads(envelope_json)
        texts = share(envelope, self._digest)
        if texts is None:
            return envelope_json
        for key, text in texts.items():
            if key not in self._stored_blobs:
                self._blobs[key] = text
        return orjson.dumps(envelope)

    def put_call_result(self, key: str, run_id: str, node: str | None, result_json: str) -> None:
        """Buffer a completed call's result under its idempotency key."""
        self._calls.append((key, run_id, node, time.time(), result_json))

    @property
    def pending(self) -> int:
        return len(self._events) + len(self._calls)

    def flush(self) -> int:
        """Commit every buffered event and call result in one transaction.

        Raises :class:`StoreBusy` when another writer holds the lock past every retry, and
        :class:`~lmteams.errors.StoreError` when the write fails otherwise; either way the
        buffer is kept, so a later flush can still commit it.
        """
        if not self._events and not self._calls and not self._run_ends:
            return 0
        events, calls, blobs, ends = self._events, self._calls, self._blobs, self._run_ends
        self._events, self._calls, self._blobs, self._run_ends = [], [], {}, []
        try:
            written = self._busy_retry(
                "write", lambda: self._write_batch(events, calls, blobs, ends)
            )
        except BaseException:
            # Appended while the write waited (nothing can, on one thread; kept in order anyway).
            self._events, self._calls = events + self._events, calls + self._calls
            self._blobs = {**blobs, **self._blobs}
            raise
        self._stored_blobs.update(blobs)
        return written

    def _write_batch(
        self,
        events: list[_Row],
        calls: list[_CallRow],
        blobs: dict[str, str],
        ends: list[_EndRow],
    ) -> int:
        conn = self._conn
        with self._transaction():
            if blobs:
                # In the same transaction as the events that refer to them.
                _insert(conn, "INSERT OR IGNORE INTO blobs(hash, text)", 2, list(blobs.items()))
            if events:
                _insert(conn, "INSERT INTO events(run_id, ts, t, type, node, data)", 6, events)
            if calls:
                _insert(
                    conn,
                    "INSERT OR IGNORE INTO call_results(key, run_id, node, created_at, result)",
                    5,
                    calls,
                )
            if ends:
                # After the events: the run's range of events ends at the last one written.
                self._conn.executemany(
                    "UPDATE runs SET status = ?, ended_at = ?, result = ?, "
                    "last_seq = (SELECT coalesce(max(seq), 0) FROM events) WHERE run_id = ?",
                    ends,
                )
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.committed(len(events) + len(calls) + len(blobs))
            if checkpointer.finish_due:
                checkpointer.finish(conn)
            if checkpointer.failed:  # no thread to do it: SQLite's own checkpoints again
                self._conn.execute("PRAGMA wal_autocheckpoint=1000")
                self._checkpointer = None
        return len(events) + len(calls)

    def _busy_retry(self, what: str, write: Callable[[], _T], *, taken: bool = False) -> _T:
        """``write()``, tried again after a backoff while another writer holds the lock
        (``taken``: a key already taken is raised as it is, for the caller to handle)."""
        delay = BUSY_BACKOFF_S
        for tries in range(1, BUSY_RETRIES + 2):
            try:
                return write()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise StoreError(f"cannot {what} the event log {self.path}: {exc}") from None
                if self._conn.in_transaction:  # a script stopped half-way: start it again
                    self._conn.execute("ROLLBACK")
                if tries > BUSY_RETRIES:
                    break
                self.sleep(delay)
                delay *= 2
            except sqlite3.IntegrityError as exc:
                if taken:
                    raise
                raise StoreError(f"cannot {what} the event log {self.path}: {exc}") from None
            except sqlite3.Error as exc:
                raise StoreError(f"cannot {what} the event log {self.path}: {exc}") from None
        raise StoreBusy(
            f"the event log {self.path} is locked by another process (gave up after "
            f"{BUSY_RETRIES + 1} tries); nothing committed is lost: resume the run once the "
            "other writer is done"
        )

    def events(self, run_id: str, *, types: Iterable[str] | None = None) -> list[EventRecord]:
        self.flush()
        sql = f"SELECT {_EVENT_SELECT} FROM events WHERE {_OF_RUN}"
        args: list[Any] = [run_id]
        if types is not None:
            wanted = list(types)
            sql += f" AND type IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        sql += " ORDER BY seq"
        records = []
        shared: list[dict[str, Any]] = []
        for row in self._read(sql, args):
            data = orjson.loads(row[6])
            if row[4] == "message":
                from_log_row(data, row[1], row[5], row[2])
                if '{"blob":"' in row[6]:
                    shared.append(data)
            fields = dict(zip(_EVENT_COLUMNS, row, strict=True))
            fields["data"] = data
            records.append(EventRecord.model_construct(**fields))
        if shared:
            self._restore_texts(shared)
        return records

    def _restore_texts(self, envelopes: list[dict[str, Any]]) -> None:
        wanted = sorted({key for envelope in envelopes for key in references(envelope)})
        texts: dict[str, str] = {}
        for start in range(0, len(wanted), 500):  # under SQLite's limit of bound variables
            chunk = wanted[start : start + 500]
            rows = self._read(
                f"SELECT hash, text FROM blobs WHERE hash IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            texts.update(rows)
        for envelope in envelopes:
            if references(envelope):
                restore(envelope, texts)

    def count_events(self, run_id: str) -> int:
        self.flush()
        rows = self._read(f"SELECT COUNT(*) FROM events WHERE {_OF_RUN}", (run_id,))
        return int(rows[0][0])

    def call_results(self, run_id: str) -> dict[str, str]:
        """Every committed call result of a run, by idempotency key."""
        self.flush()
        rows = self._read("SELECT key, result FROM call_results WHERE run_id = ?", (run_id,))
        return {key: result for key, result in rows}

    # -- extension points: modules with tables of their own (added by migrations) --------

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        """Run a read-only statement and return its rows (buffered events are flushed first)."""
        self.flush()
        return self._read(sql, args)

    # Writes to those tables are private: only the stores of this package
    # (:mod:`lmteams.state.reliability`) write them, each behind typed methods of its own.

    def _execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        """Run one write statement in its own transaction."""
        self._write(sql, tuple(args))

    def _execute_many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one write statement for many rows, in one transaction."""
        batch = [tuple(r) for r in rows]

        def write() -> None:
            with self._transaction():
                self._conn.executemany(sql, batch)

        self._busy_retry("write", write)

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock at once: committed at the end of the
        block, rolled back when it raises (so no transaction is ever left open)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        self._busy_retry("write", lambda: self._conn.execute(sql, args))

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the event log {self.path}: {exc}") from None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._checkpointer is not None:
                # First: the writer's connection, closed last, checkpoints what is left and
                # removes the WAL.
                self._checkpointer.close()
            self._conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _insert(
    conn: sqlite3.Connection, head: str, width: int, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (of ``width`` values) in order, ``ROWS_PER_INSERT`` to a statement."""
    for start in range(0, len(rows), ROWS_PER_INSERT):
        part = rows[start : start + ROWS_PER_INSERT]
        conn.execute(_insert_sql(head, width, len(part)), list(chain.from_iterable(part)))


@cache
def _insert_sql(head: str, width: int, rows: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return f"{head} VALUES {','.join([row] * rows)}"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


#: The columns a run is read from, in the order of :data:`_RUN_SELECT`.
_RUN_COLUMNS = ("run_id", "kind", "status", "created_at", "ended_at", "team", "params", "result")
_RUN_SELECT = ", ".join(_RUN_COLUMNS)
_EVENT_COLUMNS = ("seq", "run_id", "ts", "t", "type", "node", "data")
_EVENT_SELECT = ", ".join(_EVENT_COLUMNS)
# The events of run ?1: a range of seq (runs.first_seq to runs.last_seq, open while the run
# runs), then the rows of that range that are the run's. A run with no row in runs (written
# by hand) is looked for in the whole log.
_OF_RUN = (
    "seq BETWEEN coalesce((SELECT first_seq FROM runs WHERE run_id = ?1), 0) "
    "AND coalesce((SELECT last_seq FROM runs WHERE run_id = ?1), 9223372036854775807) "
    "AND run_id = ?1"
)


def _run_record(row: tuple[Any, ...]) -> RunRecord:
    fields = dict(zip(_RUN_COLUMNS, row, strict=True))
    fields["params"] = json.loads(fields["params"] or "{}")
    fields["result"] = json.loads(fields["result"]) if fields["result"] else None
    return RunRecord(**fields)
