from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lmteams.errors import RunNotFound, StoreError
from lmteams.state.events import RunStarted, UnknownEvent
from lmteams.state.migrations import MIGRATIONS
from lmteams.state.store import _OF_RUN, PAGE_SIZE, ROWS_PER_INSERT, EventStore


def test_runs_lifecycle(store: EventStore) -> None:
    run_id = store.new_run("ask", params={"question": "q"}, team="t")
    run = store.run(run_id)
    assert run.status == "running" and run.params == {"question": "q"} and run.team == "t"
    store.finish_run(run_id, "done", {"answer": "4"})
    run = store.run(run_id)
    assert run.status == "done" and run.result == {"answer": "4"} and run.ended_at is not None


def test_run_lookup_by_unique_prefix(store: EventStore) -> None:
    a = store.new_run("ask", run_id="ask-aaa-1")
    store.new_run("ask", run_id="ask-bbb-1")
    assert store.run("ask-aa").run_id == a
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.run("ask-")
    with pytest.raises(RunNotFound, match="no run"):
        store.run("zzz")


def test_prefix_lookup_treats_wildcards_literally(store: EventStore) -> None:
    store.new_run("ask", run_id="ask-x_1")
    with pytest.raises(RunNotFound):
        store.run("ask-%")


def test_events_are_buffered_until_flush_and_ordered(store: EventStore) -> None:
    run_id = store.new_run("x")
    for i in range(5):
        store.append(run_id, "tick", {"i": i}, node="a", t=float(i))
    assert store.pending == 5
    assert store.flush() == 5
    events = store.events(run_id)
    assert [e.data["i"] for e in events] == [0, 1, 2, 3, 4]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert store.events(run_id, types=["nope"]) == []


def test_a_commit_of_more_rows_than_one_insert_takes_keeps_every_row_in_order(
    store: EventStore,
) -> None:
    run_id = store.new_run("x")
    rows = 2 * ROWS_PER_INSERT + 3
    for i in range(rows):
        store.append(run_id, "tick", {"i": i}, node=f"n{i % 3}", t=float(i))
        store.put_call_result(f"k{i}", run_id, None, f'{{"i": {i}}}')
    store.put_call_result("k0", run_id, None, '{"i": "again"}')  # a key kept once, as ever
    assert store.flush() == 2 * rows + 1
    events = store.events(run_id)
    assert [(e.data["i"], e.node, e.t) for e in events] == [
        (i, f"n{i % 3}", float(i)) for i in range(rows)
    ]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    results = store.call_results(run_id)
    assert len(results) == rows and results["k0"] == '{"i": 0}'


def test_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with EventStore(path) as first:
        run_id = first.new_run("x")
        first.append(run_id, "e", {"k": 1})
    with EventStore(path) as second:
        assert [e.type for e in second.events(run_id)] == ["e"]


def test_wal_mode_and_migrations_recorded(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    EventStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert applied == [name for name, _ in MIGRATIONS]
    conn.close()
    EventStore(path).close()  # reopening applies nothing twice


def test_call_results_are_kept_once_per_key(store: EventStore) -> None:
    run_id = store.new_run("x")
    store.put_call_result("k1", run_id, "a", '{"text": "first"}')
    store.put_call_result("k1", run_id, "a", '{"text": "second"}')
    store.flush()
    assert store.call_results(run_id) == {"k1": '{"text": "first"}'}


def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the event log"):
        EventStore(tmp_path / "dir.db")


def test_default_path_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMTEAMS_DB", str(tmp_path / "env.db"))
    with EventStore() as s:
        assert s.path == tmp_path / "env.db"


def test_extension_tables_through_query_and_the_private_writes(store: EventStore) -> None:
    # The writes the stores of lmteams.state (reliability) use; not public API.
    store._execute("CREATE TABLE IF NOT EXISTS ext (k TEXT PRIMARY KEY, v INTEGER)")
    store._execute_many("INSERT INTO ext VALUES (?, ?)", [("a", 1), ("b", 2)])
    store._execute("UPDATE ext SET v = v + 10 WHERE k = ?", ("a",))
    assert store.query("SELECT k, v FROM ext ORDER BY k") == [("a", 11), ("b", 2)]
    with pytest.raises(StoreError):
        store._execute("INSERT INTO missing VALUES (1)")
    assert not hasattr(store, "execute") and not hasattr(store, "executemany")


def test_a_drawn_run_id_already_taken_is_drawn_again(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lmteams.state.store as store_module

    draws = iter(["ask-1", "ask-1", "ask-1", "ask-2"])
    monkeypatch.setattr(store_module, "new_run_id", lambda kind: next(draws))
    assert store.new_run("ask") == "ask-1"
    assert store.new_run("ask") == "ask-2"  # two draws of a taken id were thrown back
    assert {r.run_id for r in store.runs()} == {"ask-1", "ask-2"}


def test_a_run_id_given_twice_is_refused(store: EventStore) -> None:
    store.new_run("ask", run_id="mine")
    with pytest.raises(StoreError, match="a run named mine already exists"):
        store.new_run("ask", run_id="mine")


def test_page_size_of_a_new_log(tmp_path: Path) -> None:
    EventStore(tmp_path / "new.db").close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 4096


def test_a_log_made_with_other_pages_keeps_them_and_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=16384")  # as logs were made before 2026-12-02
    conn.execute("VACUUM")
    conn.close()
    with EventStore(path) as store:
        run_id = store.new_run("ask")
        store.append(run_id, "tick", {"i": 1})
    with EventStore(path) as again:
        assert [e.data for e in again.events(run_id, types=["tick"])] == [{"i": 1}]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384


def test_a_log_from_a_newer_lmteams_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    EventStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _migrations VALUES ('999_from_the_future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer lmteams .migration 999_from_the_future"):
        EventStore(path)


def test_a_run_opens_with_its_first_event_in_one_transaction(store: EventStore) -> None:
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    run_id = store.new_run("ask", params={"q": 1}, first=RunStarted(kind="ask", runtime="local"))
    store._conn.set_trace_callback(None)
    assert [s.split()[0] for s in statements] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    (started,) = store.events(run_id)
    assert started.type == "run_started" and started.t == 0.0 and started.node is None
    assert started.event == RunStarted(kind="ask", runtime="local")
    assert store.run(run_id).params == {"q": 1}


def test_an_undeclared_first_event_opens_no_run(store: EventStore) -> None:
    with pytest.raises(StoreError, match="is not declared"):
        store.new_run("ask", run_id="ask-x-1", first=UnknownEvent(type="made_up"))
    with pytest.raises(RunNotFound):
        store.run("ask-x-1")


def test_a_taken_run_id_with_a_first_event_leaves_no_event(store: EventStore) -> None:
    store.new_run("ask", run_id="ask-x-1")
    with pytest.raises(StoreError, match="a run named ask-x-1 already exists"):
        store.new_run("ask", run_id="ask-x-1", first=RunStarted(kind="ask"))
    assert store.events("ask-x-1") == []
    assert not store._conn.in_transaction


# -- where a run's events lie (migration 006: a range of seq per run, no index) ------------


def test_interleaved_runs_read_back_their_own_events(store: EventStore) -> None:
    a = store.new_run("ask", first=RunStarted(kind="ask", runtime="local"))
    store.append(a, "a1", {})
    b = store.new_run("ask")
    store.append(b, "b1", {})
    store.append(a, "a2", {})
    store.finish_run(a, "done")
    store.append(b, "b2", {})
    store.flush()
    assert [e.type for e in store.events(a)] == ["run_started", "a1", "a2"]
    assert [e.type for e in store.events(b)] == ["b1", "b2"]
    assert store.count_events(a) == 3 and store.count_events(b) == 2
    assert [e.type for e in store.events(a, types=["a2", "b2"])] == ["a2"]
    plan = " ".join(
        str(row)
        for row in store.query("EXPLAIN QUERY PLAN SELECT seq FROM events WHERE " + _OF_RUN, (a,))
    )
    assert "rowid>? AND rowid<?" in plan  # a range of the table, not a scan of it


def test_a_resumed_run_sees_the_events_written_after_its_old_end(store: EventStore) -> None:
    a = store.new_run("ask")
    store.append(a, "before", {})
    store.finish_run(a, "failed")
    other = store.new_run("ask")
    store.append(other, "x", {})
    store.set_status(a, "running")
    store.append(a, "after", {})
    assert [e.type for e in store.events(a)] == ["before", "after"]  # while it runs
    store.finish_run(a, "done")
    assert [e.type for e in store.events(a)] == ["before", "after"]


def test_events_of_a_run_without_a_runs_row_are_still_found(store: EventStore) -> None:
    store.append("written-by-hand", "e", {})
    store.flush()
    assert [e.type for e in store.events("written-by-hand")] == ["e"]


def test_a_log_written_before_event_ranges_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = [(name, sql) for name, sql in MIGRATIONS if name < "006"]
    for _, sql in before:
        conn.executescript(sql)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    conn.executemany("INSERT INTO _migrations VALUES (?, 0)", [(n,) for n, _ in before])
    for run_id, status in (("done-1", "done"), ("open-1", "running"), ("empty-1", "done")):
        conn.execute(
            "INSERT INTO runs(run_id, kind, status, created_at) VALUES (?, 'ask', ?, 0)",
            (run_id, status),
        )
    for i, run_id in enumerate(["done-1", "open-1", "done-1", "open-1"]):
        conn.execute(
            "INSERT INTO events(run_id, ts, t, type, data) VALUES (?, 0, 0, ?, '{}')",
            (run_id, f"e{i}"),
        )
    conn.close()
    with EventStore(path) as store:
        assert [e.type for e in store.events("done-1")] == ["e0", "e2"]
        assert [e.type for e in store.events("open-1")] == ["e1", "e3"]
        assert store.events("empty-1") == []
        store.append("open-1", "e4", {})  # the open run goes on
        store.set_status("empty-1", "running")  # and the empty one is resumed
        store.append("empty-1", "e5", {})
        store.flush()
        assert [e.type for e in store.events("open-1")] == ["e1", "e3", "e4"]
        assert [e.type for e in store.events("empty-1")] == ["e5"]
        indexes = store.query("SELECT name FROM sqlite_master WHERE type = 'index'")
        assert ("events_run",) not in indexes


@given(
    st.lists(
        st.tuples(st.sampled_from(["new", "append", "end", "reopen", "flush"]), st.integers(0, 3)),
        max_size=40,
    )
)
@example([("new", 0), ("new", 0), ("append", 1), ("end", 0), ("reopen", 0), ("append", 0)])
@settings(max_examples=60, deadline=None)
def test_every_run_reads_back_exactly_its_events(steps: list[tuple[str, int]]) -> None:
    """Runs opened, written, ended, reopened and flushed in any order: each reads back the
    events written for it, in order, and no other run's."""
    with EventStore(":memory:") as store:
        runs: list[str] = []
        written: dict[str, list[str]] = {}
        ended: set[str] = set()
        for step, pick in steps:
            if step == "new" or not runs:
                runs.append(store.new_run("ask", run_id=f"r{len(runs)}"))
                written[runs[-1]] = []
                continue
            run_id = runs[pick % len(runs)]
            if step == "append" and run_id not in ended:
                written[run_id].append(f"e{sum(map(len, written.values()))}")
                store.append(run_id, written[run_id][-1], {})
            elif step == "end" and run_id not in ended:
                store.end_run(run_id, "done")
                ended.add(run_id)
            elif step == "reopen" and run_id in ended:
                store.flush()  # a resume opens a run that has ended in the log
                store.set_status(run_id, "running")
                ended.discard(run_id)
            elif step == "flush":
                store.flush()
        for run_id in runs:
            assert [e.type for e in store.events(run_id)] == written[run_id]
