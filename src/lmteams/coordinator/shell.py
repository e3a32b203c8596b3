"""What every coordinator shell is made of: a team, a project, its policy, workspace and runner.

The task path (:class:`lmteams.coordinator.run.ProjectRun`), its ``dynamic`` variant and the
rounds harness (:class:`lmteams.coordinator.rounds.RoundsRun`) differ in how they wait for the
team; they are built the same way, here: the workers (and the lead) chosen from the team, who
may run which task, the topology's policy, the shared workspace, the task runner with the files
the project brought, and the failure account (:mod:`lmteams.scheduling.failures`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmteams.coordinator.settings import RunResult, RunSettings, Snapshot, select_workers
from lmteams.coordinator.tasks import AttemptLog, TaskRunner
from lmteams.scheduling.driver import Driver, Start
from lmteams.scheduling.failures import FailureAccount
from lmteams.scheduling.policy import Policy, TaskState
from lmteams.scheduling.project import ProjectSpec
from lmteams.scheduling.topologies import eligibility, make_policy
from lmteams.state.events import Schedule
from lmteams.state.workspace import Workspace
from lmteams.team import Team


class ProjectShell(Driver):
    """The parts every shell that runs a project with a team holds (see the module docstring).

    A subclass may pick its task runner (``runner_class``), add to its policy's options
    (:meth:`policy_options`) and to its state (:meth:`prepare`).
    """

    runner_class: type[TaskRunner] = TaskRunner

    def __init__(
        self,
        team: Team,
        project: ProjectSpec,
        settings: RunSettings,
        *,
        workdir: Path,
        on_update: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.check(settings)
        self.team = team
        self.project = project
        self.settings = settings
        self.workdir = workdir
        self.on_update = on_update
        self.graph = project.graph()
        self.workers, self.lead = select_workers(team.spec, settings)
        self.eligible = eligibility(project, [team.spec.node(w) for w in self.workers])
        self.policy: Policy = make_policy(
            settings.topology,
            self.graph,
            self.workers,
            eligible=self.eligible,
            seed=settings.seed,
            **self.policy_options(),
        )
        self.workspace = Workspace(settings.lease_ttl_s)
        self.attempt_log = AttemptLog()
        self.runner = self.runner_class(
            team,
            project,
            self.workspace,
            workdir,
            lease_ttl_s=settings.lease_ttl_s,
            log=self.attempt_log,
            success=settings.success,
            is_done=lambda task: self.policy.board.state[task] is TaskState.DONE,
        )
        self.brought = self.runner.bring_files()
        self.account = FailureAccount(settings.node_failure_limit, settings.max_task_attempts)
        self.notes: dict[str, int] = {}
        self.stopped: str | None = None
        self.prepare()

    def check(self, settings: RunSettings) -> None:
        """Refuse settings this shell cannot run (before anything is built)."""
        return None

    def prepare(self) -> None:
        """What a subclass adds to the shell's state (called last by ``__init__``)."""
        return None

    def policy_options(self) -> dict[str, Any]:
        """Options of the topology's policy beyond the graph, workers, eligibility and seed."""
        if self.settings.topology in ("preassign", "steal"):
            return {"balance": self.settings.balance}
        return {}

    def begin(self, **extra: Any) -> None:
        """Log the schedule (topology, workers, the graph's shape; ``extra``: the harness's
        own fields) and the files the project brought, then start the policy."""
        self.team.event(
            Schedule(
                topology=self.settings.topology,
                workers=self.workers,
                lead=self.lead,
                plan=getattr(self.policy, "plan", lambda: None)(),
                n=self.graph.n,
                c=self.graph.c,
                p=self.graph.p,
                **extra,
            ),
        )
        self.runner.log_brought(self.brought)
        self.feed(Start())

    async def finish(self, started: float, *, otherwise: str, why: str | None = None) -> RunResult:
        """Run the project's suite once and say how the run ended: ``done`` (``suite_failed``
        where the suite decides and fails) when every task is, ``stopped`` when the budget
        ended it, else ``otherwise`` (with ``why`` as the reason it stopped)."""
        suite = await self.runner.run_suite()
        states = {t: s.value for t, s in self.policy.board.state.items()}
        stopped = self.stopped
        if all(s == "done" for s in states.values()):
            failing = self.settings.success == "suite" and suite is not None and not suite.ok
            status = "suite_failed" if failing else "done"
        elif self.stopped is not None:
            status = "stopped"
        else:
            status, stopped = otherwise, why or self.stopped
        return RunResult(
            run_id=self.team.run_id,
            status=status,
            tasks=states,
            workspace=str(self.workdir),
            wall_s=asyncio.get_running_loop().time() - started,
            stopped=stopped,
            suite=suite,
            success=self.settings.success,
        )

    def count(self, kind: str) -> None:
        """One more of ``kind`` among the run's notes (refusals, steals...)."""
        self.notes[kind] = self.notes.get(kind, 0) + 1
