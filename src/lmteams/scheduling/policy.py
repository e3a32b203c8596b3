"""The contract of a scheduling policy: a pure, time-agnostic state machine.

A policy receives events (a task finished, a node was lost, a node's model proposed a claim,
the lead proposed assignments) through its methods and answers with decisions (assign this
task to that node; ask that node's model what it wants to claim; ask the lead for an
assignment). It does no I/O and reads no clock, so the real coordinator, the simulator and the
Ray runtime all drive the exact same code, and a run can be resumed by replaying its logged
events into a fresh policy.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict

from lmteams.frozen import quick_init
from lmteams.scheduling.graph import TaskGraph


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"  # a prerequisite failed; the task will never run


# Bound once, for the policies' hot paths: reading a member off an enum class costs ten times a
# global in Python 3.11, and the board reads them once per task event.
PENDING, RUNNING, DONE = TaskState.PENDING, TaskState.RUNNING, TaskState.DONE


# -- decisions (policy -> coordinator) ---------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class Assign:
    """Start ``task`` on ``node`` now (all its prerequisites are done)."""

    task: str
    node: str


@quick_init
@dataclass(frozen=True, slots=True)
class RequestClaim:
    """Ask ``node``'s model which task it wants, showing it the shared task list."""

    node: str


@quick_init
@dataclass(frozen=True, slots=True)
class RequestAssignment:
    """Ask the lead's model to assign ``ready`` tasks to ``idle`` nodes."""

    idle: tuple[str, ...]
    ready: tuple[str, ...]
    feedback: str | None = None
    attempt: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class Note:
    """Something worth counting and logging: a refused claim, a rejected assignment, a steal."""

    kind: str
    node: str | None = None
    task: str | None = None
    detail: str = ""


Decision = Assign | RequestClaim | RequestAssignment | Note


# -- the base ------------------------------------------------------------------------------------


class ReadySet(set[str]):
    """The ready tasks: a set that also keeps them in file order, so the first ``k`` cost
    O(k) (a claiming node is shown the board's first rows; the simulator asks that for every
    claim). Only ``add`` and ``discard`` change it."""

    def __init__(self, tasks: Iterable[str], position: Mapping[str, int]) -> None:
        super().__init__(tasks)
        self.reindex(position)

    def add(self, task: str) -> None:
        if task not in self:
            super().add(task)
            at = self.position[task]
            i = bisect.bisect_left(self.positions, at)
            self.positions.insert(i, at)
            self.ordered.insert(i, task)

    def discard(self, task: object) -> None:
        if isinstance(task, str) and task in self:
            super().discard(task)
            i = bisect.bisect_left(self.positions, self.position[task])
            del self.positions[i]
            del self.ordered[i]

    def reindex(self, position: Mapping[str, int]) -> None:
        """The graph changed (an edit): file positions are read anew."""
        self.position = position
        self.ordered = sorted(self, key=position.__getitem__)
        self.positions = [position[t] for t in self.ordered]

    def first(self, k: int | None = None) -> list[str]:
        """The first ``k`` ready tasks in file order (all of them if ``k`` is None)."""
        return self.ordered[:k]


@dataclass
class Board:
    """Shared bookkeeping of task and node states that every policy needs.

    Kept incrementally (ready tasks and idle workers are sets), so every event costs time in
    proportion to what it changes, not to the size of the graph or the team: the simulator
    drives 100,000 tasks on 10,000 nodes through these same structures.
    """

    graph: TaskGraph
    workers: list[str]
    ordered: bool = False  # keep the ready tasks in file order too (a ReadySet)
    state: dict[str, TaskState] = field(default_factory=dict)
    running_on: dict[str, str] = field(default_factory=dict)  # task -> node
    busy: dict[str, str] = field(default_factory=dict)  # node -> task
    missing: dict[str, int] = field(default_factory=dict)  # task -> unfinished prerequisites
    ready: set[str] = field(default_factory=set)  # pending tasks whose prerequisites are done
    idle_set: set[str] = field(default_factory=set)
    # nodes that became idle since a policy last looked (a policy that wants to look only at
    # what changed drains it)
    woken: set[str] = field(default_factory=set)
    live: set[str] = field(default_factory=set)  # the workers, as a set
    finished: int = 0
    # task -> parked tasks waiting for it: their check imported its module before it existed
    waiters: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = {t: TaskState.PENDING for t in self.graph.ids}
        self.missing = {t: len(self.graph.deps[t]) for t in self.graph.ids}
        ready = (t for t in self.graph.ids if self.missing[t] == 0)
        # a plain set unless asked: set.add in C is what most policies' events cost
        self.ready = ReadySet(ready, self.graph.position) if self.ordered else set(ready)
        self.idle_set = set(self.workers)
        self.woken = set(self.workers)
        self.live = set(self.workers)

    def is_ready(self, task: str) -> bool:
        return task in self.ready

    def state_counts(self) -> dict[str, int]:
        """How many tasks are in each state, by the state's name (a live view's tallies)."""
        return dict(Counter(state.value for state in self.state.values()))

    def first_ready(self, k: int | None = None) -> list[str]:
        """The first ``k`` ready tasks in file order (all of them if ``k`` is None)."""
        if isinstance(self.ready, ReadySet):
            return self.ready.first(k)
        position = self.graph.position.__getitem__
        if k is None or len(self.ready) <= k:
            return sorted(self.ready, key=position)
        return heapq.nsmallest(k, self.ready, key=position)

    def ready_at(self, i: int) -> str:
        """The ``i``-th ready task in file order (``first_ready(i + 1)[i]``, without a copy
        when the ready tasks are kept in order)."""
        if isinstance(self.ready, ReadySet):
            return self.ready.ordered[i]
        return self.first_ready(i + 1)[i]

    def regraph(self, graph: TaskGraph) -> None:
        """The graph was edited: read file positions from ``graph`` from now on."""
        self.graph = graph
        if isinstance(self.ready, ReadySet):
            self.ready.reindex(graph.position)

    def idle(self) -> list[str]:
        """Idle workers in team order (O(team size): for small teams and decisions only)."""
        return [w for w in self.workers if w in self.idle_set]

    def is_idle(self, node: str) -> bool:
        return node in self.idle_set

    def make_idle(self, node: str) -> None:
        """``node`` takes work again (its late call came back)."""
        if node in self.live and node not in self.busy:
            self.idle_set.add(node)
            self.woken.add(node)

    @property
    def complete(self) -> bool:
        return self.finished == self.graph.n

    def start(self, task: str, node: str) -> None:
        ready, idle = self.ready, self.idle_set
        if task not in ready:
            raise AssertionError(f"policy bug: {task} started before it was ready")
        if node not in idle:
            raise AssertionError(f"policy bug: {node} is not idle")
        ready.discard(task)
        self.state[task] = RUNNING
        self.running_on[task] = node
        self.busy[node] = task
        idle.discard(node)

    def _release(self, task: str) -> str | None:
        node = self.running_on.pop(task, None)
        if node is not None:
            busy = self.busy
            if busy.get(node) == task:
                del busy[node]
                if node in self.live:
                    self.idle_set.add(node)
                    self.woken.add(node)
        return node

    def finish(self, task: str) -> list[str]:
        """Mark done; return the dependents that became ready."""
        self._release(task)
        state, missing = self.state, self.missing
        state[task] = DONE
        self.finished += 1
        newly_ready = []
        children: Iterable[str] = self.graph.dependents[task]
        if self.waiters:
            waiting = self.waiters.pop(task, None)
            if waiting:
                children = (*children, *sorted(waiting))
        for child in children:
            left = missing[child] = missing[child] - 1
            if left == 0 and state[child] is PENDING:
                self.ready.add(child)
                newly_ready.append(child)
        return newly_ready

    def requeue(self, task: str) -> None:
        self._release(task)
        self.state[task] = TaskState.PENDING
        if self.missing[task] == 0:
            self.ready.add(task)

    def park(self, task: str, until: str) -> None:
        """Take ``task`` off its node until ``until`` is done: a dependency found at run time."""
        self._release(task)
        self.state[task] = TaskState.PENDING
        self.ready.discard(task)
        self.missing[task] += 1
        self.waiters.setdefault(until, set()).add(task)

    def remove_worker(self, node: str) -> None:
        self.workers.remove(node)
        self.live.discard(node)
        self.idle_set.discard(node)

    def fail(self, task: str) -> list[str]:
        """Mark failed and block everything downstream; return the tasks newly finished."""
        self._release(task)
        self.ready.discard(task)
        self.state[task] = TaskState.FAILED
        self.finished += 1
        closed = [task]
        stack = [*self.graph.dependents[task], *self.waiters.pop(task, ())]
        while stack:
            child = stack.pop()
            if self.state[child] is TaskState.PENDING:
                self.state[child] = TaskState.BLOCKED
                self.ready.discard(child)
                self.finished += 1
                closed.append(child)
                stack.extend(self.graph.dependents[child])
                stack.extend(self.waiters.pop(child, ()))
        return closed


class PolicyOptions(TypedDict, total=False):
    """What every topology takes besides its graph and workers (a subclass adds its own)."""

    eligible: Mapping[str, Iterable[str]] | None  # task -> nodes allowed to run it
    seed: int


class Policy:
    """Base of every topology. Subclasses override the hooks they need."""

    name = "abstract"
    ordered_ready = False  # whether the policy's shells read the ready tasks in file order

    def __init__(
        self,
        graph: TaskGraph,
        workers: Sequence[str],
        *,
        eligible: Mapping[str, Iterable[str]] | None = None,
        seed: int = 0,
    ) -> None:
        if not workers:
            raise ValueError("a policy needs at least one worker")
        self.graph = graph
        self.board = Board(graph, list(workers), ordered=self.ordered_ready)
        # task -> nodes allowed to run it (role and skill routing); absent = any worker
        self.eligible = {t: frozenset(n) for t, n in (eligible or {}).items()}
        # task -> nodes it failed on (re-routing: they get it back only as a last resort)
        self.avoid: dict[str, set[str]] = {}
        self.rng = random.Random(seed)

    def runnable(self, node: str, tasks: Iterable[str]) -> list[str]:
        """Those of ``tasks`` that ``node`` may run (:meth:`can_run`), in their order."""
        if not self.eligible and not self.avoid:
            return list(tasks)
        return [t for t in tasks if self.can_run(node, t)]

    def can_run(self, node: str, task: str) -> bool:
        allowed = self.eligible.get(task)
        if allowed is not None and node not in allowed:
            return False
        avoided = self.avoid.get(task)
        if avoided and node in avoided:
            # a node the task already failed on gets it again only if nobody else can take it
            return not any(
                w not in avoided and (allowed is None or w in allowed) for w in self.board.workers
            )
        return True

    # -- events ------------------------------------------------------------------------------

    def start(self) -> list[Decision]:
        return self.dispatch()

    def task_done(self, task: str, node: str) -> list[Decision]:
        self.board.finish(task)
        return self.dispatch()

    def task_failed(
        self, task: str, node: str, *, requeue: bool, avoid: bool = False
    ) -> list[Decision]:
        """A task's attempt failed: run it again (``requeue``; elsewhere if ``avoid`` and
        another node can) or give it up."""
        if requeue:
            if avoid:
                self.avoid.setdefault(task, set()).add(node)
            self.board.requeue(task)
            self.on_requeue(task, node if avoid else None)
        else:
            self.board.fail(task)
        return self.dispatch()

    def task_parked(self, task: str, node: str, until: str) -> list[Decision]:
        """A task's check needs ``until``'s module, which is not done yet: free the node and
        run the task again (a re-check, no new model call) once ``until`` is done."""
        state = self.board.state[until]
        if state is TaskState.DONE:
            self.board.requeue(task)
        elif state in (TaskState.FAILED, TaskState.BLOCKED):
            self.board.fail(task)
            return self.dispatch()
        else:
            self.board.park(task, until)
        self.on_requeue(task, None)
        return self.dispatch()

    def node_lost(self, node: str) -> list[Decision]:
        """A node died: its work goes elsewhere. The coordinator reports its running task
        separately through :meth:`task_failed` with ``requeue=True``."""
        if node in self.board.workers:
            self.board.remove_worker(node)
        if not self.board.workers:
            raise ValueError("every worker has been lost")
        self.on_node_lost(node)
        return self.dispatch()

    def claim(
        self, node: str, task: str | None, detail: str = "", now: float = 0.0
    ) -> list[Decision]:
        """``node``'s model chose ``task`` at ``now`` (a leased claim's lease starts then)."""
        raise NotImplementedError(f"{self.name} does not take claims")

    def proposal(
        self, assignments: Sequence[tuple[str, str]], attempt: int, detail: str = ""
    ) -> list[Decision]:
        raise NotImplementedError(f"{self.name} does not take lead proposals")

    # -- hooks -------------------------------------------------------------------------------

    def dispatch(self) -> list[Decision]:
        """Decisions for the current state (assign idle nodes, ask models...)."""
        raise NotImplementedError

    def on_requeue(self, task: str, avoid: str | None) -> None:
        return None

    def on_node_lost(self, node: str) -> None:
        return None

    @property
    def complete(self) -> bool:
        return self.board.complete
