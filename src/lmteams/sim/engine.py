"""The discrete-event simulator: the real scheduling policies, driven on a virtual clock.

It carries out a policy's decisions the way the coordinator (:mod:`lmteams.coordinator.run`)
does, call for call: an ``Assign`` is one task attempt (one model call, plus another for each
failed check up to the project's retries), a ``RequestClaim`` one claim call on that node
before the task, a ``RequestAssignment`` one call on the lead node. A failed call counts
against its node (``node_failure_limit`` in a row and the node is lost) and its task is put
back (up to ``max_task_attempts``) away from that node. Faults follow the fault-injection spec
(:mod:`lmteams.faults.injection.rules`, the same per-node decisions as ``--inject``): a crashed node
fails every later call at once, a straggler's calls take ``slow`` times longer, an error fails a
call at once, a garbage reply costs another call.

Time only moves when an event is taken from the heap; the work per event is the policy's own
(the policies scale: 100,000 tasks on 10,000 nodes) plus O(log events) here.
"""

from __future__ import annotations

import gc
import heapq
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from lmteams.errors import ConfigError
from lmteams.faults.injection.rules import Action, consume_corruption
from lmteams.scheduling import driver
from lmteams.scheduling.failures import Outcome
from lmteams.scheduling.policy import (
    Assign,
    Note,
    RequestAssignment,
    RequestClaim,
    TaskState,
)
from lmteams.sim.driving import SimShell
from lmteams.sim.latency import Dist
from lmteams.sim.replicas import SimRouter
from lmteams.sim.setup import (
    NodeModel,
    SimInputs,
    SimResult,
    SimSettings,
    SimTeam,
    task_sizes,
)

TASK_END, CLAIM_END, LEAD_END = 0, 1, 2
# Bound once: an enum member read off its class costs ten times a global in Python 3.11, and
# every simulated call reads several.
PROCEED, REPLY, GARBAGE = Action.PROCEED, Action.REPLY, Action.GARBAGE
CRASHED, ERROR = Action.CRASHED, Action.ERROR
BOARD_ROWS = 40  # rows of the board a node is shown (lmteams.scheduling.prompts.MAX_BOARD_TASKS)


class Draws:
    """Random draws. A task's first call uses draws fixed by the seed and the task's position,
    whatever the team size (common random numbers); everything else uses a shared stream."""

    def __init__(self, n: int, seed: int) -> None:
        generator = np.random.default_rng([seed, 7919])
        self.z: list[float] = generator.standard_normal(n).tolist()
        self.u: list[float] = generator.random(n).tolist()
        self.redo: list[float] = generator.random(n).tolist()
        self.rng = random.Random(seed * 1_000_003 + 17)

    def fresh(self) -> tuple[float, float]:
        return self.rng.gauss(0.0, 1.0), self.rng.random()


class Engine(SimShell):
    """One simulated run under the lmteams harness (see the module docstring)."""

    def __init__(self, settings: SimSettings, inputs: SimInputs, team: SimTeam) -> None:
        super().__init__(settings, inputs, team)
        self.index = self.graph.position
        self.sizes = task_sizes(self.graph)
        self.draws = Draws(self.graph.n, settings.seed)
        self.heap: list[tuple[float, int, int, tuple[Any, ...]]] = []
        self.seq = 0
        self.attempts: dict[str, int] = {}  # task -> calls made so far (draws after the first)
        self.started: dict[str, float] = {}
        self.claims_sent = 0
        self.claim_limit = settings.max_claims or 20 * self.graph.n
        self.tries = settings.max_check_retries + 1  # calls one task attempt may make
        self.cursor = 0  # first task (file order) that may still be open, for the board view
        refusal = settings.refusal
        if refusal is None:
            calibration = inputs.latency.calibration_for("*")
            refusal = calibration.claim_refusal if calibration is not None else 0.0
        self.refusal = refusal
        self.router = SimRouter.of(team.spec, settings.seed)  # None: no replica groups

    # -- the loop --------------------------------------------------------------------------------

    def run(self, run_id: str = "sim") -> SimResult:
        started = time.perf_counter()
        self.feed(driver.Start())
        heap = self.heap
        claim = self.policy.claim
        while not self.stalled:
            while heap and not self.stalled:
                at, _, kind, payload = heapq.heappop(heap)
                self.now = at
                self.events += 1
                if kind == TASK_END:
                    self._task_end(*payload)
                elif kind == CLAIM_END:
                    # Nine events in ten of self-claiming: straight to the policy, as
                    # driver.take hands it a Claim, without building one.
                    self.timed(partial(claim, *payload))
                elif kind == LEAD_END:
                    self.feed(driver.Proposal(*payload))
                else:
                    self._event(kind, payload)
            if self.policy.complete or self.stalled:
                break
            # nothing in flight and work left: give the policy one more chance, as the
            # coordinator does, and stop if it has nothing to start
            self.feed(driver.Dispatch())
            if not heap:
                self.stalled = True
        status = self.status()
        metrics = self.rec.metrics(run_id, self.settings.topology)
        return SimResult(
            metrics=metrics,
            status=status,
            events=self.events,
            elapsed_s=time.perf_counter() - started,
            policy_s=self.policy_s,
        )

    def _event(self, kind: int, payload: tuple[Any, ...]) -> None:
        """An event of a kind a subclass adds (:mod:`lmteams.sim.dynamic`: lease expiry)."""
        raise ValueError(f"unknown event kind {kind}")

    def _push(self, at: float, kind: int, payload: tuple[Any, ...]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, payload))

    def request_claim(self, decision: RequestClaim) -> None:
        self._claim(decision.node)

    def request_assignment(self, decision: RequestAssignment) -> None:
        self._ask_lead(decision)

    def note(self, decision: Note) -> None:
        self.rec.note(decision.kind)

    # -- one call ------------------------------------------------------------------------------

    def _served(self, node: str) -> tuple[str, NodeModel]:
        """Who serves a call addressed to ``node`` now (a replica group's pick), and its model."""
        router = self.router
        served = node if router is None else router.choose(node, self.now)
        return served, self.models[served]

    def _start(self, served: str, at: float, seconds: float, action: Action) -> float:
        """When a call sent at ``at`` starts: later only on a replica with every slot taken."""
        router = self.router
        if router is None:
            return at
        return router.place(served, at, seconds, "ok" if action is PROCEED else "failed")

    def _call(
        self, node: str, model: NodeModel, dist: Dist, size: float, z: float, u: float
    ) -> tuple[float, Action]:
        """One call of ``dist``'s kind on ``node`` starting now-ish: (seconds it takes, what
        happened)."""
        faults = model.faults
        if faults is not None:
            action = faults.on_start()
            if action is CRASHED:
                if faults.rule.crash_mode == "hang":
                    return float("inf"), action
                self.rec.failed_call(node)
                return 0.0, action
            if action is ERROR:
                faults.on_finish()
                self.rec.failed_call(node)
                return 0.0, action
        return dist.sample(z, u) * size * model.slow, PROCEED

    def _finish_call(
        self, node: str, model: NodeModel, kind: str, start: float, end: float, z: float, u: float
    ) -> Action:
        prompt, completion = model.tokens.sample(kind, z, u)
        self.rec.call(node, start, end, prompt, completion)
        faults = model.faults
        if faults is None:
            return REPLY
        faults.on_finish()
        return consume_corruption(faults)

    # -- decisions -----------------------------------------------------------------------------

    def assign(self, decision: Assign) -> None:
        task, node = decision.task, decision.node
        now = self.now
        rec, draws, attempts = self.rec, self.draws, self.attempts
        rec.assigned(now)
        self.started[task] = now
        position = self.index[task]
        size = self.sizes[position]
        redo_rate = self.settings.redo_rate
        router = self.router
        served, model = (node, self.models[node]) if router is None else self._served(node)
        dist = model.latency.task
        at = now
        outcome: Outcome = "failed"
        for _ in range(self.tries):
            calls = attempts.get(task, 0)
            attempts[task] = calls + 1
            rec.task_calls += 1
            if calls == 0:
                z, u, r = draws.z[position], draws.u[position], draws.redo[position]
            else:
                z, u = draws.fresh()
                r = draws.rng.random()
            seconds, action = self._call(served, model, dist, size, z, u)
            if router is not None:
                at = self._start(served, at, seconds, action)
            if action is not PROCEED:
                if seconds == float("inf"):
                    return  # the node hangs: this task never comes back
                outcome = "call_failed"
                break
            reply = self._finish_call(served, model, "task", at, at + seconds, z, u)
            at += seconds
            if reply is GARBAGE or r < redo_rate:
                rec.redos += 1
                continue  # no usable file, or its check failed: the node tries again
            outcome = "done"
            break
        self._push(at, TASK_END, (task, node, outcome))

    def _task_end(self, task: str, node: str, outcome: Outcome) -> None:
        start = self.started.pop(task, self.now)
        # named as the coordinator logs them: task_done, task_failed, task_interrupted
        self.rec.outcome(
            task, node, start, self.now, "interrupted" if outcome == "call_failed" else outcome
        )
        inputs = self.account.outcome(task, node, outcome, self.policy.board.workers)
        self._report(inputs)

    def _node_failed(self, node: str) -> None:
        self._report(self.account.call_failed(node, self.policy.board.workers))

    def _report(self, inputs: list[driver.Input]) -> None:
        for item in inputs:
            if isinstance(item, driver.NodeLost):
                self.rec.note("node_lost")
            self.feed(item)

    def _claim(self, node: str) -> None:
        self.claims_sent += 1
        if self.claims_sent > self.claim_limit:
            self.stalled = True
            return
        choice = self._choose(node)  # the node reads the board now, as the coordinator shows it
        z, u = self.draws.fresh()
        served, model = (node, self.models[node]) if self.router is None else self._served(node)
        seconds, action = self._call(served, model, model.latency.claim, 1.0, z, u)
        start = self.now if self.router is None else self._start(served, self.now, seconds, action)
        if action is CRASHED and seconds == float("inf"):
            return
        if action is not PROCEED:
            self._node_failed(node)
            self._push(start, CLAIM_END, (node, None, f"call failed: {action.value}", start))
            return
        end = start + seconds
        reply = self._finish_call(served, model, "claim", start, end, z, u)
        detail = ""
        if reply is GARBAGE:
            choice, detail = None, "reply: garbage"
        self._push(end, CLAIM_END, (node, choice, detail, end))

    def _ask_lead(self, request: RequestAssignment) -> None:
        lead = self.team.lead
        assert lead is not None, "the lead topology needs a lead node"
        pairs = tuple(zip(request.ready, request.idle, strict=False))
        z, u = self.draws.fresh()
        served, model = self._served(lead.name)
        seconds, action = self._call(served, model, model.latency.lead, 1.0, z, u)
        start = self._start(served, self.now, seconds, action)
        if action is CRASHED and seconds == float("inf"):
            return
        if action is not PROCEED:
            self._push(start, LEAD_END, ((), request.attempt, "lead call failed"))
            return
        reply = self._finish_call(served, model, "lead", start, start + seconds, z, u)
        detail = ""
        if reply is GARBAGE:
            pairs, detail = (), "the reply is not a JSON object"
        self._push(start + seconds, LEAD_END, (pairs, request.attempt, detail))

    # -- what a node's model claims ------------------------------------------------------------

    def _choose(self, node: str) -> str | None:
        board = self.policy.board
        if self.settings.chooser == "first-pending":
            return self._first_pending()
        rng = self.draws.rng
        if self.refusal and rng.random() < self.refusal:
            waiting = self._first_pending(ready=False)
            if waiting is not None:
                return waiting
        ready = board.ready
        if not ready:
            return self._first_pending()
        # the board's first rows: every ready task when there are few, else the first 64
        shown = len(ready) if len(ready) <= 256 else 64
        policy = self.policy
        if not policy.eligible and not policy.avoid:  # every row is one the node may run
            return board.ready_at(rng.randrange(shown))
        options = board.first_ready(shown)
        allowed = policy.runnable(node, options) or options
        return allowed[rng.randrange(len(allowed))]

    def _first_pending(self, *, ready: bool | None = None) -> str | None:
        """The first pending task among the board's first rows (file order), optionally only
        a ready one (True) or only one still waiting for prerequisites (False)."""
        state = self.policy.board.state
        ids = self.graph.ids
        closed = (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED)
        while self.cursor < len(ids) and state[ids[self.cursor]] in closed:
            self.cursor += 1
        rows = 0
        index = self.cursor
        missing = self.policy.board.missing
        while index < len(ids) and rows < BOARD_ROWS:
            task = ids[index]
            status = state[task]
            index += 1
            if status in closed:
                continue
            rows += 1
            if status is TaskState.PENDING and (ready is None or (missing[task] == 0) == ready):
                return task
        return None


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a simulation runs, restored as it was after.

    A run allocates millions of short-lived tuples, and every full collection walks each live
    object: five of them took 0.21 s of a 3.4 s run of 100k tasks on 10k nodes (``gc``
    callbacks, 2026-12-04). A run makes no reference cycles (``gc.collect()`` after one finds
    nothing to free), so reference counting frees all it allocates either way.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@cyclic_gc_paused()
def simulate(
    settings: SimSettings,
    inputs: SimInputs,
    team: SimTeam | None = None,
    *,
    run_id: str = "sim",
) -> SimResult:
    """One simulated run of ``inputs.graph`` (see :mod:`lmteams.sim.rounds` for the other
    harness)."""
    if team is None:
        team = SimTeam.numbered(settings.workers, lead=settings.topology == "lead")
    if settings.harness == "rounds":
        from lmteams.sim.rounds import RoundsEngine

        if SimRouter.of(team.spec, settings.seed) is not None:
            raise ConfigError(
                "the rounds harness does not simulate replica groups (roles.<role>.balance): "
                "use --harness lmteams, or a team without balance",
                field="--harness",
            )

        return RoundsEngine(settings, inputs, team).run(run_id)
    if settings.topology == "dynamic":
        from lmteams.sim.dynamic import DynamicEngine  # it builds on this module

        return DynamicEngine(settings, inputs, team).run(run_id)
    return Engine(settings, inputs, team).run(run_id)
