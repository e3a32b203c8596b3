"""A project run (or a sweep of runs) as one request: what `lmteams run` and `lmteams sweep`
ask for, and what they report.

:class:`RunRequest` holds the flags of ``lmteams run`` (the project or a goal to plan, the team,
the topology and its settings, brought files, a check for every task); :func:`run_request`
resolves them, runs the project and computes the run's metrics from its event log::

    from lmteams.coordinator.request import RunRequest, run_request
    from lmteams.state.store import EventStore

    report = await run_request(
        RunRequest(project="tiny-math", team="team.yaml", topology="steal"), EventStore("x.db")
    )
    print(report.result.status, report.metrics.makespan_s)

:class:`SweepRequest` and :func:`sweep_request` do the same for a grid of team sizes and
topologies, writing its table and plots. A bad value is a :class:`~lmteams.errors.ConfigError`
naming the flag, as the CLI prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from lmteams.analysis.metrics import RunMetrics, compute
from lmteams.config import TeamSpec, load_team
from lmteams.coordinator.settings import RunResult, RunSettings, Snapshot
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.request import Request, comma_separated
from lmteams.runtime.base import Runtime
from lmteams.scheduling.project import ProjectSpec, resolve_project
from lmteams.state.projects import executed_project
from lmteams.state.store import EventStore


def team_sizes(value: object) -> object:
    """Team sizes as --workers takes them (1..5, 1,2,4); a list passes as it is."""
    from lmteams.coordinator.sweep import parse_range

    return parse_range(value) if isinstance(value, str) else value


TeamSizes = Annotated[tuple[int, ...], BeforeValidator(team_sizes)]

#: The scheduling policies, and ``plan``: a planner turns --goal into a project, then steal.
RunTopology = Literal["preassign", "steal", "decentralized", "lead", "dynamic", "plan"]


class RunRequest(Request):
    """The flags of `lmteams run`, validated; :func:`run_request` carries it out."""

    project: str | ProjectSpec | None = Field(
        None, description="A project file, a shipped name (tiny-math) or a ProjectSpec."
    )
    goal: str | None = Field(None, description="Plan the project from this goal first.")
    team: str | TeamSpec | None = Field(
        None, description="A team file, a shipped name or a TeamSpec (default: coders)."
    )
    topology: RunTopology = "steal"
    workers: int = Field(3, ge=1, le=4096)
    balance: Literal["least-loaded", "round-robin"] = "least-loaded"
    lead: str | None = None
    planner: str | None = None
    check: str | None = Field(None, description="Check command for every task without one.")
    success: Literal["declared", "checks", "suite"] = "checks"
    files: Path | None = Field(None, description="Bring this folder's files, read-only.")
    seed: int = 0
    harness: Literal["lmteams", "rounds"] = "lmteams"
    max_rounds: int = Field(0, ge=0, le=100_000)
    lease_s: float = 600.0
    workdir: Path | None = None
    threads: int | None = Field(None, ge=1, le=512)

    @model_validator(mode="after")
    def _goal(self) -> RunRequest:
        if self.topology == "plan" and not self.goal:
            raise ConfigError("the plan topology needs --goal", field="--goal")
        if self.project is None and not self.goal:
            raise ConfigError("give a project (file or shipped name) or --goal", field="PROJECT")
        return self

    def project_spec(self) -> ProjectSpec | None:
        """The project, with --files and --check applied (None: it is planned from the goal)."""
        if self.project is None:
            return None
        spec = (
            self.project if isinstance(self.project, ProjectSpec) else resolve_project(self.project)
        )
        if self.files is not None:
            spec = spec.with_files(self.files)
        if self.check and not spec.check:
            spec = spec.model_copy(update={"check": self.check})
        return spec

    def team_spec(self) -> TeamSpec:
        return (
            self.team if isinstance(self.team, TeamSpec) else load_team(self.team, default="coders")
        )

    def settings(self) -> RunSettings:
        return RunSettings(
            topology="steal" if self.topology == "plan" else self.topology,
            workers=self.workers,
            balance=self.balance,
            lead=self.lead,
            seed=self.seed,
            success=self.success,
            harness=self.harness,
            max_rounds=self.max_rounds,
            lease_s=self.lease_s,
            # absolute, so that `lmteams resume` from another directory writes to the same place
            workdir=str(self.workdir.expanduser().resolve()) if self.workdir is not None else None,
        )


class RunReport(BaseModel):
    """A finished run: its result and its metrics, computed from the event log."""

    model_config = ConfigDict(frozen=True)

    result: RunResult
    metrics: RunMetrics


async def run_request(
    request: RunRequest,
    store: EventStore,
    *,
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    on_update: Callable[[Snapshot], None] | None = None,
    on_start: Callable[[ProjectSpec | None, RunSettings], None] | None = None,
) -> RunReport:
    """Run the request's project on ``store``; every step goes to the log.

    Everything is resolved (project, team, installed models, settings) before the run is
    opened; ``on_start(project, settings)`` is then called once (``project`` is None when it is
    planned from the goal). ``backends`` replace the team's models by name (scripted tests).
    Cancelling it cancels the run, which is then marked cancelled.
    """
    from lmteams.coordinator.run import run_project
    from lmteams.models.embedded import prepare_engines

    project = request.project_spec()
    team = request.team_spec()
    prepare_engines(team, request.threads)
    settings = request.settings()
    if on_start is not None:
        on_start(project, settings)
    result = await run_project(
        team,
        project,
        store,
        settings,
        on_update=on_update,
        goal=request.goal,
        planner=request.planner,
        check=request.check,
        runtime=runtime,
        backends=backends,
    )
    executed = project or planned_project(store, result.run_id)
    metrics = compute(result.run_id, store.events(result.run_id), executed.graph())
    return RunReport(result=result, metrics=metrics)


def planned_project(store: EventStore, run_id: str) -> ProjectSpec:
    """The project a planner made for a run started from a goal."""
    project = executed_project(store, store.run(run_id))
    if project is None:
        raise ConfigError(f"run {run_id} stopped before its plan was made", field="RUN")
    return project


#: The topologies a sweep runs (a planned project would differ from run to run).
SweepTopology = Literal["preassign", "steal", "decentralized", "lead", "dynamic"]


def _for_a_sweep(value: object) -> object:
    for name in value if isinstance(value, list | tuple) else ():
        if name not in get_args(SweepTopology):
            raise ValueError(
                f"unknown topology {name!r} for a sweep; one of: "
                "preassign, steal, decentralized, lead"
            )
    return value


class SweepRequest(Request):
    """The flags of `lmteams sweep`: a project run over team sizes and topologies, repeated."""

    flags: ClassVar[Mapping[str, str]] = {"topologies": "--topology"}

    project: str | ProjectSpec = Field(
        description="A project file, a shipped name (tiny-math) or a ProjectSpec."
    )
    workers: TeamSizes = Field(
        (1, 2, 3, 4, 5), description="Team sizes: a list, or text as the flag takes it (1..5)."
    )
    # before validators run right to left: the text is split, then each name checked
    topologies: Annotated[
        tuple[SweepTopology, ...], BeforeValidator(_for_a_sweep), comma_separated("topology")
    ] = (
        "preassign",
        "steal",
        "decentralized",
    )
    reps: int = Field(1, ge=1, le=1000)
    team: str | TeamSpec | None = Field(
        None, description="A team file, a shipped name or a TeamSpec (default: coders)."
    )
    balance: Literal["least-loaded", "round-robin"] = "least-loaded"
    out: Path = Field(Path("sweep-out"), description="Where sweep.csv, sweep.json and plots go.")

    @property
    def runs(self) -> int:
        """How many project runs the grid makes (n = 1 always among them)."""
        return len(self.topologies) * len(set(self.workers) | {1}) * self.reps


class SweepReport(BaseModel):
    """A finished sweep: median rows per (topology, n), and the files written."""

    model_config = ConfigDict(frozen=True)

    medians: list[dict[str, Any]]
    files: list[Path]


async def sweep_request(
    request: SweepRequest,
    store: EventStore,
    *,
    runtime_factory: Callable[[], Runtime] | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    on_run: Callable[[str, int, int, RunMetrics], None] | None = None,
) -> SweepReport:
    """Run the request's grid, then write its table (CSV, JSON) and plots into ``out``:
    median speedup against n with the Amdahl curve and the DAG bound, tokens against n, and a
    Gantt chart of one run per topology at the largest n. ``on_run`` follows each run."""
    from lmteams.analysis import plots
    from lmteams.coordinator.sweep import medians, sweep, write_table

    project = (
        request.project
        if isinstance(request.project, ProjectSpec)
        else resolve_project(request.project)
    )
    team = (
        request.team
        if isinstance(request.team, TeamSpec)
        else load_team(request.team, default="coders")
    )
    rows, metrics = await sweep(
        team,
        project,
        store,
        workers=request.workers,
        topologies=request.topologies,
        reps=request.reps,
        base=RunSettings(balance=request.balance),
        backends=backends,
        runtime_factory=runtime_factory,
        on_run=on_run,
    )
    out = request.out
    written = write_table(rows, out)
    table = medians(rows)
    graph = project.graph()
    sizes = sorted(set(request.workers) | {1})
    bound = {n: graph.n / graph.lower_bound(n) for n in sizes}
    written.append(plots.speedup_plot(table, graph.p, out / "speedup.png", lower_bound=bound))
    written.append(plots.tokens_plot(table, out / "tokens.png"))
    largest = max(request.workers)
    for name in request.topologies:
        pick = next((r for r in rows if r.topology == name and r.workers == largest), None)
        if pick is not None:
            written.append(plots.gantt_plot(metrics[pick.run_id], out / f"gantt-{name}.png"))
    return SweepReport(medians=table, files=written)


__all__ = [
    "RunReport",
    "RunRequest",
    "RunTopology",
    "SweepReport",
    "SweepRequest",
    "SweepTopology",
    "TeamSizes",
    "planned_project",
    "run_request",
    "sweep_request",
    "team_sizes",
]
