"""The board's ready set keeps file order under any changes; claims look only at what changed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmteams.scheduling.decentralized import DecentralizedPolicy
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Board, ReadySet, RequestClaim

IDS = [f"t{i}" for i in range(12)]
POSITION = {t: i for i, t in enumerate(reversed(IDS))}  # file order is not name order


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(IDS)), max_size=80), st.integers(0, 14))
def test_the_first_ready_tasks_are_in_file_order(changes: list[tuple[bool, str]], k: int) -> None:
    ready = ReadySet(IDS[:3], POSITION)
    plain = set(IDS[:3])
    for add, task in changes:
        if add:
            ready.add(task)
            plain.add(task)
        else:
            ready.discard(task)
            plain.discard(task)
    in_order = sorted(plain, key=POSITION.__getitem__)
    assert set(ready) == plain
    assert ready.first() == in_order
    assert ready.first(k) == in_order[:k]


@given(st.sets(st.sampled_from(IDS), min_size=1), st.booleans())
def test_the_ith_ready_task_is_the_ith_of_the_first_rows(done: set[str], ordered: bool) -> None:
    graph = TaskGraph.build([(t, []) for t in reversed(IDS)])  # the file order of POSITION
    board = Board(graph, ["n1"], ordered=ordered)
    for task in done:
        board.start(task, "n1")
        board.finish(task)
    rows = board.first_ready()
    assert [board.ready_at(i) for i in range(len(rows))] == rows


def test_a_reindexed_ready_set_follows_the_new_file_order() -> None:
    ready = ReadySet(["a", "b"], {"a": 0, "b": 1})
    ready.reindex({"b": 0, "c": 1, "a": 2})
    ready.add("c")
    assert ready.first() == ["b", "c", "a"]


def test_every_idle_node_is_asked_again_after_a_task_finishes() -> None:
    # the study's self-claiming: a refused node rests until the board changes, then every
    # resting node is asked again, in team order
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", ["a"])])
    policy = DecentralizedPolicy(graph, ["n1", "n2", "n3"], max_retries=0)
    assert policy.start() == [RequestClaim("n1"), RequestClaim("n2"), RequestClaim("n3")]
    policy.claim("n1", "a")
    refused = policy.claim("n2", "a")  # taken, and nothing else is ready: n2 rests
    assert [type(d).__name__ for d in refused] == ["Note"]
    assert [type(d).__name__ for d in policy.claim("n3", "b")] == ["Note"]  # b waits for a
    assert policy.dispatch() == []  # nothing changed: nobody is asked
    assert policy.task_done("a", "n1") == [
        RequestClaim("n1"),
        RequestClaim("n2"),
        RequestClaim("n3"),
    ]


def test_the_state_counts_tally_every_task_once() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", [])])
    board = Board(graph, ["n1", "n2"])
    assert board.state_counts() == {"pending": 4}
    board.start("a", "n1")
    board.start("d", "n2")
    board.finish("a")
    assert board.state_counts() == {"done": 1, "running": 1, "pending": 2}
