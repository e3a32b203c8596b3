from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lmteams.state.workspace import Workspace


def test_versioned_write_and_conflict() -> None:
    ws = Workspace()
    first = ws.write("a.py", "v1", node="x", expected_version=0, now=0)
    assert first.ok and first.version == 1
    stale = ws.write("a.py", "lost?", node="y", expected_version=0, now=1)
    assert stale.status == "conflict" and stale.version == 1
    assert ws.read("a.py") == "v1"  # the stale write changed nothing
    fresh = ws.write("a.py", "v2", node="y", expected_version=1, now=2)
    assert fresh.ok and ws.read("a.py") == "v2" and ws.version("a.py") == 2


def test_lease_blocks_other_writers_until_released_or_expired() -> None:
    ws = Workspace(default_ttl_s=10)
    assert ws.acquire("a.py", "x", now=0).granted
    refused = ws.acquire("a.py", "y", now=1)
    assert not refused.granted and refused.lease.holder == "x"
    blocked = ws.write("a.py", "y's", node="y", expected_version=0, now=2)
    assert blocked.status == "lease_held" and blocked.holder == "x"
    assert ws.acquire("a.py", "y", now=10.5).granted  # x crashed: its lease lapsed
    assert ws.write("a.py", "y's", node="y", expected_version=0, now=11).ok


def test_release_and_renew() -> None:
    ws = Workspace(default_ttl_s=5)
    ws.acquire("a", "x", now=0)
    assert ws.acquire("a", "x", now=4).lease.expires_at == 9  # renewal by the holder
    assert not ws.release("a", "y")
    assert ws.release("a", "x")
    assert ws.acquire("a", "y", now=4).granted


def test_rewrite_of_a_finished_file_is_reported() -> None:
    ws = Workspace()
    ws.write("a.py", "1", node="x", expected_version=0, now=0, task="t1")
    ws.mark_finished("t1")
    again = ws.write("a.py", "2", node="y", expected_version=1, now=1, task="t2")
    assert again.ok and again.rewrite_of == "t1"
    own = ws.write("a.py", "3", node="y", expected_version=2, now=2, task="t2")
    assert own.rewrite_of is None


def test_materialize(tmp_path: Path) -> None:
    ws = Workspace()
    ws.write("pkg/m.py", "X = 1\n", node="x", expected_version=0, now=0)
    ws.materialize(tmp_path)
    assert (tmp_path / "pkg" / "m.py").read_text() == "X = 1\n"


@given(st.lists(st.tuples(st.sampled_from("xyz"), st.integers(0, 3)), max_size=40))
def test_no_write_is_ever_silently_lost(writes: list[tuple[str, int]]) -> None:
    ws = Workspace()
    history: list[str] = []
    for i, (node, expected) in enumerate(writes):
        result = ws.write("f", f"{node}{i}", node=node, expected_version=expected, now=i)
        if result.ok:
            history.append(f"{node}{i}")
            assert result.version == len(history)
        else:
            assert result.status == "conflict" and expected != len(history)
    assert ws.version("f") == len(history)
    assert ws.read("f") == (history[-1] if history else None)


def test_read_only_files_refuse_every_write() -> None:
    from lmteams.state.workspace import Workspace

    ws = Workspace()
    ws.provide("test_add.py", "def test(): pass\n", read_only=True)
    ws.provide("starter.py", "# fill me\n", read_only=False)
    assert ws.version("test_add.py") == 1 and ws.read("test_add.py") == "def test(): pass\n"
    refused = ws.write("test_add.py", "", node="n0", expected_version=1, now=0.0, task="t")
    assert refused.status == "read_only" and not refused.ok
    assert ws.read("test_add.py") == "def test(): pass\n"
    assert ws.acquire("test_add.py", "n0", 0.0).granted  # a lease does not make it writable
    assert ws.write("test_add.py", "x", node="n0", expected_version=1, now=0.0).status == (
        "read_only"
    )
    written = ws.write("starter.py", "x = 1\n", node="n0", expected_version=1, now=0.0, task="t")
    assert written.ok and written.version == 2
