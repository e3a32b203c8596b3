"""When a node counts as lost and when a task is run again: the failure rules, in one place.

Every shell (the coordinator's task path and rounds harness, the simulator's engine and rounds
harness) tells a :class:`FailureAccount` what happened to a call or a task attempt and applies
the policy inputs it answers with, in order. If the rules lived in each shell, one copy could
drift and the simulator would stop predicting real runs without anybody noticing.

The rules:

- a successful task (the rounds harness: any successful call) clears its node's run of failed
  calls;
- a failed call adds one to it; at ``node_failure_limit`` in a row, or when the health detector
  already calls the node dead, the node is lost, unless it is the last worker;
- the node is lost before its task is put back, so the task cannot go back to it;
- a task whose own call failed (or whose node was lost while holding it) is interrupted: run
  again, away from that node, until it has been interrupted ``max_task_attempts`` times;
- a task that failed for good (its checks used up) is not run again.

Pure: the shell passes the policy board's live workers; no rule depends on time, so none
takes a clock or ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from lmteams.scheduling.driver import Input, NodeLost, TaskDone, TaskFailed, TaskParked

Outcome = Literal["done", "failed", "parked", "call_failed"]


@dataclass(slots=True)
class FailureAccount:
    """Failure counts of one run, turned into policy inputs (see the module docstring)."""

    node_failure_limit: int
    max_task_attempts: int
    failures: dict[str, int] = field(default_factory=dict)  # node -> consecutive failed calls
    interrupted: dict[str, int] = field(default_factory=dict)  # task -> times interrupted

    def call_ok(self, node: str) -> None:
        """A call on ``node`` did what it was asked: its run of failures ends."""
        self.failures[node] = 0

    def call_failed(
        self,
        node: str,
        workers: Sequence[str],
        *,
        dead: bool = False,
        running: str | None = None,
        holds: str | None = None,
    ) -> list[Input]:
        """A call on ``node`` failed. ``running``: the task this call was an attempt at (it is
        interrupted); ``holds``: a task the node keeps across calls (interrupted only if the
        node is lost). ``dead``: the health detector already gave the node up."""
        count = self.failures[node] = self.failures.get(node, 0) + 1
        inputs: list[Input] = []
        lost = (dead or count >= self.node_failure_limit) and node in workers and len(workers) > 1
        if lost:
            inputs.append(NodeLost(node))
        task = running if running is not None else holds if lost else None
        if task is not None:
            inputs.append(self.interrupt(task, node))
        return inputs

    def interrupt(self, task: str, node: str) -> TaskFailed:
        """``task`` stopped with its node: put it back elsewhere while attempts remain."""
        count = self.interrupted[task] = self.interrupted.get(task, 0) + 1
        return TaskFailed(task, node, requeue=count < self.max_task_attempts, avoid=True)

    def outcome(
        self,
        task: str,
        node: str,
        outcome: Outcome,
        workers: Sequence[str],
        *,
        until: str | None = None,
        dead: bool = False,
    ) -> list[Input]:
        """A task attempt on ``node`` ended with ``outcome``; the inputs that follow, in order
        (``until``: the task a parked one waits for)."""
        if outcome == "done":
            self.call_ok(node)
            return [TaskDone(task, node)]
        if outcome == "parked":
            if until is None:
                raise ValueError(f"a parked task ({task}) needs the task it waits for")
            return [TaskParked(task, node, until)]
        if outcome == "failed":
            return [TaskFailed(task, node, requeue=False)]
        return self.call_failed(node, workers, dead=dead, running=task)

    def replayed(self, item: Input) -> None:
        """Count a logged input again when a run is resumed (only interruptions are kept)."""
        if isinstance(item, TaskFailed) and item.requeue:
            self.interrupted[item.task] = self.interrupted.get(item.task, 0) + 1
