"""The shell of the ``dynamic`` topology: claims that carry graph edits, and lease expiry.

A :class:`DynamicRun` is a :class:`~lmteams.coordinator.run.ProjectRun` whose claim prompt
also offers graph edits (:func:`lmteams.scheduling.prompts.dynamic_prompt`). Each edit of a
reply is one logged policy input (``sched`` op ``edit``, the node's JSON as written), applied
before the reply's claim, so a node may claim a task its own edit adds; the policy's answer,
accepted (``graph_edit``) or refused (``edit_refused``, with the reason), is an event too.
Accepted edits update the project the prompts and checks read.

Leases: every claim, attempt and check is progress (``sched`` op ``progress``, with the
loop's time); a watcher wakes at the earliest lease deadline and hands ``expire`` to the
policy, which releases claims whose lease has passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from lmteams.coordinator.run import ProjectRun
from lmteams.coordinator.settings import RunResult, RunSettings
from lmteams.coordinator.tasks import TaskResult, TaskRunner
from lmteams.errors import BudgetExceeded, ModelError
from lmteams.scheduling import prompts
from lmteams.scheduling.dynamic import DynamicPolicy
from lmteams.scheduling.edits import project_after, read_edit
from lmteams.scheduling.imports import module_owners
from lmteams.scheduling.policy import Decision, Note
from lmteams.scheduling.project import TaskSpec
from lmteams.state.events import DynamicSummary, Sched, TaskDone, TaskGraphEdited
from lmteams.state.store import EventRecord


class _Late(Exception):
    """A task's result came after its lease expired; the policy has had it (not an error)."""


class _ProgressRunner(TaskRunner):
    """A task runner that reports each model call and check of an attempt as progress, and
    each result to ``on_result`` (which raises :class:`_Late` for a late one)."""

    on_progress: Callable[[str, str], None] | None = None
    on_result: Callable[[str, str, TaskResult], None] | None = None

    async def run(self, task_id: str, node: str, *, resumed: bool = False) -> TaskResult:
        result = await super().run(task_id, node, resumed=resumed)
        if self.on_result is not None:
            self.on_result(task_id, node, result)
        return result

    async def _produce(
        self, task: TaskSpec, node: str, attempt: int, feedback: str | None
    ) -> str | None:
        if self.on_progress is not None:
            self.on_progress(task.id, node)
        return await super()._produce(task, node, attempt, feedback)

    async def _check(
        self, task: TaskSpec, node: str, attempt: int, command: str, *, recheck: int = 0
    ) -> dict[str, Any]:
        if self.on_progress is not None:
            self.on_progress(task.id, node)
        return await super()._check(task, node, attempt, command, recheck=recheck)


class DynamicRun(ProjectRun):
    """One run under the ``dynamic`` topology (see the module docstring)."""

    runner_class = _ProgressRunner

    def policy_options(self) -> dict[str, Any]:
        return {"lease_s": self.settings.lease_s}

    def prepare(self) -> None:
        super().prepare()
        assert isinstance(self.policy, DynamicPolicy)
        assert isinstance(self.runner, _ProgressRunner)
        self.dynamic = self.policy
        self.runner.on_progress = self._progress
        self.runner.on_result = self._on_result
        self._lease_changed = asyncio.Event()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _progress(self, task: str, node: str) -> None:
        if not self._replaying and self.dynamic.board.running_on.get(task) == node:
            self.apply("progress", task=task, node=node, now=self._now())

    def _on_result(self, task: str, node: str, result: TaskResult) -> None:
        if result.outcome == "stopped" or not self.dynamic.is_late(task, node):
            return  # the usual path (ProjectRun._execute)
        done = result.outcome == "done"
        if result.outcome == "call_failed":
            self._node_failed(node, result.error or "call failed")
        elif result.outcome == "parked":
            self.attempt_log.parked.pop(task, None)  # the task is not parked: it is open again
        if done and self.dynamic.would_keep(task):
            self.team.event(TaskDone(task=task, attempts=result.attempts), node=node)
            self.workspace.mark_finished(task)
        self.apply("late", task=task, node=node, done=done)
        raise _Late

    async def _execute(self, task: str, node: str, *, resumed: bool) -> None:
        try:
            await super()._execute(task, node, resumed=resumed)
        except _Late:
            self.activity[node] = "idle"
            self._update()

    # -- policy inputs -------------------------------------------------------------------------

    def apply(self, op: str, **args: Any) -> None:
        if op not in ("claim", "edit", "progress", "expire", "late"):
            super().apply(op, **args)
            return
        if not self._replaying:
            self.team.event(Sched(op=op, **args))
        policy = self.dynamic
        decisions: list[Decision]
        if op == "claim":
            decisions = policy.claim(
                args["node"], args["task"], args.get("detail", ""), now=args.get("now", 0.0)
            )
            self._lease_changed.set()
        elif op == "progress":
            decisions = policy.progress(args["task"], args["node"], args["now"])
        elif op == "expire":
            decisions = policy.expire(args["now"])
        elif op == "late":
            decisions = policy.late_result(args["task"], args["node"], done=args["done"])
        else:
            decisions = self._edit(args.get("node"), args["raw"])
        for decision in decisions:
            if isinstance(decision, Note) and decision.kind == "lease_expired":
                # the task's next claimant must be able to write its files now; the late
                # node's write, if it comes, fails the workspace's version check
                assert decision.task is not None and decision.node is not None
                for path in self.project.task(decision.task).files:
                    self.workspace.release(path, decision.node)
        self.carry_out(decisions)

    def _edit(self, node: str | None, raw: Any) -> list[Decision]:
        read = read_edit(raw, self.project)
        if isinstance(read, str):
            self.dynamic.edits_refused += 1
            task = raw.get("task", raw.get("id")) if isinstance(raw, dict) else None
            return [Note("edit_refused", node, task if isinstance(task, str) else None, read)]
        edit, specs = read
        decisions = self.dynamic.edit(node, edit)
        if any(isinstance(d, Note) and d.kind == "graph_edit" for d in decisions):
            self.project = project_after(self.project, self.dynamic.graph, specs)
            self.graph = self.dynamic.graph
            self.runner.project = self.project
            self.runner.owners = module_owners(self.project)
            if not self._replaying:
                tasks = {t: list(d) for t, d in self.graph.deps.items()}
                self.team.event(TaskGraphEdited(tasks=tasks), node=node)
        return decisions

    # -- claims ----------------------------------------------------------------------------------

    async def _claim(self, node: str, number: int, board: str) -> None:
        if not self._claim_allowed(node):
            return
        edits: list[Any] = []
        try:
            reply = await self.team.call(
                node,
                prompts.dynamic_prompt(self.project, board, node),
                key=f"claim/{node}/{number}",
                sampling={"max_tokens": max(self.settings.claim_max_tokens, 512)},
                meta={"claim": number},
            )
            text, edits, detail = prompts.parse_dynamic(reply.text)
        except BudgetExceeded as exc:
            self._stop(str(exc), node=node)
            return
        except ModelError as exc:
            self._node_failed(node, str(exc))
            text, detail = "", f"call failed: {type(exc).__name__}"
        self.activity[node] = "idle"
        for raw in edits:
            self.apply("edit", node=node, raw=raw)
        choice = prompts.resolve_claim(text, self.graph.ids) if text else None
        if choice is None and not detail:
            detail = "no claim" if edits else f"reply: {reply.text.strip()[:80]!r}"
        self.apply("claim", node=node, task=choice, detail=detail, now=self._now())

    # -- leases ----------------------------------------------------------------------------------

    async def _watch_leases(self) -> None:
        """Hand ``expire`` to the policy at each lease deadline; cancelled when the run ends."""
        while True:
            deadlines = self.dynamic.deadline.values()
            wait_s = (min(deadlines) - self._now()) if deadlines else self.dynamic.lease_s
            self._lease_changed.clear()
            if wait_s > 0:
                try:
                    async with asyncio.timeout(wait_s):
                        await self._lease_changed.wait()
                    continue  # a new claim: its deadline may be the earliest
                except TimeoutError:
                    pass
            now = self._now()
            due = any(at <= now for at in self.dynamic.deadline.values())
            if not due:
                continue
            if self._group is not None and self.stopped is None:
                self.apply("expire", now=now)
            else:  # a stopped run starts nothing new: look again later, do not spin
                await asyncio.sleep(self.dynamic.lease_s)

    async def run(self, *, resume_events: Sequence[EventRecord] | None = None) -> RunResult:
        """The run (:meth:`ProjectRun.run`) with the lease watcher beside it."""
        async with asyncio.TaskGroup() as group:
            watcher = group.create_task(self._watch_leases())
            try:
                result = await super().run(resume_events=resume_events)
            finally:
                watcher.cancel()
        self.team.event(
            DynamicSummary(
                edits=self.dynamic.edits,
                edits_refused=self.dynamic.edits_refused,
                leases_expired=self.dynamic.expired,
            ),
        )
        return result


def run_class(settings: RunSettings) -> type[ProjectRun]:
    """The shell that runs ``settings.topology`` under the lmteams harness."""
    return DynamicRun if settings.topology == "dynamic" else ProjectRun
