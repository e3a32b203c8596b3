"""The ``dynamic`` topology in the simulator: claims, a seeded model of graph edits, leases.

The real policy (:class:`lmteams.scheduling.dynamic.DynamicPolicy`) is driven as the engine
drives ``decentralized``, plus a model of what agents do to the graph. When a node reads the
board to claim (the start of its claim call), with its own seeded stream:

- if the task it is about to claim is long (size at least ``split_size`` times the mean) it
  splits it with probability ``split_rate`` into two parts of half its size, and claims the
  first part;
- with probability ``add_rate`` it adds a follow-up task (half the mean size) after the task
  it claims;
- with probability ``dep_rate`` it proposes a dependency between two open tasks drawn at
  random: refused, and counted, when it would close a cycle or touches a claimed task, and
  otherwise a constraint that costs parallelism, as careless edits do.

Every edit goes through the policy's validation and is counted (``graph_edit`` or
``edit_refused`` among the notes). Leases: each attempt's start is progress; when the gap to
the next progress (or to the end) is longer than ``lease_s``, or the node hangs, the claim is
released ``lease_s`` after the last progress, and the task is open again. A late result is
kept only if nobody has taken the task since.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from lmteams.faults.injection.rules import Action
from lmteams.scheduling.dynamic import AddDependency, AddTask, DynamicPolicy, Edit, SplitTask
from lmteams.scheduling.failures import Outcome
from lmteams.scheduling.policy import Assign
from lmteams.sim.engine import TASK_END, Engine
from lmteams.sim.setup import SimInputs, SimSettings, SimTeam

LEASE_END = 3
ADDED_SIZE = 0.5


class DynamicEngine(Engine):
    """One simulated run under ``dynamic`` (see the module docstring)."""

    def __init__(self, settings: SimSettings, inputs: SimInputs, team: SimTeam) -> None:
        super().__init__(settings, inputs, team)
        assert isinstance(self.policy, DynamicPolicy)
        self.dynamic = self.policy
        self.first_index = dict(self.index)  # common random numbers for the file's tasks
        self.size_of = {t: self.sizes[i] for i, t in enumerate(self.graph.ids)}
        # its own stream, so the edits do not shift the draws of calls
        self.edit_rng = random.Random(settings.seed * 7_000_003 + 29)
        self.fresh = 0
        self.begun: dict[tuple[str, str], float] = {}

    # -- edits -------------------------------------------------------------------------------

    def _choose(self, node: str) -> str | None:
        choice = super()._choose(node)
        settings, rng = self.settings, self.edit_rng
        if (
            choice is not None
            and self.size_of.get(choice, 1.0) >= settings.split_size
            and rng.random() < settings.split_rate
        ):
            self.fresh += 1
            parts = (f"{choice}.{self.fresh}a", f"{choice}.{self.fresh}b")
            if self._edit(node, SplitTask(choice, parts)):
                half = self.size_of.pop(choice) / 2
                for part in parts:
                    self.size_of[part] = half
                choice = parts[0]
        if choice is not None and rng.random() < settings.add_rate:
            self.fresh += 1
            added = f"{choice}+{self.fresh}"
            if self._edit(node, AddTask(added, (choice,))):
                self.size_of[added] = ADDED_SIZE
        if rng.random() < settings.dep_rate:
            ids = self.graph.ids
            a, b = ids[rng.randrange(len(ids))], ids[rng.randrange(len(ids))]
            self._edit(node, AddDependency(a, b))
        return choice

    def _edit(self, node: str, edit: Edit) -> bool:
        before = self.dynamic.edits
        self.timed(lambda: self.dynamic.edit(node, edit))
        if self.dynamic.edits == before:
            return False
        self.graph = self.rec.graph = self.dynamic.graph
        self.index = self.graph.position
        self.cursor = 0
        self.claim_limit = self.settings.max_claims or 20 * self.graph.n
        return True

    def _event(self, kind: int, payload: tuple[Any, ...]) -> None:
        assert kind == LEASE_END
        self.timed(lambda: self.dynamic.expire(self.now))

    # -- attempts with progress, and late results --------------------------------------------

    def assign(self, decision: Assign) -> None:
        task, node = decision.task, decision.node
        now = self.now
        self.rec.assigned(now)
        self.begun[(task, node)] = now
        position = self.first_index.get(task)
        size = self.size_of.get(task, 1.0)
        tries = self.settings.max_check_retries + 1
        at = now
        progress = [now]
        served, model = self._served(node)
        outcome = "failed"
        for _ in range(tries):
            calls = self.attempts.get(task, 0)
            self.attempts[task] = calls + 1
            self.rec.task_calls += 1
            if calls == 0 and position is not None:
                z, u, r = self.draws.z[position], self.draws.u[position], self.draws.redo[position]
            else:
                z, u = self.draws.fresh()
                r = self.draws.rng.random()
            progress.append(at)
            seconds, action = self._call(served, model, model.latency.task, size, z, u)
            at = self._start(served, at, seconds, action)
            if action is not Action.PROCEED:
                if seconds == float("inf"):
                    at = float("inf")  # the node hangs: only the lease brings the task back
                    outcome = "hung"
                    break
                outcome = "call_failed"
                break
            reply = self._finish_call(served, model, "task", at, at + seconds, z, u)
            at += seconds
            if reply is Action.GARBAGE or r < self.settings.redo_rate:
                self.rec.redos += 1
                continue
            outcome = "done"
            break
        points = [*progress, at]
        lease = self.dynamic.lease_s
        gap = next((p for p, q in itertools.pairwise(points) if q - p > lease), None)
        # the policy's deadline is the last progress before the end or the first long gap
        self.dynamic.progress(task, node, gap if gap is not None else points[-2])
        if gap is not None:
            self._push(gap + lease, LEASE_END, ())
        if outcome != "hung":
            self._push(at, TASK_END, (task, node, outcome))

    def _task_end(self, task: str, node: str, outcome: Outcome) -> None:
        if not self.dynamic.is_late(task, node):
            self.started[task] = self.begun.pop((task, node), self.now)
            super()._task_end(task, node, outcome)
            return
        start = self.begun.pop((task, node), self.now)
        done = outcome == "done"
        kept = done and self.dynamic.would_keep(task)
        self.rec.outcome(task, node, start, self.now, "done" if kept else "late")
        if outcome == "call_failed":
            self._node_failed(node)
        self.timed(lambda: self.dynamic.late_result(task, node, done=done))


__all__ = ["DynamicEngine"]
