"""The rounds harness (``lmteams run --harness rounds``): the study's protocol with real calls.

Every round, every live worker is called at once (one normal Team call each, so requests and
replies are envelopes in the log and the team's resilience applies) with the board, the task it
holds and its recent history: refusals, check results, test output, messages from the others.
When all have answered, their replies are carried out in team order, action by action
(:mod:`lmteams.scheduling.rounds` reads and refuses them). A completed task's files go through
the workspace and its check runs, as on the task path (:meth:`TaskRunner.submit`). Messages
between agents are ``broadcast`` envelopes from the agent to its recipients.

The round is the unit of time: a claim or an assignment made in a round is acted on in the
next, because every call of a round started before it. The run ends when every task is
finished, when no task can run any more (stalled), when the budget is spent, or after
``max_rounds`` rounds (``unfinished``).

A resumed rounds run (``lmteams resume``) plays its rounds again from the first: every call
that was committed is answered from the log (the same state gives the same prompt, so the same
key), checks and test runs that were logged are read back instead of run, and each event and
message the log already holds is not logged again (the replay logs them in the same order:
the first as many of each type as the log has are those). The first call that was not
committed goes to its model, and the run goes on from there.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from lmteams.coordinator.settings import RunResult, RunSettings, Snapshot
from lmteams.coordinator.shell import ProjectShell
from lmteams.coordinator.suite import check_feedback
from lmteams.coordinator.tasks import TaskResult
from lmteams.errors import BudgetExceeded, ConfigError, ModelError
from lmteams.messages import Envelope, Kind
from lmteams.scheduling import driver, prompts
from lmteams.scheduling import rounds as rules
from lmteams.scheduling.policy import Assign, Note, RequestClaim
from lmteams.state.events import (
    ActionImplied,
    ActionRefused,
    BudgetStop,
    CheckRun,
    Claimed,
    Event,
    FileWritten,
    MaxRounds,
    NodeLost,
    Noted,
    ProjectFiles,
    RoundEnd,
    RoundsEnd,
    RoundStart,
    RoundTestsRun,
    Routed,
    Schedule,
    Stalled,
    SuiteRun,
    TaskAssigned,
    TaskAttempt,
    TaskDone,
    TaskFailed,
    TaskInterrupted,
    TaskParked,
    WriteConflict,
    WriteRefused,
    note_event,
)
from lmteams.state.store import EventRecord
from lmteams.team import Reply

TOPOLOGIES = ("decentralized", "preassign")

#: What a rounds run logs again, in the same order, when its rounds are played again on resume
#: (checks and test runs are read back from the log instead, calls answered from it).
REPLAYED: tuple[type[Event], ...] = (
    Schedule, ProjectFiles, RoundStart, RoundEnd, TaskAssigned, Claimed, ActionImplied,
    ActionRefused, Noted, TaskAttempt, FileWritten, WriteConflict, WriteRefused, TaskDone,
    TaskParked, TaskFailed, TaskInterrupted, NodeLost, BudgetStop, Stalled, MaxRounds, RoundsEnd,
    SuiteRun, Routed,
)  # fmt: skip


def check_rounds_settings(settings: RunSettings) -> None:
    """Refuse settings the rounds harness cannot run (before a run is opened)."""
    if settings.topology not in TOPOLOGIES:
        raise ConfigError(
            f"--harness rounds runs the study's modes: --topology "
            f"{' or '.join(TOPOLOGIES)}, not {settings.topology!r}",
            field="--topology",
        )


class RoundsRun(ProjectShell):
    """One run of a project in synchronous rounds."""

    def check(self, settings: RunSettings) -> None:
        check_rounds_settings(settings)

    def prepare(self) -> None:
        self.claims = self.settings.topology == "decentralized"
        self.history: dict[str, list[str]] = {w: [] for w in self.workers}
        self.round = 0
        # resuming: the test runs and the agents' messages the log holds, read back in order
        self._tests_logged: dict[tuple[int, str, str | None], RoundTestsRun] = {}
        self._messages_logged = 0

    def _replay_from(self, rows: Sequence[EventRecord]) -> None:
        """Prepare to play the rounds again over a dead coordinator's log (module docstring)."""
        logged: Counter[str] = Counter()
        for row in rows:
            event = row.event
            if isinstance(event, REPLAYED):
                logged[row.type] += 1
            if isinstance(event, CheckRun):
                self.attempt_log.checks[(event.task, event.attempt, event.recheck)] = row.data
            elif isinstance(event, RoundTestsRun):
                self._tests_logged[(event.round, row.node or "", event.task)] = event
            elif row.type == "message" and row.data.get("kind") == Kind.BROADCAST.value:
                self._messages_logged += 1
        self.team.already_logged.update(logged)

    # -- policy ----------------------------------------------------------------------------

    def assign(self, decision: Assign) -> None:
        self.team.event(TaskAssigned(task=decision.task, round=self.round), node=decision.node)
        self._tell(decision.node, f"round {self.round}: you now hold {decision.task}")

    def request_claim(self, decision: RequestClaim) -> None:
        return None  # every idle agent is asked each round anyway

    def note(self, decision: Note) -> None:
        self.count(decision.kind)
        self.team.event(note_event(decision, round=self.round), node=decision.node)
        if decision.node in self.history:
            self._tell(decision.node, f"round {self.round}: refused: {decision.detail}")

    def _tell(self, node: str, line: str) -> None:
        self.history.setdefault(node, []).append(line)

    def _held(self, node: str) -> str | None:
        return self.policy.board.busy.get(node)

    # -- one round ---------------------------------------------------------------------------

    def _prompt(self, node: str, board: str) -> str:
        held = self._held(node)
        task_text = None
        if held is not None:
            task = self.project.task(held)
            task_text = prompts.task_prompt(self.project, task, self.runner.context_for(task))
        return rules.round_prompt(
            self.project,
            node=node,
            round_number=self.round,
            board=board,
            agents=self.policy.board.workers,
            claims=self.claims,
            held=held,
            task_text=task_text,
            history=self.history.get(node, []),
        )

    async def _call(self, node: str, prompt: str) -> Reply | BaseException:
        try:
            return await self.team.call(
                node, prompt, key=f"round/{self.round}/{node}", meta={"round": self.round}
            )
        except (ModelError, BudgetExceeded) as exc:
            return exc

    async def _round(self) -> None:
        board = self.policy.board
        text = prompts.board_text(self.project, board.state, board.running_on)
        agents = list(board.workers)
        self.team.event(RoundStart(round=self.round, agents=agents))
        async with asyncio.TaskGroup() as group:
            calls = {a: group.create_task(self._call(a, self._prompt(a, text))) for a in agents}
        for agent in agents:
            outcome = calls[agent].result()
            if isinstance(outcome, BudgetExceeded):
                self._stop(str(outcome), agent)
            elif isinstance(outcome, ModelError):
                self._call_failed(agent, outcome)
            elif (
                isinstance(outcome, Reply)
                and agent in self.policy.board.live
                and self.stopped is None
            ):
                self.account.call_ok(agent)
                await self._act(agent, outcome)
        self.team.event(RoundEnd(round=self.round))
        self._update()

    async def _act(self, node: str, reply: Reply) -> None:
        block, rest = rules.split_reply(reply.text)
        held = self._held(node)
        implied = self.settings.success != "declared"  # there, only a declaration counts
        if implied and block is None and held is not None and self._fenced(rest, held):
            # Code for its task and no actions: read as a task reply (write, then complete),
            # as small models answer; on the record, so it is not mistaken for a declaration.
            self.team.event(ActionImplied(round=self.round, task=held), node=node)
            actions: list[rules.RoundAction] = [rules.Complete(action="complete", task=held)]
        else:
            actions, problems = rules.parse_actions(reply.text)
            for problem in problems:
                self._refuse(node, None, problem)
        fenced_used = False
        for action in (rules.resolve(a, self.project) for a in actions):
            if self.policy.complete:
                break
            held = self._held(node)
            reason = rules.refusal(
                action,
                node,
                board=self.policy.board,
                held=held,
                claims=self.claims,
                agents=self.policy.board.workers,
            )
            if reason is not None:
                self._refuse(node, action.action, reason)
            elif isinstance(action, rules.Claim):
                self.team.event(Claimed(task=action.task, round=self.round), node=node)
                self.feed(driver.Claim(node, action.task))
            elif isinstance(action, rules.Complete):
                files = dict(action.files)
                if not fenced_used:
                    files = {**self._fenced(rest, action.task), **files}
                    fenced_used = True
                await self._complete(node, action.task, files)
            elif isinstance(action, rules.Edit):
                assert held is not None
                task = self.project.task(held)
                attempt = self.runner.attempts.get(held, 0) + 1
                self.runner.write_files(task, node, attempt, {action.path: action.content})
            elif isinstance(action, rules.RunTests):
                await self._run_tests(node, action.task or self._held(node))
            elif isinstance(action, rules.Message):
                self._message(node, action, reply)
        held = self._held(node)
        if not fenced_used and held is not None:
            # files written without a complete: edits to the task it holds
            files = self._fenced(rest, held)
            if files:
                attempt = self.runner.attempts.get(held, 0) + 1
                self.runner.write_files(self.project.task(held), node, attempt, files)

    def _fenced(self, text: str, task_id: str) -> dict[str, str]:
        # only code blocks: a bare "Done." beside the actions parses as Python, not as a file
        if "```" not in text:
            return {}
        return prompts.extract_files(text, self.project.task(task_id).files)

    def _refuse(self, node: str, action: str | None, reason: str) -> None:
        self.count("action_refused")
        self.team.event(ActionRefused(round=self.round, action=action, reason=reason), node=node)
        self._tell(node, f"round {self.round}: refused: {reason}")

    async def _complete(self, node: str, task: str, files: dict[str, str]) -> None:
        result: TaskResult = await self.runner.submit(task, node, files)
        if result.outcome == "done":
            self.team.event(TaskDone(task=task, attempts=result.attempts), node=node)
            self.workspace.mark_finished(task)
            self._tell(node, f"round {self.round}: {task} is done")
            self.feed(driver.TaskDone(task, node))
        elif result.outcome == "parked":
            assert result.waiting_on is not None
            self.team.event(
                TaskParked(task=task, attempt=result.attempts, waiting_on=result.waiting_on),
                node=node,
            )
            self._tell(node, f"round {self.round}: {task} waits for {result.waiting_on}")
            self.feed(driver.TaskParked(task, node, result.waiting_on))
        elif result.outcome == "failed":
            self.team.event(TaskFailed(task=task, error=result.error), node=node)
            self._tell(node, f"round {self.round}: {task} failed for good: {result.error}")
            self.feed(driver.TaskFailed(task, node, requeue=False))
        else:  # retry: the check failed, tries remain; the task stays with the agent
            self._tell(node, f"round {self.round}: {task} failed its check:\n{result.error}")

    async def _run_tests(self, node: str, task_id: str | None) -> None:
        if task_id is not None:
            task = self.project.task(task_id)
            command = self.project.check_for(task)
            if command is not None:
                command = task.fill_in(command)
        else:
            command = self.project.suite_command()
        if command is None:
            self._tell(node, f"round {self.round}: no tests to run")
            return
        logged = self._tests_logged.pop((self.round, node, task_id), None)
        if logged is not None:  # resuming: this round's test run is in the log
            self._tell(node, f"round {self.round}: tests {logged.summary}")
            return
        result = await self.runner.run_in_workdir(command)
        summary = "passed" if result.ok else check_feedback(result, 1500)
        self.team.event(
            RoundTestsRun(round=self.round, task=task_id, ok=result.ok, summary=summary[:1500]),
            node=node,
        )
        self._tell(node, f"round {self.round}: tests {summary}")

    def _message(self, node: str, action: rules.Message, reply: Reply) -> None:
        to = rules.recipients(action, node, self.policy.board.workers)
        journal = self.team.journal
        assert journal is not None
        if self._messages_logged:  # resuming: this message is in the log
            self._messages_logged -= 1
        else:
            journal.message(
                Envelope.make(
                    run_id=self.team.run_id,
                    sender=node,
                    recipients=to,
                    kind=Kind.BROADCAST,
                    payload={
                        "text": action.text,
                        "round": self.round,
                        "direct": action.to not in (None, "all"),
                    },
                    parent_id=reply.envelope_id,
                )
            )
        for other in to:
            self._tell(other, f"round {self.round}: message from {node}: {action.text}")

    def _call_failed(self, node: str, exc: ModelError) -> None:
        self._tell(node, f"round {self.round}: your call failed ({type(exc).__name__})")
        workers = self.policy.board.workers
        # lost first, so that its task, requeued next, cannot be handed back to it
        for item in self.account.call_failed(node, workers, holds=self._held(node)):
            if isinstance(item, driver.NodeLost):
                self.team.event(NodeLost(error=str(exc)), node=node)
            elif isinstance(item, driver.TaskFailed):
                self.team.event(
                    TaskInterrupted(task=item.task, error=str(exc), requeue=item.requeue),
                    node=node,
                )
            self.feed(item)

    def _stop(self, reason: str, node: str | None = None) -> None:
        if self.stopped is None:
            self.stopped = reason
            self.team.event(BudgetStop(reason=reason), node=node)

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, *, resume_events: Sequence[EventRecord] | None = None) -> RunResult:
        """Play the rounds to the end (``resume_events``: a dead coordinator's log, whose
        rounds are played again first; see the module docstring)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if resume_events is not None:
            self._replay_from(resume_events)
        limit = rules.round_limit(self.settings.max_rounds, self.graph.n)
        self.begin(harness="rounds", max_rounds=limit)
        stalled = unfinished = False
        while not self.policy.complete and self.stopped is None:
            if rules.stuck(self.policy.board):
                stalled = True
                self.team.event(Stalled(reason="no task can run", round=self.round))
                break
            if self.round >= limit:
                unfinished = True
                self.team.event(MaxRounds(rounds=self.round))
                break
            self.round += 1
            await self._round()
        await self.runner.sync_workdir()
        self._update()
        if unfinished:
            result = await self.finish(
                started, otherwise="unfinished", why=f"{self.round} rounds (--max-rounds) reached"
            )
        else:
            result = await self.finish(started, otherwise="stalled" if stalled else "partial")
        self.team.event(RoundsEnd(rounds=self.round, status=result.status, **self.notes))
        return result

    def _update(self) -> None:
        if self.on_update is None:
            return
        board = self.policy.board
        counts = board.state_counts()
        nodes = {w: (f"holds {board.busy[w]}" if w in board.busy else "idle") for w in self.workers}
        tokens = self.team.totals.prompt_tokens + self.team.totals.completion_tokens
        self.on_update(Snapshot(counts, len(board.ready), nodes, dict(self.notes), tokens))
