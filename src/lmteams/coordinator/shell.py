"""What every coordinator shell is made of: a team, a project, its policy, workspace and runner.

The task path (:class:`lmteams.coordinator.run.ProjectRun`), its ``dynamic`` variant and the
rounds harness (:class:`lmteams.coordinator.rounds.RoundsRun`) differ in how they wait for the
team; they are built the same way, here: the workers (and the lead) chosen from the team, who
may run which task, the topology's policy, the shared workspace, the task runner with the files
the project brought, and the failure account (:mod:`lmteams.scheduling.failures`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmteams.coordinator.settings import RunSettings, Snapshot, select_workers
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

    def count(self, kind: str) -> None:
        """One more of ``kind`` among the run's notes (refusals, steals...)."""
        self.notes[kind] = self.notes.get(kind, 0) + 1
