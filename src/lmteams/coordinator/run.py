"""The coordinator: drives a scheduling policy with a team, and logs every input it gives it.

The policy is a pure state machine; this module is the imperative shell around it. Every input
to the policy (a task finished, failed, a claim, a proposal, a node lost) is logged as a
``sched`` event before it is applied, so a run whose coordinator died can be rebuilt by
replaying those events into a fresh policy (:func:`resume_project`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmteams.config import TeamSpec
from lmteams.coordinator.planner import plan_project
from lmteams.coordinator.rounds import RoundsRun, check_rounds_settings
from lmteams.coordinator.settings import RunResult, RunSettings, Snapshot
from lmteams.coordinator.shell import ProjectShell
from lmteams.coordinator.tasks import TaskResult
from lmteams.errors import BudgetExceeded, ConfigError, ModelError
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.scheduling import driver, prompts
from lmteams.scheduling.failures import Outcome
from lmteams.scheduling.policy import (
    Assign,
    Decision,
    Note,
    RequestAssignment,
    RequestClaim,
)
from lmteams.scheduling.project import ProjectSpec
from lmteams.state import events
from lmteams.state.events import (
    BudgetStop,
    CheckRun,
    CoordinatorStarted,
    FileWritten,
    Sched,
    ScheduleResumed,
    Stalled,
    TaskAssigned,
    TaskAttempt,
    TaskInterrupted,
    WriteConflict,
    WriteRefused,
    note_event,
)
from lmteams.state.liveness import coordinator_stamp
from lmteams.state.store import EventRecord, EventStore
from lmteams.state.workspace import FileVersion
from lmteams.team import Team

_ENDS: dict[str, Outcome] = {"done": "done", "failed": "failed", "parked": "parked"}


@dataclass
class _Replay:
    in_flight: dict[str, str] = field(default_factory=dict)  # task -> node
    claims: dict[str, tuple[int, str]] = field(default_factory=dict)  # node -> (number, board)
    assignment: tuple[RequestAssignment, int, str] | None = None


class ProjectRun(ProjectShell):
    """One run of a project by a team under a topology."""

    def prepare(self) -> None:
        self.claim_counter: dict[str, int] = {}
        self.lead_counter = 0
        self.activity: dict[str, str] = {w: "idle" for w in self.workers}
        self.claims_sent = 0
        self._group: asyncio.TaskGroup | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._replaying = False
        self._replay = _Replay()
        self.stalled = False
        self._last_update = float("-inf")
        self._pending_update: asyncio.TimerHandle | None = None

    # -- policy inputs (logged, then applied) -----------------------------------------------

    def apply(self, op: str, **args: Any) -> None:
        """Apply a policy input in its logged form (``sched`` op and arguments)."""
        self.feed(driver.from_op(op, args))

    def decide(self, item: driver.Input) -> list[Decision]:
        if not self._replaying:
            self.team.event(Sched(op=item.op, **item.args()))
        if isinstance(item, driver.TaskDone):
            self.workspace.mark_finished(item.task)
        return driver.take(self.policy, item)

    def carry_out(self, decisions: Sequence[Decision]) -> None:
        if self.stopped is not None and not self._replaying:
            return  # the budget is spent: start nothing new, let what runs finish
        super().carry_out(decisions)
        self._update()

    def request_claim(self, decision: RequestClaim) -> None:
        number = self.claim_counter.get(decision.node, 0) + 1
        self.claim_counter[decision.node] = number
        # The board is read now, at this exact point of the logged op sequence, so a
        # resumed run rebuilds the same prompt and replays the committed call.
        board = self._board_text()
        if self._replaying:
            self._replay.claims[decision.node] = (number, board)
        else:
            self._spawn(self._claim(decision.node, number, board))

    def request_assignment(self, decision: RequestAssignment) -> None:
        self.lead_counter += 1
        board = self._board_text()
        if self._replaying:
            self._replay.assignment = (decision, self.lead_counter, board)
        else:
            self._spawn(self._ask_lead(decision, self.lead_counter, board))

    def note(self, decision: Note) -> None:
        self.count(decision.kind)
        if not self._replaying:
            self.team.event(note_event(decision), node=decision.node)

    def assign(self, decision: Assign) -> None:
        if self._replaying:
            self._replay.in_flight[decision.task] = decision.node
            return
        self.team.event(TaskAssigned(task=decision.task), node=decision.node)
        self._spawn(self._execute(decision.task, decision.node, resumed=False))

    # -- work ------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        assert self._group is not None
        self._in_flight += 1
        self._idle.clear()

        async def tracked() -> None:
            try:
                await coro
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()

        self._group.create_task(tracked())

    async def _execute(self, task: str, node: str, *, resumed: bool) -> None:
        self.activity[node] = f"working on {task}"
        self._update()
        result = await self.runner.run(task, node, resumed=resumed)
        self.activity[node] = "idle"
        if result.outcome == "stopped":
            self._stop(result.error or "budget spent", task=task, node=node)
            return
        # anything else ends the attempt with its call: the node failed it
        outcome = _ENDS.get(result.outcome, "call_failed")
        inputs = self.account.outcome(
            task,
            node,
            outcome,
            self.policy.board.workers,
            until=result.waiting_on,
            dead=outcome == "call_failed" and self._dead(node),
        )
        self._report(inputs, result)

    def _report(
        self, inputs: list[driver.Input], result: TaskResult | None, error: str = ""
    ) -> None:
        """Log what each input stands for, as the shell saw it, then apply it."""
        for item in inputs:
            if isinstance(item, driver.TaskDone):
                assert result is not None
                self.team.event(
                    events.TaskDone(task=item.task, attempts=result.attempts), node=item.node
                )
            elif isinstance(item, driver.TaskParked):
                assert result is not None
                parks = self.attempt_log.parked.get(item.task, (result.attempts, 1))[1]
                self.team.event(
                    events.TaskParked(
                        task=item.task,
                        attempt=result.attempts,
                        parks=parks,
                        waiting_on=item.until,
                        reason=result.error,
                    ),
                    node=item.node,
                )
            elif isinstance(item, driver.NodeLost):
                self.activity[item.node] = "lost"
                lost_error = error or (result.error if result is not None else None)
                self.team.event(events.NodeLost(error=lost_error or "call failed"), node=item.node)
            elif isinstance(item, driver.TaskFailed) and item.avoid:
                self.team.event(
                    TaskInterrupted(
                        task=item.task,
                        error=result.error if result is not None else error,
                        requeue=item.requeue,
                    ),
                    node=item.node,
                )
            elif isinstance(item, driver.TaskFailed):
                error_text = result.error if result is not None else error
                self.team.event(events.TaskFailed(task=item.task, error=error_text), node=item.node)
            self.feed(item)

    def _stop(self, reason: str, *, task: str | None = None, node: str | None = None) -> None:
        if self.stopped is None:
            self.stopped = reason
            self.team.event(BudgetStop(reason=reason, task=task), node=node)

    def _dead(self, node: str) -> bool:
        """The health detector already gave ``node`` up."""
        resilience = self.team.resilience
        return resilience is not None and resilience.health.state(node).value == "dead"

    def _node_failed(self, node: str, error: str) -> None:
        """A call on ``node`` that was no task attempt failed (a claim)."""
        inputs = self.account.call_failed(node, self.policy.board.workers, dead=self._dead(node))
        self._report(inputs, None, error)

    def _board_text(self) -> str:
        board = self.policy.board
        return prompts.board_text(self.project, board.state, board.running_on)

    def _claim_allowed(self, node: str) -> bool:
        """Count one more claim request; past the run's limit the run stalls instead."""
        self.claims_sent += 1
        limit = self.settings.max_claims or 20 * self.graph.n
        if self.claims_sent > limit:
            self.stalled = True
            self.team.event(Stalled(reason=f"more than {limit} claim requests"))
            return False
        self.activity[node] = "choosing a task"
        self._update()
        return True

    async def _claim(self, node: str, number: int, board: str) -> None:
        if not self._claim_allowed(node):
            return
        try:
            reply = await self.team.call(
                node,
                prompts.claim_prompt(self.project, board, node),
                key=f"claim/{node}/{number}",
                sampling={"max_tokens": self.settings.claim_max_tokens},
                meta={"claim": number},
            )
            choice = prompts.parse_claim(reply.text, self.graph.ids)
            detail = "" if choice else f"reply: {reply.text.strip()[:80]!r}"
        except BudgetExceeded as exc:
            self._stop(str(exc), node=node)
            return
        except ModelError as exc:
            self._node_failed(node, str(exc))
            choice, detail = None, f"call failed: {type(exc).__name__}"
        self.activity[node] = "idle"
        self.feed(driver.Claim(node, choice, detail))

    async def _ask_lead(self, request: RequestAssignment, number: int, board: str) -> None:
        assert self.lead is not None
        try:
            reply = await self.team.call(
                self.lead,
                prompts.lead_prompt(
                    self.project, board, request.idle, request.ready, request.feedback
                ),
                key=f"lead/{number}",
                sampling={"json_schema": prompts.assignment_schema(request.ready, request.idle)},
                meta={"lead": number, "attempt": request.attempt},
            )
            pairs, problem = prompts.parse_assignments(reply.text)
        except BudgetExceeded as exc:
            self._stop(str(exc), node=self.lead)
            return
        except ModelError as exc:
            pairs, problem = [], f"lead call failed: {type(exc).__name__}"
        self.feed(
            driver.Proposal(
                tuple((str(t), str(n)) for t, n in pairs), request.attempt, problem or ""
            )
        )

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self, *, resume_events: Sequence[EventRecord] | None = None) -> RunResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.TaskGroup() as group:
            self._group = group
            self.team.event(
                CoordinatorStarted(
                    **coordinator_stamp(), segment="start" if resume_events is None else "resume"
                ),
            )
            if resume_events is None:
                self.begin()
            else:
                self._rebuild(resume_events)
            while True:
                if self._in_flight:
                    await self._idle.wait()
                if self.policy.complete or self.stalled or self.stopped is not None:
                    break
                # nothing in flight and work left: give the policy a chance to act again
                before = self._in_flight
                self.feed(driver.Dispatch())
                if self._in_flight == before:
                    self.stalled = True
                    self.team.event(Stalled(reason="no progress possible"))
                    break
        self._group = None
        await self.runner.sync_workdir()
        self._update(force=True)
        return await self.finish(started, otherwise="stalled" if self.stalled else "partial")

    def _update(self, force: bool = False) -> None:
        if self.on_update is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not force and now - self._last_update < 0.1 and self._in_flight:
            # The live view refreshes at 8 Hz: skip snapshots nobody would see, but send the
            # latest once the interval ends, or a node that just started a task stays "idle".
            if self._pending_update is None:
                wait_s = self._last_update + 0.1 - now
                self._pending_update = loop.call_later(wait_s, self._update, True)
            return
        if self._pending_update is not None:
            self._pending_update.cancel()
            self._pending_update = None
        self._last_update = now
        board = self.policy.board
        counts = board.state_counts()
        tokens = self.team.totals.prompt_tokens + self.team.totals.completion_tokens
        snapshot = Snapshot(counts, len(board.ready), dict(self.activity), dict(self.notes), tokens)
        spec = self.team.spec
        for role in sorted({spec.node(w).role for w in board.workers}):
            members = [w for w in board.workers if spec.node(w).role == role]
            busy = sum(1 for w in members if w in board.busy)
            queue = sum(1 for t in board.ready if self.project.task(t).role in (None, role))
            snapshot.roles[role] = (busy, len(members), queue)
        resilience = self.team.resilience
        if resilience is not None:
            stats = resilience.statistics()
            snapshot.health = {n: str(row["state"]) for n, row in stats.nodes.items()}
            snapshot.breakers = {e: b.state.value for e, b in stats.breakers.items()}
        self.on_update(snapshot)

    # -- resume ----------------------------------------------------------------------------------

    def _rebuild(self, rows: Sequence[EventRecord]) -> None:
        """Replay a dead coordinator's log, then restart whatever was in flight."""
        self._replaying = True
        log = self.attempt_log
        for row in rows:
            event = row.event
            if isinstance(event, Sched):
                op, args = event.op, event.args()
                if op == "task_done":
                    self._replay.in_flight.pop(args["task"], None)
                elif op == "task_failed":
                    self._replay.in_flight.pop(args["task"], None)
                    self.account.replayed(driver.from_op(op, args))
                elif op == "claim":
                    self._replay.claims.pop(args["node"], None)
                elif op == "proposal":
                    self._replay.assignment = None
                self.apply(op, **args)
            elif isinstance(event, TaskAttempt):
                task, key = event.task, (event.task, event.attempt)
                log.spent[task] = max(event.spent, log.spent.get(task, 0))
                log.started.add(key)
                parked = log.parked.get(task)
                if parked is not None and event.attempt > parked[0]:
                    del log.parked[task]  # its re-check failed: retried
                log.feedback[key] = event.feedback
                log.last_attempt[task] = max(event.attempt, log.last_attempt.get(task, 0))
            elif isinstance(event, FileWritten | WriteConflict | WriteRefused):
                log.writes.setdefault((event.task, event.attempt), []).append(row.data)
                if isinstance(event, FileWritten):
                    self.workspace.restore(
                        FileVersion(
                            event.path,
                            event.version,
                            event.content,
                            row.node or "",
                            event.task,
                            row.t,
                        )
                    )
                    self.runner._mirror(event.path, event.content)
            elif isinstance(event, CheckRun):
                log.checks[(event.task, event.attempt, event.recheck)] = row.data
            elif isinstance(event, events.TaskDone | events.TaskFailed):
                log.parked.pop(event.task, None)
            elif isinstance(event, events.TaskParked):
                log.parked[event.task] = (event.attempt, event.parks)
        self.runner.attempts = dict(self.attempt_log.last_attempt)
        self._replaying = False
        self.team.event(
            ScheduleResumed(
                in_flight=sorted(self._replay.in_flight),
                claims=sorted(self._replay.claims),
                lead_request=self._replay.assignment is not None,
            ),
        )
        for task, node in self._replay.in_flight.items():
            self._spawn(self._execute(task, node, resumed=True))
        for node, (number, board) in self._replay.claims.items():
            self._spawn(self._claim(node, number, board))
        if self._replay.assignment is not None:
            request, number, board = self._replay.assignment
            self._spawn(self._ask_lead(request, number, board))


def workdir_for(store: EventStore, run_id: str, settings: RunSettings | None = None) -> Path:
    """Where a run's files are mirrored: ``settings.workdir`` if set, else next to the event
    log, under runs/RUN/workspace."""
    if settings is not None and settings.workdir:
        return Path(settings.workdir).expanduser()
    base = store.path.parent if str(store.path) != ":memory:" else Path(".lmteams")
    return base / "runs" / run_id / "workspace"


def make_workdir(path: Path) -> None:
    """Create a run's file directory, or say plainly why it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{path} exists and is not a directory", field="--workdir") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot create {path}: {exc.strerror or exc}", field="--workdir"
        ) from None


async def run_project(
    spec: TeamSpec,
    project: ProjectSpec | None,
    store: EventStore,
    settings: RunSettings,
    *,
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    on_update: Callable[[Snapshot], None] | None = None,
    goal: str | None = None,
    planner: str | None = None,
    check: str | None = None,
) -> RunResult:
    """Run ``project`` with a team under ``settings.topology``; every step goes to the log.

    With ``project=None`` and a ``goal``, a planner node first turns the goal into a project.
    """
    if project is None and not goal:
        raise ConfigError("give a project file or --goal", field="PROJECT")
    if settings.harness == "rounds":
        check_rounds_settings(settings)  # before the run is opened
    if settings.workdir:  # refuse a bad --workdir before the run is opened
        make_workdir(workdir_for(store, "", settings))
    params: dict[str, Any] = {"settings": settings.model_dump(mode="json"), "goal": goal}
    if project is not None:
        params["project"] = project.model_dump(mode="json", exclude_none=True)
    team = Team(spec, store, kind="run", params=params, runtime=runtime, backends=backends)
    async with team:
        if project is None:
            assert goal is not None
            project = await plan_project(team, goal, node=planner, check=check)
        workdir = workdir_for(store, team.run_id, settings)
        make_workdir(workdir)
        if settings.harness == "rounds":
            rounds = RoundsRun(team, project, settings, workdir=workdir, on_update=on_update)
            result = await rounds.run()
        else:
            from lmteams.coordinator.dynamic import run_class  # it builds on this module

            run = run_class(settings)(team, project, settings, workdir=workdir, on_update=on_update)
            result = await run.run()
        team.status = result.status
        team.result = result.model_dump(mode="json")
    return result
