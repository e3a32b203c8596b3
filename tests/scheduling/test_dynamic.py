from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmteams.errors import ConfigError
from lmteams.scheduling.dynamic import (
    MAX_PARTS,
    AddDependency,
    AddTask,
    DynamicPolicy,
    Edit,
    SplitTask,
)
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Assign, Note, RequestClaim, TaskState
from lmteams.scheduling.topologies import make_policy

from .test_graph import dags


def chain() -> TaskGraph:
    # a <- b <- c, and d free
    return TaskGraph.build([("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])])


def notes(decisions: list[object], kind: str) -> list[Note]:
    return [d for d in decisions if isinstance(d, Note) and d.kind == kind]


def test_registered_as_a_topology() -> None:
    policy = make_policy("dynamic", chain(), ["w0"], lease_s=5.0)
    assert isinstance(policy, DynamicPolicy)
    assert policy.lease_s == 5.0


def test_a_lease_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="lease_s"):
        DynamicPolicy(chain(), ["w0"], lease_s=0)


def test_unknown_topology_names_dynamic_among_the_choices() -> None:
    with pytest.raises(ConfigError, match="dynamic"):
        make_policy("dynamc", chain(), ["w0"])


def test_split_replaces_the_task_and_its_dependents_wait_for_every_part() -> None:
    policy = DynamicPolicy(chain(), ["w0", "w1"])
    policy.start()
    out = policy.edit("w0", SplitTask("b", ("b1", "b2")))
    assert notes(out, "graph_edit")[0].detail == "split_task b into b1, b2"
    graph = policy.graph
    assert "b" not in graph.ids and "b" not in policy.board.state
    assert graph.deps["b1"] == ("a",) and graph.deps["b2"] == ("a",)
    assert graph.deps["c"] == ("b1", "b2")
    assert policy.board.graph is graph
    assert policy.split_from == {"b1": "b", "b2": "b"}
    # the run still finishes: every part, then c
    policy.claim("w0", "a", now=0.0)
    policy.task_done("a", "w0")
    assert {"b1", "b2", "d"} <= policy.board.ready
    for task in ("b1", "d", "b2"):
        assert "c" not in policy.board.ready  # c waits for both parts
        policy.claim("w0", task)
        policy.task_done(task, "w0")
    assert "c" in policy.board.ready
    policy.claim("w1", "c")
    policy.task_done("c", "w1")
    assert policy.complete


def test_add_task_and_dependency_hold_back_the_dependent() -> None:
    policy = DynamicPolicy(chain(), ["w0"])
    policy.start()
    assert notes(policy.edit("w0", AddTask("tests", ("a",))), "graph_edit")
    assert policy.board.state["tests"] is TaskState.PENDING
    assert "tests" not in policy.board.ready  # a is not done
    assert notes(policy.edit("w0", AddDependency("d", "tests")), "graph_edit")
    assert "d" not in policy.board.ready
    assert policy.board.missing["d"] == 1
    assert policy.graph.n == 5 and not policy.complete


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (AddDependency("a", "c"), "cycle: a -> c -> b -> a"),
        (AddDependency("a", "a"), "cannot depend on itself"),
        (AddDependency("c", "b"), "already depends on b"),
        (AddDependency("zz", "a"), "unknown task 'zz'"),
        (AddDependency("a", "zz"), "unknown task 'zz'"),
        (AddTask("b"), "already exists"),
        (AddTask("new", ("zz",)), "unknown task 'zz'"),
        (AddTask(" "), "needs an id"),
        (AddTask("new", (), -1.0), "estimate_s"),
        (SplitTask("b", ("b1",)), f"2 to {MAX_PARTS} parts"),
        (SplitTask("b", ("b1", "b1")), "different ids"),
        (SplitTask("b", ("b1", "c")), "'c' already exists"),
        (SplitTask("zz", ("z1", "z2")), "unknown task 'zz'"),
    ],
)
def test_bad_edits_are_refused_with_a_reason(edit: Edit, reason: str) -> None:
    policy = DynamicPolicy(chain(), ["w0"])
    policy.start()
    before = (policy.graph, dict(policy.board.state))
    out = policy.edit("w0", edit)
    assert len(out) == 1
    (note,) = notes(out, "edit_refused")
    assert reason in note.detail
    assert (policy.graph, policy.board.state) == before
    assert policy.edits_refused == 1 and policy.edits == 0


def test_done_running_and_failed_tasks_cannot_be_edited() -> None:
    policy = DynamicPolicy(chain(), ["w0", "w1"])
    policy.start()
    policy.claim("w0", "a")
    policy.task_done("a", "w0")
    policy.claim("w0", "b")
    policy.claim("w1", "d")
    policy.task_failed("d", "w1", requeue=False)
    cases = {
        SplitTask("a", ("a1", "a2")): "a is done: finished tasks do not change",
        AddDependency("a", "d"): "a is done",
        SplitTask("b", ("b1", "b2")): "b is claimed by w0",
        AddDependency("b", "a"): "b is claimed by w0",
        AddDependency("c", "d"): "d is failed: a task after it could never run",
        AddTask("e", ("d",)): "d is failed",
    }
    for edit, reason in cases.items():
        (note,) = notes(policy.edit("w1", edit), "edit_refused")
        assert reason in note.detail, edit


def test_a_lease_without_progress_is_released_and_counted() -> None:
    policy = DynamicPolicy(chain(), ["w0", "w1"], lease_s=10.0)
    policy.start()
    assert Assign("a", "w0") in policy.claim("w0", "a", now=0.0)
    assert policy.expire(9.9) == []
    policy.progress("a", "w0", now=5.0)  # renewed: now due at 15
    assert policy.expire(12.0) == []
    out = policy.expire(15.0)
    (note,) = notes(out, "lease_expired")
    assert (note.node, note.task) == ("w0", "a")
    assert policy.expired == 1
    assert policy.board.state["a"] is TaskState.PENDING and "a" in policy.board.ready
    # w0's call is still out: it is not asked for new work, w1 is
    assert RequestClaim("w0") not in out
    assert not policy.board.is_idle("w0")
    # w0 returns late while nobody took the task: its work is kept
    out = policy.task_done("a", "w0")
    assert "kept" in notes(out, "late_result")[0].detail
    assert policy.board.state["a"] is TaskState.DONE
    assert policy.board.is_idle("w0")


def test_a_late_result_is_dropped_once_someone_else_has_the_task() -> None:
    policy = DynamicPolicy(chain(), ["w0", "w1"], lease_s=1.0)
    policy.start()
    policy.claim("w0", "a", now=0.0)
    policy.expire(1.0)
    policy.claim("w1", "a", now=1.0)
    out = policy.task_done("a", "w0")
    assert "dropped" in notes(out, "late_result")[0].detail
    assert policy.board.running_on["a"] == "w1"
    policy.task_done("a", "w1")
    assert policy.board.state["a"] is TaskState.DONE
    # a late failure after the node was lost is dropped too: the task is not requeued twice
    policy.claim("w0", "b", now=2.0)
    policy.expire(3.0)
    policy.claim("w1", "b", now=3.0)
    policy.node_lost("w0")
    policy.task_failed("b", "w0", requeue=True, avoid=True)
    assert policy.board.running_on["b"] == "w1"


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["add", "split", "dep", "claim", "done", "fail", "expire"]),
        st.integers(0, 30),
        st.integers(0, 30),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(dags(), EDITS)
def test_whatever_is_requested_the_graph_stays_acyclic_and_done_tasks_never_change(
    tasks: list[tuple[str, list[str]]], requests: list[tuple[str, int, int]]
) -> None:
    graph = TaskGraph.build(tasks)
    policy = DynamicPolicy(graph, ["w0", "w1", "w2"], lease_s=2.0)
    policy.start()
    done: dict[str, tuple[str, ...]] = {}
    now = 0.0
    fresh = 0
    for op, i, j in requests:
        ids = policy.graph.ids
        a, b = ids[i % len(ids)], ids[j % len(ids)]
        board = policy.board
        now += 1.0
        if op == "add":
            fresh += 1
            policy.edit("w0", AddTask(f"new{fresh}", (a,) if i % 2 else ()))
        elif op == "split":
            fresh += 1
            policy.edit("w0", SplitTask(a, (f"p{fresh}a", f"p{fresh}b")))
        elif op == "dep":
            policy.edit("w0", AddDependency(a, b))
        elif op == "claim":
            idle = board.idle()
            ready = sorted(board.ready)
            if idle:  # mostly a ready task, sometimes any (refused)
                policy.claim(idle[0], ready[i % len(ready)] if ready and j % 4 else a, now=now)
        elif op in ("done", "fail") and board.running_on:
            task = sorted(board.running_on)[i % len(board.running_on)]
            node = board.running_on[task]
            if op == "done":
                policy.task_done(task, node)
            else:
                policy.task_failed(task, node, requeue=bool(j % 2))
        elif op == "expire":
            policy.expire(now)
        graph_now = policy.graph
        assert graph_now.find_cycle() is None
        assert set(graph_now.ids) == set(board.state)
        for task, deps in done.items():
            assert board.state[task] is TaskState.DONE
            assert graph_now.deps[task] == deps
        for task, state in board.state.items():
            if state is TaskState.DONE:
                done.setdefault(task, graph_now.deps[task])
        for task in board.ready:
            assert board.state[task] is TaskState.PENDING
            assert all(board.state[d] is TaskState.DONE for d in graph_now.deps[task])
        assert board.finished == sum(
            1
            for s in board.state.values()
            if s in (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED)
        )
