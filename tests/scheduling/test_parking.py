"""Parking: a task whose check needs a module of a task not done yet waits for that task."""

from __future__ import annotations

import pytest

from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Assign, TaskState
from lmteams.scheduling.topologies import make_policy


def graph() -> TaskGraph:
    # b imports a's module without declaring it; c depends on b
    return TaskGraph.build([("a", []), ("b", []), ("c", ["b"])])


def started(decisions: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {d.task: d.node for d in decisions if isinstance(d, Assign)}


@pytest.mark.parametrize("topology", ["preassign", "steal", "decentralized"])
def test_parked_task_waits_then_comes_back_when_its_provider_is_done(topology: str) -> None:
    policy = make_policy(topology, graph(), ["w1", "w2"], seed=0)
    running = started(policy.start())
    if topology == "decentralized":  # nodes claim: w1 takes b, w2 takes a
        running |= started(policy.claim("w1", "b"))
        running |= started(policy.claim("w2", "a"))
    assert set(running) == {"a", "b"}
    board = policy.board
    after = started(policy.task_parked("b", running["b"], "a"))
    assert board.state["b"] is TaskState.PENDING and not board.is_ready("b")
    assert "b" not in after and running["b"] not in board.busy  # its node is free
    back = started(policy.task_done("a", running["a"]))
    if topology == "decentralized":
        assert board.is_ready("b")  # claimable again
    else:
        assert "b" in back  # assigned again at once


def test_parking_on_a_task_that_fails_blocks_the_parked_task_and_its_dependents() -> None:
    policy = make_policy("steal", graph(), ["w1", "w2"], seed=0)
    decisions = policy.start()
    started = {d.task: d.node for d in decisions if isinstance(d, Assign)}
    assert set(started) == {"a", "b"}
    policy.task_parked("b", started["b"], "a")
    policy.task_failed("a", started["a"], requeue=False)
    board = policy.board
    assert board.state["a"] is TaskState.FAILED
    assert board.state["b"] is TaskState.BLOCKED and board.state["c"] is TaskState.BLOCKED
    assert policy.complete


def test_parking_on_a_finished_task_requeues_at_once() -> None:
    policy = make_policy("steal", graph(), ["w1"], seed=0)
    decisions = policy.start()
    first = next(d for d in decisions if isinstance(d, Assign))
    policy.task_done(first.task, "w1")
    running = policy.board.busy["w1"]
    other = "a" if running == "b" else "b"
    assert policy.board.state[other] is TaskState.DONE
    again = policy.task_parked(running, "w1", other)
    assert Assign(running, "w1") in again
