"""The study's harness: synchronous rounds, one call per node per round, several tasks per call.

In the study every round called all agents at once and waited for all of them; in one reply an
agent could claim, write and finish several tasks (the calibrated models wrote from none to
twenty files per reply). This harness replays that with the same policies:

- A round starts at the barrier. Every live node makes one call (an idle node makes a short
  call that writes nothing, unless ``idle_calls`` is off); the round ends when the slowest call
  returns, plus ``round_overhead_s`` (the study ran its tests between rounds).
- Within a call a node does up to ``B`` tasks. With a calibration, each node replays an
  observed agent (rep r replays observed run r mod R): ``profiles="solo"`` gives every node
  the calls a one-agent run's agent made while work remained, in order, with latencies drawn
  from the model's fit at that agent's speed; ``profiles="condition"`` gives node i agent i of
  an observed run of the same mode and team size, replayed round by round (its tasks, files
  and seconds per call). Without one, ``tasks_per_call`` (default 1).
- Calls progress in interleaved steps (a task or a claim each, in turn), as concurrent calls
  would: work a node is handed while working (its own chain continuing, under preassign, or
  work it steals) joins its call; work handed to anyone else waits for the next round,
  because their call started before it existed.
- A claiming node (decentralized) picks from the board as it was when the round started, so
  it cannot chain through tasks it finishes itself, and it contends with the other nodes, who
  saw the same board. With probability ``refusal`` it names a task that is not ready yet (the
  study's agents did, often); the policy refuses it and the reply goes on to its next pick.
- A call's latency follows from the files it wrote: a replayed call's own duration, scaled
  when it wrote less; else the calibrated fit (lognormal around base + per_task * files); else
  one task latency per task.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lmteams.faults.injection.rules import Action, consume_corruption
from lmteams.scheduling import driver
from lmteams.scheduling.decentralized import DecentralizedPolicy
from lmteams.scheduling.policy import (
    Assign,
    Note,
    RequestAssignment,
    RequestClaim,
    TaskState,
)
from lmteams.sim.calibration import CallProfile, ModelCalibration
from lmteams.sim.driving import SimShell
from lmteams.sim.setup import (
    NodeModel,
    SimInputs,
    SimResult,
    SimSettings,
    SimTeam,
)

UNCALIBRATED = CallProfile(tasks=[1])
MAX_REFUSED = 50  # refused picks one reply may name before it gives up


@dataclass(slots=True)
class Turn:
    """One node's call in one round."""

    node: str
    budget: int = 0  # tasks it can still write in this call
    task: str | None = None  # the task it is on
    queue: list[str] = field(default_factory=list)  # tasks handed to it during the call
    written: list[str] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    attempts: int = 0
    files: int | None = None  # files the replayed call wrote (None: one per task)
    seconds: float | None = None  # how long the replayed call took


def pick_profiles(
    profiles: Sequence[CallProfile], settings: SimSettings, workers: int, project: str | None
) -> list[list[CallProfile]]:
    """Observed runs a simulated run may replay (each a list of its agents' profiles), most
    specific first: the same way of getting work (assigned or claimed), team size and
    project; then any project; then one-agent runs. ``settings.profiles == "solo"`` uses
    one-agent runs only: a prediction for teams from solo behaviour alone."""
    family = "claimed" if settings.topology == "decentralized" else "assigned"
    tiers: list[tuple[str, int, bool]] = []
    if settings.profiles == "condition":
        tiers += [(family, workers, True), (family, workers, False)]
    tiers += [(family, 1, True), (family, 1, False), ("assigned", 1, True), ("assigned", 1, False)]
    for mode, n, same_project in tiers:
        runs: dict[int, list[CallProfile]] = {}
        for p in profiles:
            if p.mode != mode or p.workers != n:
                continue
            if same_project and not (project and p.project and p.project in project):
                continue
            runs.setdefault(p.run, []).append(p)
        if runs:
            return [runs[r] for r in sorted(runs)]
    return [list(profiles) or [UNCALIBRATED]]


def profile_for(run: list[CallProfile], agent: int, team_size: int) -> CallProfile:
    """Node ``agent``'s profile in a replayed run: the observed agent in the same place when
    team sizes match, else the run's agents in turn (all of them, for a one-agent run)."""
    if len(run) == 1:
        return run[0]
    for profile in run:
        if profile.agent == agent:
            return profile
    # that agent never finished a task there: it takes after a teammate
    return run[agent % len(run)]


class RoundsEngine(SimShell):
    def __init__(self, settings: SimSettings, inputs: SimInputs, team: SimTeam) -> None:
        super().__init__(settings, inputs, team)
        self.rng = random.Random(settings.seed * 7_368_787 + 29)
        self.pending_assign: dict[str, str] = {}  # node -> task it starts in its next call
        self.pending_claim: set[str] = set()
        self.pending_lead: list[RequestAssignment] = []
        self.turn: Turn | None = None  # the call whose step is being carried out
        self.profiles: dict[str, CallProfile] = {}  # node -> the observed agent it replays
        self.round = 0  # rounds completed
        self.aligned: set[str] = set()  # nodes replaying a same-size team's agent round by round
        self.limits: dict[str, list[tuple[int, int | None]]] = {}
        self.productive: dict[str, int] = {}  # node -> calls it made with work to do
        self.refusal: dict[str, float] = {}
        self.calibrations: dict[str, ModelCalibration] = {}
        overhead = settings.round_overhead_s
        for index, node in enumerate(team.everyone):
            calibration = inputs.latency.calibration_for(node.name, node.model, node.role)
            if calibration is not None:
                self.calibrations[node.name] = calibration
                runs = pick_profiles(
                    calibration.call_profiles, settings, len(team.workers), inputs.project
                )
                # rep r replays observed run r mod R: reps >= R cover them evenly
                chosen = runs[settings.seed % len(runs)]
                profile = profile_for(chosen, index, len(team.workers))
                self.profiles[node.name] = profile
                if settings.profiles == "condition" and profile.workers == len(team.workers):
                    self.aligned.add(node.name)
            refusal = settings.refusal
            if refusal is None:
                refusal = calibration.claim_refusal if calibration is not None else 0.0
            self.refusal[node.name] = refusal
            if overhead is None and calibration is not None:
                overhead = calibration.round_overhead_s
        self.overhead = overhead or 0.0
        self.position = self.graph.position
        self.claiming = isinstance(self.policy, DecentralizedPolicy)

    # -- the rounds ------------------------------------------------------------------------------

    def run(self, run_id: str = "sim") -> SimResult:
        started = time.perf_counter()
        self.feed(driver.Start())
        limit = 50 * self.graph.n + 100
        rounds = 0
        while not self.policy.complete and not self.stalled:
            self._everyone_claims()
            if not (self.pending_assign or self.pending_claim or self.pending_lead):
                self.feed(driver.Dispatch())
                if not (self.pending_assign or self.pending_claim or self.pending_lead):
                    self.stalled = True
                    break
            rounds += 1
            if rounds > limit:
                self.stalled = True
                break
            self._round()
        status = self.status()
        self.rec.makespan = max(self.rec.makespan, self.now if status == "done" else 0.0)
        return SimResult(
            metrics=self.rec.metrics(run_id, self.settings.topology),
            status=status,
            events=self.events,
            elapsed_s=time.perf_counter() - started,
            policy_s=self.policy_s,
        )

    def _everyone_claims(self) -> None:
        """The study called every agent every round, and an idle one could always claim: the
        policy's limit on asking again after refusals applies within a round, not across."""
        if not self.claiming:
            return
        board = self.policy.board
        if self.graph.n - board.finished - len(board.running_on) <= 0:
            return
        for node in board.workers:
            if board.is_idle(node) and node not in self.pending_assign:
                self.pending_claim.add(node)

    def _round(self) -> None:
        """One round: every node's call starts now; their work is carried out in interleaved
        steps (one task or one claim each, in turn), as concurrent calls would progress, so a
        node that runs out of work can only take what the others have not reached yet."""
        start = self.now
        snapshot = self.policy.board.first_ready()
        order = list(self.policy.board.workers)
        self.rng.shuffle(order)
        lead = self.team.lead.name if self.team.lead is not None else None
        if lead is not None:
            order.insert(0, lead)
        turns: list[Turn] = []
        for node in order:
            busy = (
                node in self.pending_assign
                or node in self.pending_claim
                or (node == lead and bool(self.pending_lead))
            )
            if not busy and not self.settings.idle_calls:
                continue
            turn = self._open(node, busy)
            if turn is not None:
                turns.append(turn)
        active = [t for t in turns if t.budget > 0]
        while active:
            active = [t for t in active if self._step(t, snapshot)]
        end = start
        for turn in turns:
            end = max(end, self._close(turn, start))
        self.now = end + self.overhead
        self.round += 1

    # -- one node's call ---------------------------------------------------------------------------

    def _profile(self, node: str) -> CallProfile:
        return self.profiles.get(node) or UNCALIBRATED

    def _capacity(self, node: str) -> tuple[int, int | None, float | None]:
        """(tasks, files, seconds) this call can carry.

        Replaying a run of the same team size (``profiles="condition"``): the observed
        agent's call in this round, so teammates' calls line up as they did (starting over if
        the simulation needs more rounds). Otherwise (one-agent profiles for any team): the
        calls that agent made while work remained, in order, each node on its own, its
        latency drawn afresh (``seconds`` None). Files may exceed tasks: the agent rewrote
        finished work in the same reply.
        """
        if self.settings.tasks_per_call is not None:
            return self.settings.tasks_per_call, None, None
        profile = self._profile(node)
        if node in self.aligned:
            index = self.round % len(profile.tasks)
            files = profile.files[index] if index < len(profile.files) else None
            seconds = profile.seconds[index] if index < len(profile.seconds) else None
            return profile.tasks[index], files, seconds
        limits = self.limits.get(node)
        if limits is None:
            limits = self.limits[node] = profile.limits()
        made = self.productive.get(node, 0)
        self.productive[node] = made + 1
        tasks, files = limits[made % len(limits)]
        return tasks, files, None

    def _open(self, node: str, busy: bool) -> Turn | None:
        """driver.Start ``node``'s call: a failed call is over at once (and reported)."""
        self.events += 1
        model = self.models[node]
        faults = model.faults
        if faults is not None:
            action = faults.on_start()
            if action is Action.CRASHED and faults.rule.crash_mode == "hang":
                return None  # it never answers; its work stays with it
            if action in (Action.CRASHED, Action.ERROR):
                if action is Action.ERROR:
                    faults.on_finish()
                self.rec.failed_call(node)
                self._call_failed(node)
                return None
        self.account.call_ok(node)  # a reply, as the real harness counts it
        turn = Turn(node)
        if self.team.lead is not None and node == self.team.lead.name:
            self._lead_call()
            return turn
        garbage = faults is not None and consume_corruption(faults) is Action.GARBAGE
        if not garbage and busy:
            turn.budget, turn.files, turn.seconds = self._capacity(node)
        turn.task = self.pending_assign.pop(node, None)
        if turn.budget == 0 and turn.task is not None:
            self.pending_assign[node] = turn.task  # nothing written this call: still its task
            turn.task = None
        return turn

    def _step(self, turn: Turn, snapshot: list[str]) -> bool:
        """One unit of ``turn``'s work (a task, or one claim); False once the call is done."""
        node = turn.node
        self.turn = turn
        try:
            if turn.task is None and turn.queue:
                turn.task = turn.queue.pop(0)
            task = turn.task
            if task is not None:
                if len(turn.written) >= turn.budget:
                    return False
                turn.written.append(task)
                turn.task = None
                if self.settings.redo_rate and self.rng.random() < self.settings.redo_rate:
                    self.rec.redos += 1
                    turn.task = task  # its check failed: it tries again next call
                    turn.written.pop()
                    turn.budget = len(turn.written)
                    return False
                self.feed(driver.TaskDone(task, node))
                return True
            if (
                node in self.pending_claim
                and len(turn.written) < turn.budget
                and turn.attempts < turn.budget + MAX_REFUSED
            ):
                # one reply may name several tasks; a refused one costs no time and does not
                # end the reply (the study's agents claimed in batches)
                turn.attempts += 1
                choice = self._choose(node, snapshot, turn.claimed)
                if choice is None:
                    return False
                turn.claimed.add(choice)
                self.pending_claim.discard(node)
                self.feed(driver.Claim(node, choice))
                if self.claiming and not turn.queue and self.policy.board.is_idle(node):
                    self.pending_claim.add(node)  # refused: it goes on to its next pick
                return True
            return False
        finally:
            self.turn = None

    def _close(self, turn: Turn, start: float) -> float:
        """The call returns: its latency follows from what it wrote; its leftovers wait."""
        node = turn.node
        if turn.task is not None:
            self.pending_assign[node] = turn.task
        for extra in turn.queue:  # handed over after its budget ran out
            self.pending_assign[node] = extra
        model = self.models[node]
        written = turn.written
        z = self.rng.gauss(0.0, 1.0)
        files = float(len(written))
        if turn.files is not None:
            # the replayed call's files, less those of tasks this node could not get
            files = turn.files * (len(written) / turn.budget) if turn.budget else turn.files
        seconds = self._latency(node, model, files, z, turn) * model.slow
        end = start + seconds
        prompt, completion = model.tokens.sample("claim" if not written else "task", z, 0.5)
        if model.tokens.per_task_completion:
            prompt, base = model.tokens.sample("claim", z, 0.5)
            completion = base + int(model.tokens.per_task_completion * len(written))
        elif written:
            completion *= len(written)
        self.rec.call(node, start, end, prompt, completion)
        for i, task in enumerate(written):
            share = seconds / len(written)
            self.rec.outcome(task, node, start + i * share, start + (i + 1) * share, "done")
        faults = model.faults
        if faults is not None:
            faults.on_finish()
        return end

    def _latency(self, node: str, model: NodeModel, files: float, z: float, turn: Turn) -> float:
        """A call writing ``files`` files. Replaying an observed call: its own duration,
        scaled by the fit when this call wrote less than it did; otherwise the fit for that
        many files at the replayed agent's speed, with the noise left within one agent."""
        fit = model.latency.batch
        profile = self.profiles.get(node)
        calibration = self.calibrations.get(node)
        if fit is None or profile is None or calibration is None:
            return model.latency.call(round(files), z, self.rng.random())
        if turn.seconds is not None and turn.files is not None:
            return turn.seconds * fit.median(files) / max(fit.median(turn.files), 1e-9)
        return fit.median(files) * profile.speed * math.exp(calibration.sigma_within * z)

    def _lead_call(self) -> None:
        requests, self.pending_lead = self.pending_lead, []
        for request in requests:
            pairs = tuple(zip(request.ready, request.idle, strict=False))
            self.feed(driver.Proposal(pairs, request.attempt))

    def _choose(self, node: str, snapshot: list[str], claimed_here: set[str]) -> str | None:
        board = self.policy.board
        if self.refusal.get(node, 0.0) and self.rng.random() < self.refusal[node]:
            waiting = [
                t
                for t in self.graph.ids
                if board.state[t] is TaskState.PENDING
                and board.missing[t]
                and t not in claimed_here
            ]
            if waiting:
                return waiting[self.rng.randrange(min(len(waiting), 8))]
        options = [t for t in snapshot if t not in claimed_here and self.policy.can_run(node, t)]
        if not options:
            return None
        return options[self.rng.randrange(len(options))]

    def _call_failed(self, node: str) -> None:
        """A node's call failed: the task it holds stays with it unless the node is lost, as in
        the real rounds harness (:meth:`lmteams.coordinator.rounds.RoundsRun._call_failed`)."""
        held = self.pending_assign.get(node)
        for item in self.account.call_failed(node, self.policy.board.workers, holds=held):
            if isinstance(item, driver.NodeLost):
                self.rec.note("node_lost")
                self.pending_claim.discard(node)
            elif isinstance(item, driver.TaskFailed):
                self.pending_assign.pop(node, None)
                self.rec.outcome(item.task, node, self.now, self.now, "interrupted")
            self.feed(item)
        if node in self.pending_claim:
            self.pending_claim.discard(node)
            self.feed(driver.Claim(node, None, "call failed"))

    # -- decisions -----------------------------------------------------------------------------

    def assign(self, decision: Assign) -> None:
        self.rec.assigned(self.now)
        if self.turn is not None and decision.node == self.turn.node:
            self.turn.queue.append(decision.task)
        else:
            self.pending_assign[decision.node] = decision.task

    def request_claim(self, decision: RequestClaim) -> None:
        self.pending_claim.add(decision.node)

    def request_assignment(self, decision: RequestAssignment) -> None:
        self.pending_lead.append(decision)

    def note(self, decision: Note) -> None:
        self.rec.note(decision.kind)
