"""The failure rules every shell shares: when a node is lost, when a task runs again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.scheduling.driver import (
    Claim,
    Dispatch,
    NodeLost,
    Proposal,
    Start,
    TaskDone,
    TaskFailed,
    TaskParked,
    from_op,
)
from lmteams.scheduling.failures import FailureAccount

WORKERS = ["a", "b", "c"]


def test_a_node_is_lost_at_the_limit_of_failures_in_a_row() -> None:
    account = FailureAccount(node_failure_limit=3, max_task_attempts=5)
    assert account.call_failed("a", WORKERS) == []
    assert account.call_failed("a", WORKERS) == []
    assert account.call_failed("a", WORKERS) == [NodeLost("a")]


def test_a_success_ends_the_run_of_failures() -> None:
    account = FailureAccount(node_failure_limit=2, max_task_attempts=5)
    account.call_failed("a", WORKERS)
    assert account.outcome("t1", "a", "done", WORKERS) == [TaskDone("t1", "a")]
    assert account.call_failed("a", WORKERS) == []


def test_the_last_worker_is_never_lost() -> None:
    account = FailureAccount(node_failure_limit=1, max_task_attempts=5)
    assert account.call_failed("a", ["a"]) == []
    assert account.call_failed("a", ["b", "c"]) == []  # not a worker any more: nothing to lose


def test_a_dead_node_is_lost_at_once() -> None:
    account = FailureAccount(node_failure_limit=10, max_task_attempts=5)
    assert account.call_failed("a", WORKERS, dead=True) == [NodeLost("a")]


def test_the_node_is_lost_before_its_task_is_put_back() -> None:
    account = FailureAccount(node_failure_limit=1, max_task_attempts=5)
    inputs = account.outcome("t1", "a", "call_failed", WORKERS)
    assert inputs == [NodeLost("a"), TaskFailed("t1", "a", requeue=True, avoid=True)]


def test_an_interrupted_task_runs_again_until_its_attempts_are_used() -> None:
    account = FailureAccount(node_failure_limit=99, max_task_attempts=3)
    requeues = [account.outcome("t1", n, "call_failed", WORKERS)[0] for n in "abc"]
    assert requeues == [
        TaskFailed("t1", "a", requeue=True, avoid=True),
        TaskFailed("t1", "b", requeue=True, avoid=True),
        TaskFailed("t1", "c", requeue=False, avoid=True),
    ]


def test_a_held_task_stays_unless_its_node_is_lost() -> None:
    account = FailureAccount(node_failure_limit=2, max_task_attempts=3)
    assert account.call_failed("a", WORKERS, holds="t1") == []
    assert account.call_failed("a", WORKERS, holds="t1") == [
        NodeLost("a"),
        TaskFailed("t1", "a", requeue=True, avoid=True),
    ]


def test_a_task_that_failed_for_good_is_not_run_again_and_costs_its_node_nothing() -> None:
    account = FailureAccount(node_failure_limit=1, max_task_attempts=3)
    assert account.outcome("t1", "a", "failed", WORKERS) == [TaskFailed("t1", "a", False)]
    assert account.failures.get("a", 0) == 0


def test_a_parked_task_names_what_it_waits_for() -> None:
    account = FailureAccount(node_failure_limit=1, max_task_attempts=3)
    assert account.outcome("t2", "a", "parked", WORKERS, until="t1") == [
        TaskParked("t2", "a", "t1")
    ]
    with pytest.raises(ValueError, match=r"a parked task \(t2\) needs the task it waits for"):
        account.outcome("t2", "a", "parked", WORKERS)


def test_a_resumed_run_counts_the_logged_interruptions() -> None:
    account = FailureAccount(node_failure_limit=9, max_task_attempts=2)
    account.replayed(from_op("task_failed", {"task": "t1", "node": "a", "requeue": True}))
    account.replayed(from_op("task_failed", {"task": "t2", "node": "a", "requeue": False}))
    assert account.outcome("t1", "b", "call_failed", WORKERS)[0].requeue is False  # type: ignore[union-attr]
    assert account.outcome("t2", "b", "call_failed", WORKERS)[0].requeue is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "item",
    [
        Start(),
        Dispatch(),
        TaskDone("t1", "a"),
        TaskFailed("t1", "a", requeue=True, avoid=True),
        TaskFailed("t1", "a", requeue=False),
        TaskParked("t2", "a", "t1"),
        NodeLost("a"),
        Claim("a", "t1", "detail"),
        Claim("a", None, "", now=12.5),
        Proposal((("t1", "a"), ("t2", "b")), 1, "late"),
    ],
)
def test_every_input_reads_back_from_its_logged_form(item: object) -> None:
    op, args = item.op, item.args()  # type: ignore[attr-defined]
    assert from_op(op, args) == item


def test_an_unknown_logged_op_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy input 'teleport'"):
        from_op("teleport", {})


events = st.lists(
    st.tuples(
        st.sampled_from(["done", "failed", "call_failed", "claim_failed"]),
        st.sampled_from(WORKERS),
        st.sampled_from(["t1", "t2", "t3"]),
    ),
    max_size=60,
)


@given(events, st.integers(1, 4), st.integers(1, 4))
def test_rules_hold_for_any_sequence(
    sequence: list[tuple[str, str, str]], limit: int, attempts: int
) -> None:
    account = FailureAccount(node_failure_limit=limit, max_task_attempts=attempts)
    workers = list(WORKERS)
    streak = dict.fromkeys(WORKERS, 0)
    interrupted = dict.fromkeys(["t1", "t2", "t3"], 0)
    for kind, node, task in sequence:
        if kind == "claim_failed":
            inputs = account.call_failed(node, workers)
        else:
            inputs = account.outcome(task, node, kind, workers)  # type: ignore[arg-type]
        if kind == "done":
            streak[node] = 0
            assert inputs == [TaskDone(task, node)]
            continue
        if kind == "failed":
            assert inputs == [TaskFailed(task, node, requeue=False)]
            continue
        streak[node] += 1
        lost = streak[node] >= limit and node in workers and len(workers) > 1
        assert (NodeLost(node) in inputs) is lost
        if lost:
            assert inputs[0] == NodeLost(node)  # before its task goes back
            workers.remove(node)
        if kind == "call_failed":
            interrupted[task] += 1
            assert inputs[-1] == TaskFailed(
                task, node, requeue=interrupted[task] < attempts, avoid=True
            )
        assert len(workers) >= 1
