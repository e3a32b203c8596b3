"""Pre-assigned queues (the study's centralized condition) and work stealing.

Before the start, tasks are grouped into dependency chains (a chain continues through the
dependent with the longest remaining path, so one node runs it without waiting on another),
and chains are placed on nodes: ``least-loaded`` (longest chain first onto the least-loaded
node) or ``round-robin`` (chains dealt in file order, as the study did). Each node runs the
first ready task of its own queue. With stealing, a node whose queue has nothing ready takes
a ready task from the most loaded queue instead of idling.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Unpack

from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Assign, Decision, Note, Policy, PolicyOptions, TaskState

Balance = Literal["least-loaded", "round-robin"]


def chains(graph: TaskGraph, eligible: Mapping[str, frozenset[str]]) -> list[list[str]]:
    """Split the graph into chains, in order of their first task in the file.

    A task's successor is its child with the longest tail (ties: the earliest in the file); a
    task joins the chain of the deepest prerequisite whose successor it is, when both have the
    same eligible nodes (ties: the first such prerequisite listed)."""
    tail, position, depth = graph.tail, graph.position, graph.depth
    successor: dict[str, str] = {}
    claimants: dict[str, list[str]] = {}  # task -> the prerequisites whose successor it is
    for task, children in graph.dependents.items():
        if not children:
            continue
        best = children[0]
        if len(children) > 1:  # max() by (tail, -position), as a loop: once per edge
            best_tail, best_position = tail[best], position[best]
            for child in children[1:]:
                child_tail = tail[child]
                if child_tail > best_tail or (
                    child_tail == best_tail and position[child] < best_position
                ):
                    best, best_tail, best_position = child, child_tail, position[child]
        successor[task] = best
        claims = claimants.get(best)
        if claims is None:
            claimants[best] = [task]
        else:
            claims.append(task)
    chain_of: dict[str, int] = {}
    groups: list[list[str]] = []
    deps = graph.deps
    roles = bool(eligible)
    for task in graph.topological_order:
        home = None
        claims = claimants.get(task)
        if claims is not None and len(claims) == 1 and not roles:
            home = chain_of[claims[0]]
        elif claims is not None:
            allowed = eligible.get(task) if roles else None
            best_depth = -1
            for dep in deps[task]:
                if (
                    successor.get(dep) == task
                    and depth[dep] > best_depth
                    and (not roles or eligible.get(dep) == allowed)
                ):
                    home, best_depth = chain_of[dep], depth[dep]
        if home is None:
            home = len(groups)
            groups.append([task])
        else:
            groups[home].append(task)
        chain_of[task] = home
    if graph.topological_order is not graph.ids:
        # a chain's first task is its earliest in the file only when the file is in order
        first = position.__getitem__
        groups.sort(key=lambda g: min(map(first, g)))
    return groups


def _work_of(graph: TaskGraph) -> Callable[[Sequence[str]], float]:
    """The expected time of a group of tasks (its length when tasks carry no estimates)."""
    if not graph.durations:
        return lambda tasks: float(len(tasks))
    durations = graph.durations
    return lambda tasks: sum(durations.get(t, 1.0) for t in tasks)


def place(
    graph: TaskGraph,
    workers: Sequence[str],
    eligible: Mapping[str, frozenset[str]],
    balance: Balance,
) -> dict[str, list[str]]:
    """Queues per worker, each in topological order."""
    groups = chains(graph, eligible)
    work = _work_of(graph)
    load = {w: 0.0 for w in workers}
    queues: dict[str, list[str]] = {w: [] for w in workers}

    def candidates(group: list[str]) -> list[str]:
        allowed = eligible.get(group[0])
        return [w for w in workers if allowed is None or w in allowed] or list(workers)

    if balance == "round-robin":
        for index, group in enumerate(groups):
            options = candidates(group)
            target = options[index % len(options)]
            queues[target].extend(group)
            load[target] += work(group)
    else:
        weight = {id(g): work(g) for g in groups}
        order_of = {w: i for i, w in enumerate(workers)}
        lightest = [(0.0, i, w) for i, w in enumerate(workers)]  # a heap: least loaded first
        for group in sorted(groups, key=lambda g: -weight[id(g)]):
            if eligible.get(group[0]) is None:
                _, _, target = heapq.heappop(lightest)
            else:
                target = min(candidates(group), key=lambda w: (load[w], order_of[w]))
                lightest = [e for e in lightest if e[2] != target]
                heapq.heapify(lightest)
            queues[target].extend(group)
            load[target] += weight[id(group)]
            heapq.heappush(lightest, (load[target], order_of[target], target))
    order = (
        graph.position
        if graph.topological_order is graph.ids
        else {t: i for i, t in enumerate(graph.topological_order)}
    )
    for queue in queues.values():
        queue.sort(key=order.__getitem__)
    return queues


class PreassignPolicy(Policy):
    """Every task placed before the start; a node only runs its own queue.

    Work per event is proportional to what the event changes: only nodes that became idle or
    gained a ready task are looked at, and stealing draws from a heap of loaded queues.
    """

    name = "preassign"
    steals = False

    def __init__(
        self,
        graph: TaskGraph,
        workers: Sequence[str],
        *,
        balance: Balance = "least-loaded",
        **common: Unpack[PolicyOptions],
    ) -> None:
        super().__init__(graph, workers, **common)
        self.balance = balance
        self.tail = graph.tail
        self.duration = graph.durations.get  # (task, 1.0): TaskGraph.duration without a call
        self.index = {w: i for i, w in enumerate(workers)}
        self.queues = place(graph, list(workers), self.eligible, balance)
        self.owner = {t: w for w, q in self.queues.items() for t in q}
        self.position = {t: i for q in self.queues.values() for i, t in enumerate(q)}
        # Ready tasks per owner, longest remaining path first (critical-path list scheduling).
        self.own_ready: dict[str, list[tuple[float, int, str]]] = {w: [] for w in workers}
        work = _work_of(graph)
        self.remaining = {w: work(q) for w, q in self.queues.items()}
        self.wake: set[str] = set(workers)  # nodes to look at in the next dispatch
        self.hungry: set[str] = set()  # idle nodes with nothing of their own ready
        self.hungry_order: list[tuple[int, str]] = []  # the same nodes, as a heap (lazy)
        self.victims: list[tuple[float, int, str]] = []  # loaded queues with ready work (lazy)
        for task in graph.ids:
            if self.board.is_ready(task):
                self._push_ready(task)

    def plan(self) -> dict[str, list[str]]:
        """The initial queues, for logging and for the live view."""
        return {w: list(q) for w, q in self.queues.items()}

    # -- bookkeeping -------------------------------------------------------------------------

    def _push_ready(self, task: str) -> None:
        owner = self.owner[task]
        heap = self.own_ready[owner]
        heapq.heappush(heap, (-self.tail[task], self.position[task], task))
        self.wake.add(owner)
        if self.steals:  # _offer, inlined: once per task that becomes ready
            heapq.heappush(self.victims, (-self.remaining[owner], self.index[owner], owner))

    def _offer(self, worker: str) -> None:
        if self.steals and self.own_ready.get(worker):
            heapq.heappush(self.victims, (-self.remaining[worker], self.index[worker], worker))

    def _valid(self, entry: tuple[float, int, str], worker: str) -> bool:
        task = entry[2]
        return self.board.is_ready(task) and self.owner[task] == worker

    def _next_own(self, node: str) -> str | None:
        heap = self.own_ready.get(node, [])
        while heap:
            entry = heapq.heappop(heap)
            if self._valid(entry, node):
                return entry[2]
        return None

    def _steal(self, thief: str) -> tuple[str, str] | None:
        skipped: list[tuple[float, int, str]] = []
        found: tuple[str, str] | None = None
        while self.victims and found is None:
            entry = heapq.heappop(self.victims)
            victim = entry[2]
            heap = self.own_ready.get(victim)
            if victim not in self.board.live or not heap or -entry[0] != self.remaining[victim]:
                continue  # stale: a fresher entry exists, or nothing is left to take
            while heap and not self._valid(heap[0], victim):
                heapq.heappop(heap)
            if not heap:
                continue
            if victim == thief:
                skipped.append(entry)
                continue
            task = heap[0][2] if self.can_run(thief, heap[0][2]) else None
            if task is None:
                options = [e for e in heap if self._valid(e, victim) and self.can_run(thief, e[2])]
                task = min(options)[2] if options else None
            skipped.append(entry)
            if task is not None:
                found = (task, victim)
        for entry in skipped:
            heapq.heappush(self.victims, entry)
        if found is not None:
            self._move(found[0], thief)
        return found

    def _move(self, task: str, node: str) -> None:
        old = self.owner[task]
        self.remaining[old] -= self.graph.duration(task)
        self.remaining[node] = self.remaining.get(node, 0.0) + self.graph.duration(task)
        self.owner[task] = node
        self._offer(old)

    # -- events ------------------------------------------------------------------------------

    def task_done(self, task: str, node: str) -> list[Decision]:
        for child in self.board.finish(task):
            self._push_ready(child)
        self.wake.add(node)
        return self.dispatch()

    def dispatch(self) -> list[Decision]:
        decisions: list[Decision] = []
        idle = self.board.idle_set
        wake = self.wake
        if len(wake) == 1:  # the usual event: one node finished, or one gained ready work
            candidates = [w for w in wake if w in idle]
        else:
            candidates = sorted((w for w in wake if w in idle), key=self.index.__getitem__)
        wake.clear()
        for node in candidates:
            task = self._next_own(node)
            if task is None:
                if self.steals and node not in self.hungry:
                    self.hungry.add(node)
                    heapq.heappush(self.hungry_order, (self.index[node], node))
                continue
            self._start(task, node, decisions)
        if self.steals and self.hungry and self.victims:
            self._feed_hungry(decisions)
        return decisions

    def _feed_hungry(self, decisions: list[Decision]) -> None:
        """Idle nodes steal, in team order, while anything is left to steal."""
        waiting: list[tuple[int, str]] = []
        while self.hungry_order and self.victims:
            entry = heapq.heappop(self.hungry_order)
            node = entry[1]
            if node not in self.hungry or not self.board.is_idle(node):
                self.hungry.discard(node)
                continue
            stolen = self._steal(node)
            if stolen is None:
                waiting.append(entry)  # nothing it may take now (roles); try again later
                continue
            self.hungry.discard(node)
            decisions.append(Note("steal", node, stolen[0], f"from {stolen[1]}"))
            self._start(stolen[0], node, decisions)
        for entry in waiting:
            heapq.heappush(self.hungry_order, entry)

    def _start(self, task: str, node: str, decisions: list[Decision]) -> None:
        self.board.start(task, node)
        self.hungry.discard(node)
        self.remaining[node] -= self.duration(task, 1.0)
        self._offer(node)
        decisions.append(Assign(task, node))

    def task_failed(
        self, task: str, node: str, *, requeue: bool, avoid: bool = False
    ) -> list[Decision]:
        self.wake.add(node)
        return super().task_failed(task, node, requeue=requeue, avoid=avoid)

    def task_parked(self, task: str, node: str, until: str) -> list[Decision]:
        self.wake.add(node)
        return super().task_parked(task, node, until)

    def on_requeue(self, task: str, avoid: str | None) -> None:
        owner = self.owner[task]
        if owner not in self.board.live:
            self._reassign_from(owner)
            owner = self.owner[task]
        if owner == avoid:
            others = [w for w in self.board.workers if w != avoid and self.can_run(w, task)]
            if others:
                target = min(others, key=lambda w: (self.remaining.get(w, 0.0), self.index[w]))
                self._move(task, target)
                owner = target
        self.remaining[owner] += self.graph.duration(task)
        if self.board.is_ready(task):
            self._push_ready(task)

    def on_node_lost(self, node: str) -> None:
        self.hungry.discard(node)
        self._reassign_from(node)

    def _reassign_from(self, node: str) -> None:
        """Give a lost node's unfinished queue to the least-loaded live workers."""
        orphans = [
            t
            for t, w in self.owner.items()
            if w == node and self.board.state[t] is TaskState.PENDING
        ]
        for task in orphans:
            options = [w for w in self.board.workers if self.can_run(w, task)] or self.board.workers
            target = min(options, key=lambda w: (self.remaining.get(w, 0.0), self.index[w]))
            self._move(task, target)
            if self.board.is_ready(task):
                self._push_ready(task)
        self.own_ready.pop(node, None)


class StealPolicy(PreassignPolicy):
    """Pre-assigned queues plus work stealing: idle nodes take ready work from loaded ones."""

    name = "steal"
    steals = True
