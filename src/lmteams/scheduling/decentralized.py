"""Decentralized self-claiming (the study's decentralized condition).

Every idle node's model is shown the shared task list and chooses a task to claim. The policy
only validates: a claim of a task that is taken, finished, unknown, not allowed for the node,
or whose prerequisites are not done is refused and counted. Contention is real: idle nodes are
asked at the same time, see the same list, and may choose the same task. A refused node is
asked again while something is ready for it (at most ``max_retries`` times per change of the
board), otherwise it waits for the next task to finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import (
    DONE,
    PENDING,
    RUNNING,
    Assign,
    Decision,
    Note,
    Policy,
    PolicyOptions,
    RequestClaim,
)


class DecentralizedPolicy(Policy):
    name = "decentralized"
    ordered_ready = True  # claiming nodes are shown the board's first rows

    def __init__(
        self,
        graph: TaskGraph,
        workers: Sequence[str],
        *,
        max_retries: int = 2,
        **common: Unpack[PolicyOptions],
    ) -> None:
        super().__init__(graph, workers, **common)
        self.max_retries = max_retries
        self.asked: set[str] = set()  # nodes with a claim request outstanding
        self.retries: dict[str, int] = {}
        self.resting: set[str] = set()  # out of retries until the board changes
        # Idle nodes to look at in the next dispatch: only a node that became idle, got its
        # answer or its retries back can have become askable, so a dispatch costs what changed,
        # not the team's size (1,000 simulated nodes, 100,000 claims).
        self.look: set[str] = set()
        self.order = {w: i for i, w in enumerate(workers)}
        self.refused = 0

    def _has_open_work(self, node: str) -> bool:
        board = self.board
        unclaimed = self.graph.n - board.finished - len(board.running_on)
        if not self.eligible or unclaimed == 0:
            return unclaimed > 0
        return any(s is PENDING and self.can_run(node, t) for t, s in board.state.items())

    def _has_ready_work(self, node: str) -> bool:
        if not self.eligible:
            return bool(self.board.ready)
        return any(self.can_run(node, t) for t in self.board.ready)

    def dispatch(self) -> list[Decision]:
        """Ask every idle node, in team order, that has no claim out, has retries left and
        could find work."""
        board = self.board
        if not board.busy and not self.asked:
            # Nothing runs and nobody is deciding: no task will finish to change the board, so
            # every node gets its retries back (the coordinator caps claims in total).
            self._board_changed()
        look = self.look
        if board.woken:
            look |= board.woken
            board.woken.clear()
        if not look or (
            not self.eligible and self.graph.n <= board.finished + len(board.running_on)
        ):
            return []  # nothing to claim: whoever waits is looked at again later
        decisions: list[Decision] = []
        # one node to look at is the usual event (its claim came back): no sort for it
        order = tuple(look) if len(look) == 1 else sorted(look, key=self.order.__getitem__)
        for node in order:
            if (
                node not in board.idle_set
                or node in self.asked
                or self.retries.get(node, 0) > self.max_retries
            ):
                look.discard(node)  # back once it is idle, answered or rested
            elif self._has_open_work(node):
                look.discard(node)
                self.asked.add(node)
                decisions.append(RequestClaim(node))
        return decisions

    def _board_changed(self) -> None:
        self.retries.clear()
        self.look |= self.resting
        self.resting.clear()

    def task_done(self, task: str, node: str) -> list[Decision]:
        self.board.finish(task)
        self._board_changed()
        return self.dispatch()

    def task_failed(
        self, task: str, node: str, *, requeue: bool, avoid: bool = False
    ) -> list[Decision]:
        self._board_changed()
        return super().task_failed(task, node, requeue=requeue, avoid=avoid)

    def on_node_lost(self, node: str) -> None:
        self.asked.discard(node)

    def claim(
        self, node: str, task: str | None, detail: str = "", now: float = 0.0
    ) -> list[Decision]:
        """``node``'s model chose ``task`` (None: it named no valid task id); no leases here."""
        self.asked.discard(node)
        self.look.add(node)
        if node not in self.board.live:
            return self.dispatch()
        reason = self._refusal(node, task)
        if reason is None:
            assert task is not None
            self.board.start(task, node)
            self.retries.pop(node, None)
            self.resting.discard(node)
            return [Assign(task, node), *self.dispatch()]
        self.refused += 1
        self.retries[node] = self.retries.get(node, 0) + 1
        note = Note("claim_refused", node, task, reason + (f"; {detail}" if detail else ""))
        if not self._has_ready_work(node):
            # nothing to claim until a task finishes: wait instead of asking again
            self.retries[node] = self.max_retries + 1
        if self.retries[node] > self.max_retries:
            self.resting.add(node)
        return [note, *self.dispatch()]

    def _refusal(self, node: str, task: str | None) -> str | None:
        if task is None:
            return "no valid task id in the reply"
        state = self.board.state.get(task)
        if state is None:
            return f"unknown task {task!r}"
        if state is RUNNING:
            return f"{task} is already claimed by {self.board.running_on[task]}"
        if state is not PENDING:
            return f"{task} is {state.value}"
        if not self.can_run(node, task):
            return f"{node} does not have the role or skills {task} needs"
        if self.board.missing[task]:
            waiting = [d for d in self.graph.deps[task] if self.board.state[d] is not DONE]
            return f"{task} waits for {', '.join(waiting)}"
        return None
