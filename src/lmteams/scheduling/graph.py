"""A task graph (DAG) and what its shape predicts: critical path, parallel fraction, Amdahl.

Pure: no I/O. The study's definitions: N tasks, C = tasks on the longest dependency chain,
p = (N - C) / N, Amdahl S(n) = 1 / ((1 - p) + p / n), and for unit tasks the makespan lower
bound max(C, ceil(N / n)).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property


class GraphError(ValueError):
    """The graph is not a valid DAG; the message names the problem (and the cycle)."""


@dataclass(frozen=True)
class TaskGraph:
    """Task ids in a stable order, each with its dependencies and an expected duration."""

    ids: tuple[str, ...]
    deps: Mapping[str, tuple[str, ...]]
    durations: Mapping[str, float]

    @classmethod
    def build(
        cls,
        tasks: Sequence[tuple[str, Sequence[str]]],
        durations: Mapping[str, float] | None = None,
    ) -> TaskGraph:
        """Validate and build: duplicate ids, unknown dependencies, cycles, empty graph."""
        if not tasks:
            raise GraphError("the project has no tasks")
        ids: list[str] = []
        seen: set[str] = set()
        for task_id, _ in tasks:
            if task_id in seen:
                raise GraphError(f"duplicate task id {task_id!r}")
            seen.add(task_id)
            ids.append(task_id)
        deps: dict[str, tuple[str, ...]] = {}
        for task_id, task_deps in tasks:
            for dep in task_deps:
                if dep not in seen:
                    raise GraphError(f"task {task_id!r} depends on unknown task {dep!r}")
                if dep == task_id:
                    raise GraphError(f"task {task_id!r} depends on itself")
            deps[task_id] = tuple(dict.fromkeys(task_deps))
        graph = cls(tuple(ids), deps, dict(durations or {}))
        cycle = graph.find_cycle()
        if cycle:
            raise GraphError("dependency cycle: " + " -> ".join([*cycle, cycle[0]]))
        return graph

    # -- structure ---------------------------------------------------------------------------

    @cached_property
    def position(self) -> dict[str, int]:
        """Index of each task in file order."""
        return {t: i for i, t in enumerate(self.ids)}

    @cached_property
    def dependents(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {t: [] for t in self.ids}
        for task in self.ids:
            for dep in self.deps[task]:
                out[dep].append(task)
        return {t: tuple(v) for t, v in out.items()}

    def find_cycle(self) -> list[str] | None:
        """A dependency cycle as a list of task ids, or None (iterative DFS)."""
        state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
        for root in self.ids:
            if state.get(root):
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            path: list[str] = []
            while stack:
                node, index = stack.pop()
                if index == 0:
                    state[node] = 1
                    path.append(node)
                deps = self.deps[node]
                if index < len(deps):
                    stack.append((node, index + 1))
                    dep = deps[index]
                    if state.get(dep) == 1:
                        return path[path.index(dep) :]
                    if not state.get(dep):
                        stack.append((dep, 0))
                else:
                    state[node] = 2
                    path.pop()
        return None

    @cached_property
    def topological_order(self) -> tuple[str, ...]:
        """Dependencies before dependents; ties keep the file order (stable)."""
        position = self.position
        deps = self.deps
        if all(position[d] < i for i, t in enumerate(self.ids) for d in deps[t]):
            # Every task comes after its prerequisites in the file (the usual case): the
            # stable order is the file order itself, found without a heap.
            return self.ids
        remaining = {t: len(deps[t]) for t in self.ids}
        ready = [t for t in self.ids if remaining[t] == 0]
        order: list[str] = []
        heap = [(position[t], t) for t in ready]
        heapq.heapify(heap)
        while heap:
            _, task = heapq.heappop(heap)
            order.append(task)
            for child in self.dependents[task]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    heapq.heappush(heap, (position[child], child))
        return tuple(order)

    def duration(self, task: str) -> float:
        return self.durations.get(task, 1.0)

    @cached_property
    def n(self) -> int:
        """N: the number of tasks (read once per claim by the decentralized policy)."""
        return len(self.ids)

    # -- paths ---------------------------------------------------------------------------------

    @cached_property
    def depth(self) -> dict[str, int]:
        """Tasks on the longest chain ending at each task (a root has depth 1)."""
        ends = self.finish_times(dict.fromkeys(self.ids, 1.0))
        return {task: int(end) for task, end in ends.items()}

    def finish_times(self, duration: Mapping[str, float], missing: float = 0.0) -> dict[str, float]:
        """When each task ends with as many workers as tasks: its ``duration`` (``missing``
        when it has none) after the last of its prerequisites ends, from 0 at the roots."""
        finish: dict[str, float] = {}
        deps = self.deps
        for task in self.topological_order:
            start = 0.0
            for dep in deps[task]:  # a loop, not max(): this runs once per edge of the graph
                if finish[dep] > start:
                    start = finish[dep]
            finish[task] = duration.get(task, missing) + start
        return finish

    @cached_property
    def tail(self) -> dict[str, float]:
        """Expected time from the start of each task to the end of the graph (its priority)."""
        tail: dict[str, float] = {}
        dependents, durations = self.dependents, self.durations
        for task in reversed(self.topological_order):
            longest = 0.0
            for child in dependents[task]:
                if tail[child] > longest:
                    longest = tail[child]
            tail[task] = durations.get(task, 1.0) + longest
        return tail

    @cached_property
    def critical_path(self) -> tuple[str, ...]:
        """The longest chain by task count (ties broken by expected time, then file order)."""
        best: dict[str, tuple[int, float]] = {}
        parent: dict[str, str | None] = {}
        for task in self.topological_order:
            choice: str | None = None
            value = (0, 0.0)
            for dep in self.deps[task]:
                if best[dep] > value:
                    value, choice = best[dep], dep
            best[task] = (value[0] + 1, value[1] + self.duration(task))
            parent[task] = choice
        end = max(self.ids, key=lambda t: (best[t], -self.position[t]))
        chain = [end]
        while parent[chain[-1]] is not None:
            chain.append(parent[chain[-1]])  # type: ignore[arg-type]
        return tuple(reversed(chain))

    @property
    def c(self) -> int:
        """C: tasks on the longest dependency chain."""
        return max(self.depth.values())

    @cached_property
    def critical_time(self) -> float:
        """The longest chain by expected time."""
        return max(self.tail[t] for t in self.ids if not self.deps[t])

    @property
    def total_time(self) -> float:
        return sum(self.duration(t) for t in self.ids)

    @property
    def p(self) -> float:
        """Parallel fraction p = (N - C) / N."""
        return (self.n - self.c) / self.n

    def amdahl(self, workers: int) -> float:
        return amdahl(self.p, workers)

    def lower_bound(self, workers: int) -> int:
        """Makespan lower bound for unit tasks: max(C, ceil(N / n))."""
        return max(self.c, math.ceil(self.n / workers))

    def lower_bound_time(self, workers: int) -> float:
        """Lower bound with expected durations: max(critical time, total work / n)."""
        return max(self.critical_time, self.total_time / workers)

    def recommended_workers(self, threshold: float = 0.10, limit: int = 64) -> int:
        """The smallest n past which one more worker adds under ``threshold`` speedup.

        Uses the DAG's own bound (unit tasks: N / max(C, ceil(N/n))), which, unlike Amdahl,
        stops growing once the critical path dominates.
        """
        for n in range(1, limit):
            now = self.n / self.lower_bound(n)
            nxt = self.n / self.lower_bound(n + 1)
            if nxt < now * (1 + threshold):
                return n
        return limit


def amdahl(p: float, workers: float) -> float:
    """Amdahl's law: S(n) = 1 / ((1 - p) + p / n)."""
    return 1.0 / ((1.0 - p) + p / workers)
