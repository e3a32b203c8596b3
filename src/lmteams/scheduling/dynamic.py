"""The ``dynamic`` topology: self-claiming nodes that may also edit the shared task graph.

This follows the study group's follow-up (LATTE, arXiv 2605.06320). Nodes claim tasks as under
``decentralized``; besides, a node may ask to add a task, split a pending task into parts, or
add a dependency. Every edit is a request the policy validates against the board at that
moment, and either applies or refuses with a reason (both become a :class:`Note`):

- an edit may not create a cycle, name an unknown task, or reuse a task id;
- it may not touch a task that is finished (done, failed, blocked), running (claimed), or
  parked; a new dependency on a failed or blocked task is refused too (it could never run);
- a split task is replaced by its parts: each part has the task's dependencies, and every
  task that depended on it depends on all the parts.

A claim holds a lease of ``lease_s`` seconds, renewed by every progress event; at
:meth:`DynamicPolicy.expire` a claim whose lease has passed is released (the task is open
again) and counted. The node it was on stays out of the pool until its late result arrives:
a late success is kept if nobody has taken the task since, otherwise dropped.

Pure: time comes in as ``now`` on every call that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from lmteams.scheduling.decentralized import DecentralizedPolicy
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Decision, Note, PolicyOptions, TaskState

MAX_PARTS = 8
MAX_ADDED_TASKS = 200  # per run: a team that keeps adding tasks never finishes


# -- edit requests (node -> policy) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddTask:
    """A new task ``task`` that depends on ``deps``."""

    task: str
    deps: tuple[str, ...] = ()
    estimate_s: float | None = None


@dataclass(frozen=True, slots=True)
class SplitTask:
    """Replace pending ``task`` by ``parts`` (new ids); its dependents wait for all of them."""

    task: str
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddDependency:
    """``task`` also depends on ``on``."""

    task: str
    on: str


Edit = AddTask | SplitTask | AddDependency

_CLOSED = (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED)


def describe(edit: Edit) -> str:
    """One line for the log and the board."""
    if isinstance(edit, AddTask):
        deps = f" after {', '.join(edit.deps)}" if edit.deps else ""
        return f"add_task {edit.task}{deps}"
    if isinstance(edit, SplitTask):
        return f"split_task {edit.task} into {', '.join(edit.parts)}"
    return f"add_dependency {edit.task} on {edit.on}"


class DynamicPolicy(DecentralizedPolicy):
    name = "dynamic"

    def __init__(
        self,
        graph: TaskGraph,
        workers: Sequence[str],
        *,
        max_retries: int = 2,
        lease_s: float = 600.0,
        **common: Unpack[PolicyOptions],
    ) -> None:
        if not lease_s > 0:
            raise ValueError("lease_s must be above 0")
        super().__init__(graph, workers, max_retries=max_retries, **common)
        self.lease_s = lease_s
        self.deadline: dict[str, float] = {}  # running task -> when its lease passes
        self.stale: dict[str, str] = {}  # node -> task whose lease expired while it ran it
        self.edits = 0
        self.edits_refused = 0
        self.expired = 0
        self.added = 0
        self.split_from: dict[str, str] = {}  # part -> the task it was split from

    # -- claims and leases -----------------------------------------------------------------

    def claim(
        self, node: str, task: str | None, detail: str = "", now: float = 0.0
    ) -> list[Decision]:
        decisions = super().claim(node, task, detail)
        if task is not None and self.board.running_on.get(task) == node:
            self.deadline[task] = now + self.lease_s
        return decisions

    def progress(self, task: str, node: str, now: float) -> list[Decision]:
        """``node`` showed progress on ``task`` (an attempt, a write): its lease is renewed."""
        if self.board.running_on.get(task) == node:
            self.deadline[task] = now + self.lease_s
        return []

    def expire(self, now: float) -> list[Decision]:
        """Release every claim whose lease has passed by ``now``."""
        expired = sorted(t for t, at in self.deadline.items() if at <= now)
        if not expired:
            return []
        decisions: list[Decision] = []
        board = self.board
        for task in expired:
            del self.deadline[task]
            node = board.running_on[task]
            board.requeue(task)
            board.idle_set.discard(node)  # its call is still out: no new work until it returns
            self.stale[node] = task
            self.expired += 1
            decisions.append(
                Note("lease_expired", node, task, f"no progress for {self.lease_s:g} s")
            )
        self._board_changed()
        return [*decisions, *self.dispatch()]

    def _late(self, task: str, node: str, done: bool) -> list[Decision] | None:
        """A result from a node whose lease on ``task`` expired (None: not a late result)."""
        if self.stale.get(node) != task:
            return None
        del self.stale[node]
        board = self.board
        board.make_idle(node)
        if done and self.would_keep(task):
            board.ready.discard(task)
            board.finish(task)
            self._board_changed()
            note = Note("late_result", node, task, "kept: nobody had taken the task since")
        else:
            note = Note("late_result", node, task, "dropped: its lease had expired")
        return [note, *self.dispatch()]

    def is_late(self, task: str, node: str) -> bool:
        """Whether a result of ``task`` from ``node`` comes after its lease expired."""
        return self.stale.get(node) == task

    def would_keep(self, task: str) -> bool:
        """Whether a late success of ``task`` would be kept (nobody has taken it since)."""
        return self.board.state.get(task) is TaskState.PENDING and task in self.board.ready

    def late_result(self, task: str, node: str, *, done: bool) -> list[Decision]:
        """A result from a node whose lease on ``task`` expired: kept or dropped."""
        late = self._late(task, node, done=done)
        return late if late is not None else self.dispatch()

    def task_done(self, task: str, node: str) -> list[Decision]:
        late = self._late(task, node, done=True)
        if late is not None:
            return late
        self.deadline.pop(task, None)
        return super().task_done(task, node)

    def task_failed(
        self, task: str, node: str, *, requeue: bool, avoid: bool = False
    ) -> list[Decision]:
        late = self._late(task, node, done=False)
        if late is not None:
            return late
        self.deadline.pop(task, None)
        return super().task_failed(task, node, requeue=requeue, avoid=avoid)

    def task_parked(self, task: str, node: str, until: str) -> list[Decision]:
        late = self._late(task, node, done=False)
        if late is not None:
            return late
        self.deadline.pop(task, None)
        return super().task_parked(task, node, until)

    # -- graph edits -------------------------------------------------------------------------

    def edit(self, node: str | None, request: Edit) -> list[Decision]:
        """Apply ``request`` if it is valid now; either way one Note says what happened."""
        reason = self.refusal(request)
        if reason is not None:
            self.edits_refused += 1
            return [Note("edit_refused", node, request.task, f"{describe(request)}: {reason}")]
        self._apply(request)
        self.edits += 1
        self._board_changed()
        return [Note("graph_edit", node, request.task, describe(request)), *self.dispatch()]

    def refusal(self, request: Edit) -> str | None:
        """Why ``request`` cannot be applied now, or None."""
        state = self.board.state
        if isinstance(request, AddTask):
            if self.added >= MAX_ADDED_TASKS:
                return f"at most {MAX_ADDED_TASKS} tasks may be added to a run"
            if not request.task.strip():
                return "a task needs an id"
            if request.task in state:
                return f"task {request.task!r} already exists"
            for dep in request.deps:
                problem = self._bad_prerequisite(dep)
                if problem:
                    return problem
            if request.estimate_s is not None and not request.estimate_s > 0:
                return "estimate_s must be above 0"
            return None
        if isinstance(request, SplitTask):
            problem = self._not_editable(request.task)
            if problem:
                return problem
            parts = request.parts
            if not 2 <= len(parts) <= MAX_PARTS:
                return f"a split needs 2 to {MAX_PARTS} parts"
            if self.added + len(parts) > MAX_ADDED_TASKS:
                return f"at most {MAX_ADDED_TASKS} tasks may be added to a run"
            if len(set(parts)) != len(parts):
                return "the parts must have different ids"
            for part in parts:
                if not part.strip():
                    return "a part needs an id"
                if part in state:
                    return f"task {part!r} already exists"
            return None
        problem = self._not_editable(request.task) or self._bad_prerequisite(request.on)
        if problem:
            return problem
        if request.on == request.task:
            return f"{request.task} cannot depend on itself"
        if request.on in self.graph.deps[request.task]:
            return f"{request.task} already depends on {request.on}"
        cycle = self._path(request.on, request.task)
        if cycle is not None:
            return "it would make a cycle: " + " -> ".join([request.task, *cycle])
        return None

    def _not_editable(self, task: str) -> str | None:
        board = self.board
        state = board.state.get(task)
        if state is None:
            return f"unknown task {task!r}"
        if state in _CLOSED:
            return f"{task} is {state.value}: finished tasks do not change"
        if state is TaskState.RUNNING:
            return f"{task} is claimed by {board.running_on[task]}"
        if any(task in waiting for waiting in board.waiters.values()) or task in board.waiters:
            return f"{task} is parked on another task's module"
        return None

    def _bad_prerequisite(self, dep: str) -> str | None:
        state = self.board.state.get(dep)
        if state is None:
            return f"unknown task {dep!r}"
        if state in (TaskState.FAILED, TaskState.BLOCKED):
            return f"{dep} is {state.value}: a task after it could never run"
        return None

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A dependency chain from ``start`` down to ``goal`` (start depends on ... on goal)."""
        deps = self.graph.deps
        parent: dict[str, str | None] = {start: None}
        stack = [start]
        while stack:
            task = stack.pop()
            if task == goal:
                chain = [task]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])  # type: ignore[arg-type]
                return list(reversed(chain))
            for dep in deps[task]:
                if dep not in parent:
                    parent[dep] = task
                    stack.append(dep)
        return None

    def _apply(self, request: Edit) -> None:
        graph = self.graph
        ids = list(graph.ids)
        deps = {t: list(d) for t, d in graph.deps.items()}
        durations = dict(graph.durations)
        board = self.board
        changed: list[str] = []
        if isinstance(request, AddTask):
            ids.append(request.task)
            deps[request.task] = list(dict.fromkeys(request.deps))
            if request.estimate_s is not None:
                durations[request.task] = request.estimate_s
            changed.append(request.task)
            self.added += 1
        elif isinstance(request, SplitTask):
            old = request.task
            at = ids.index(old)
            ids[at : at + 1] = list(request.parts)
            inherited = deps.pop(old)
            share = durations.pop(old, None)
            for part in request.parts:
                deps[part] = list(inherited)
                if share is not None:
                    durations[part] = share / len(request.parts)
                self.split_from[part] = self.split_from.get(old, old)
                changed.append(part)
                if old in self.eligible:
                    self.eligible[part] = self.eligible[old]
            self.eligible.pop(old, None)
            self.avoid.pop(old, None)
            for child in graph.dependents[old]:
                at = deps[child].index(old)
                deps[child][at : at + 1] = list(request.parts)
                changed.append(child)
            del board.state[old]
            del board.missing[old]
            board.ready.discard(old)
            self.added += len(request.parts)
        else:
            deps[request.task].append(request.on)
            changed.append(request.task)
        # build() checks again (ids, dependencies, cycles): a refusal missed here is a bug
        new = TaskGraph.build([(t, deps[t]) for t in ids], durations)
        self.graph = new
        board.regraph(new)
        for task in changed:
            if task not in board.state:
                board.state[task] = TaskState.PENDING
            parked = sum(1 for waiting in board.waiters.values() if task in waiting)
            board.missing[task] = parked + sum(
                1 for d in new.deps[task] if board.state[d] is not TaskState.DONE
            )
            if board.state[task] is TaskState.PENDING and board.missing[task] == 0:
                board.ready.add(task)
            else:
                board.ready.discard(task)
