"""The event log under pressure: another writer's lock, durability settings, long prompts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmteams.errors import ConfigError, StoreError
from lmteams.state.blobs import SHARE_MIN_CHARS
from lmteams.state.store import BUSY_RETRIES, EventStore, StoreBusy
from lmteams.team import Team
from lmteams.testing import scripted_team


@pytest.fixture
def locker(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection to the log that can take the write lock (BEGIN IMMEDIATE)."""
    EventStore(tmp_path / "log.db").close()
    conn = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def quick_store(path: Path, sleeps: list[float]) -> EventStore:
    store = EventStore(path, busy_timeout_s=0.01)
    store.sleep = sleeps.append
    return store


# -- another writer holding the lock -----------------------------------------------------


def test_a_lock_held_past_every_retry_is_one_line_and_keeps_the_buffer(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    sleeps: list[float] = []
    store = quick_store(tmp_path / "log.db", sleeps)
    run_id = store.new_run("x")
    store.append(run_id, "tick", {"i": 1})
    store.put_call_result("k", run_id, "n0", '{"text": "a"}')
    locker.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreBusy) as caught:
        store.flush()
    message = str(caught.value)
    assert "\n" not in message and "locked by another process" in message
    assert isinstance(caught.value, StoreError)
    assert len(sleeps) == BUSY_RETRIES and sleeps == sorted(sleeps)  # backoff grows
    assert sleeps[1] == 2 * sleeps[0]
    assert store.pending == 2  # nothing dropped
    locker.execute("ROLLBACK")
    assert store.flush() == 2
    assert [e.type for e in store.events(run_id)] == ["tick"]
    assert store.call_results(run_id) == {"k": '{"text": "a"}'}
    store.close()


def test_a_runs_end_is_committed_with_its_last_events_or_not_at_all(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    sleeps: list[float] = []
    store = quick_store(tmp_path / "log.db", sleeps)
    run_id = store.new_run("x")
    store.append(run_id, "run_finished", {})
    store.end_run(run_id, "done", {"answer": "4"})
    locker.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreBusy):
        store.flush()
    locker.execute("ROLLBACK")
    assert store.pending == 1  # the event is kept; the end was dropped with the failed commit
    assert store.run(run_id).status == "running"  # still open, and resumable
    assert store.flush() == 1
    assert store.run(run_id).status == "running"
    store.append(run_id, "run_finished", {})
    store.end_run(run_id, "done", {"answer": "4"})
    assert store.flush() == 1  # one transaction: the event and the run's end
    run = store.run(run_id)
    assert run.status == "done" and run.result == {"answer": "4"} and run.ended_at is not None
    store.close()


def test_a_lock_released_during_the_backoff_is_waited_out(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    store = EventStore(tmp_path / "log.db", busy_timeout_s=0.01)
    run_id = store.new_run("x")
    store.append(run_id, "tick", {})
    locker.execute("BEGIN IMMEDIATE")
    released: list[float] = []

    def release(delay_s: float) -> None:
        released.append(delay_s)
        locker.execute("ROLLBACK")

    store.sleep = release
    assert store.flush() == 1
    assert len(released) == 1
    assert [e.type for e in store.events(run_id)] == ["tick"]
    store.close()


def test_other_write_errors_are_not_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []
    store = quick_store(tmp_path / "log.db", sleeps)
    with pytest.raises(StoreError, match="no such table") as caught:
        store._execute("INSERT INTO missing VALUES (1)")
    assert not isinstance(caught.value, StoreBusy) and sleeps == []
    store.close()


async def test_a_run_stopped_by_a_lock_fails_the_call_and_stays_resumable(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    spec, backends = scripted_team(1, lambda c: f"reply to {c.messages[-1].content}")
    sleeps: list[float] = []
    store = quick_store(tmp_path / "log.db", sleeps)
    team = Team(spec, store, kind="test", backends=backends)
    with pytest.raises(StoreBusy):
        async with team:
            await team.call("n0", "first", key="t1")
            locker.execute("BEGIN IMMEDIATE")
            await team.call("n0", "second", key="t2")
    run_id = team.run_id
    locker.execute("ROLLBACK")
    # What the next process sees (the stopped one exits with its buffer).
    after = EventStore(tmp_path / "log.db")
    assert after.run(run_id).status == "running"  # never marked done
    assert len(after.call_results(run_id)) == 1  # the committed call survived
    resumed = Team(spec, after, kind="test", backends=backends, run_id=run_id, resume=True)
    async with resumed:
        first = await resumed.call("n0", "first", key="t1")
        second = await resumed.call("n0", "second", key="t2")
    assert first.text == "reply to first" and second.text == "reply to second"
    assert resumed.replayed == 1  # only the uncommitted call was sent again
    assert after.run(run_id).status == "done"
    after.close()


# -- durability --------------------------------------------------------------------------


def synchronous(store: EventStore) -> int:
    return int(store.query("PRAGMA synchronous")[0][0])


def test_durability_normal_by_default_and_full_on_request(tmp_path: Path) -> None:
    with EventStore(tmp_path / "a.db") as normal:
        assert normal.durability == "normal" and synchronous(normal) == 1
    with EventStore(tmp_path / "b.db", durability="full") as full:
        assert full.durability == "full" and synchronous(full) == 2


def test_durability_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMTEAMS_DURABILITY", "full")
    with EventStore(tmp_path / "a.db") as store:
        assert synchronous(store) == 2
    with EventStore(tmp_path / "b.db", durability="normal") as store:  # the argument wins
        assert synchronous(store) == 1


def test_an_unknown_durability_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^durability: must be normal or full, not 'fast'$"):
        EventStore(tmp_path / "a.db", durability="fast")
    monkeypatch.setenv("LMTEAMS_DURABILITY", "off")
    with pytest.raises(ConfigError, match=r"^LMTEAMS_DURABILITY: must be normal or full"):
        EventStore(tmp_path / "b.db")


# -- long prompts stored once ------------------------------------------------------------


def log_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def test_ten_calls_with_one_long_prompt_store_it_once(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    prompt = "".join(f"line {i}: the same long task description\n" for i in range(25_000))
    assert 1_000_000 < len(prompt) < 1_100_000
    spec, backends = scripted_team(2, lambda c: "ok")
    store = EventStore(path)
    async with Team(spec, store, kind="test", backends=backends) as team:
        await team.call("n0", "warm-up")
        run_id = team.run_id
    store.close()
    before = log_size(path)
    store = EventStore(path)
    async with Team(spec, store, kind="test", backends=backends) as team:
        for i in range(10):
            await team.call(f"n{i % 2}", [{"role": "user", "content": prompt}])
        run_id = team.run_id
    store.close()
    grown = log_size(path) - before
    assert 0.5 * len(prompt) < grown < 2 * len(prompt)  # about one copy, not ten
    with EventStore(path) as reopened:
        requests = [
            e.data
            for e in reopened.events(run_id, types=["message"])
            if e.data["kind"] == "request"
        ]
        assert len(requests) == 10
        assert all(
            r["payload"]["messages"] == [{"role": "user", "content": prompt}] for r in requests
        )
        assert reopened.query("SELECT COUNT(*) FROM blobs") == [(1,)]


async def test_short_prompts_stay_inline(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: "ok")
    short = "x" * (SHARE_MIN_CHARS - 1)
    async with Team(spec, store, kind="test", backends=backends) as team:
        await team.call("n0", short)
        run_id = team.run_id
    assert store.query("SELECT COUNT(*) FROM blobs") == [(0,)]
    [request, _] = store.events(run_id, types=["message"])
    assert request.data["payload"]["messages"][0]["content"] == short


async def test_a_long_prompt_replays_on_resume(store: EventStore) -> None:
    long = "question " * 1000
    spec, backends = scripted_team(1, lambda c: "Answer: 7")
    async with Team(spec, store, kind="test", backends=backends) as team:
        await team.call("n0", long)
        run_id = team.run_id
    resumed = Team(
        spec,
        store,
        kind="test",
        backends=backends,
        run_id=run_id,
        resume=True,
        replay_unkeyed=True,
    )
    async with resumed:
        reply = await resumed.call("n0", long)
    assert reply.text == "Answer: 7" and resumed.replayed == 1  # matched by request hash
