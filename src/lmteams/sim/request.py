"""A simulation as one request: what `lmteams simulate` and `lmteams advise` ask for.

:class:`SimulationRequest` holds the flags of ``lmteams simulate`` (the project, team sizes,
topologies, latency, tokens, faults, harness and the dynamic topology's edit model);
:func:`simulate` resolves them (project file, shipped name or random graph; team file; fault
rules checked against the simulated nodes) and runs the grid. :class:`AdviceRequest` adds
prices and limits, and :func:`recommend` turns its grid into advice::

    from lmteams.sim.request import SimulationRequest, simulate

    grid = simulate(SimulationRequest(project="tiny-math", workers="1..3", faults="n1:crash=2"))
    print(grid.cells[0].makespan_s.mean)

A bad value is a :class:`~lmteams.errors.ConfigError` naming the flag, as the CLI prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from lmteams.config import TeamSpec, load_team
from lmteams.coordinator.request import TeamSizes
from lmteams.errors import ConfigError
from lmteams.faults.config import FaultsSpec
from lmteams.request import Request, comma_separated
from lmteams.scheduling.project import ProjectSpec, resolve_project
from lmteams.sim.advise import Advice, Price, advise, parse_price
from lmteams.sim.setup import Chooser, Harness, SimInputs, SimResult, SimSettings, SimTeam
from lmteams.sim.summary import SimGrid, TeamFactory, run_grid

#: The topologies the simulator runs (the scheduling policies; ``plan`` is a run's, not a grid's).
SimTopology = Literal["preassign", "steal", "decentralized", "lead", "dynamic"]
Balance = Literal["least-loaded", "round-robin"]
Profiles = Literal["condition", "solo"]

Topologies = Annotated[tuple[SimTopology, ...], comma_separated("topology")]

OnRun = Callable[[str, int, int, SimResult], None]
Eligibility = Callable[[SimTeam], Mapping[str, Sequence[str]]]


def _positive(value: float) -> float:
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be a number above 0, not {value}")
    return value


class SimulationRequest(Request):
    """The flags of `lmteams simulate`, validated; :func:`simulate` runs it."""

    flags: ClassVar[Mapping[str, str]] = {"topologies": "--topology"}

    project: str | ProjectSpec = Field(
        description="A project file, a shipped name (tiny-math), a ProjectSpec, or a random "
        "graph random:SHAPE:OPTIONS (docs/simulator.md)."
    )
    workers: TeamSizes = Field(
        (1, 2, 3, 4, 5),
        description="Team sizes: a list, or text as the flag takes it (1..5, 1,2,4). "
        "n = 1 is always simulated (the speedup baseline).",
    )
    topologies: Topologies = Field(
        ("steal",),
        description="Topologies: a list, or comma-separated text.",
    )
    latency: str = "lognormal:10,0.5"
    tokens: str | None = None
    faults: str | None = Field(None, description="Fault rules as --inject writes them.")
    reps: int = Field(5, ge=1, le=100_000)
    harness: Harness = "lmteams"
    balance: Balance = "least-loaded"
    chooser: Chooser = "ready"
    redo: float = Field(0.0, ge=0.0, le=0.99)
    seed: int = 0
    team: str | TeamSpec | None = Field(
        None, description="A team file or shipped name (node names, roles, models), or a TeamSpec."
    )
    profiles: Profiles = "condition"
    lease_s: float = 600.0
    split_rate: float = Field(0.5, ge=0.0, le=1.0)
    split_size: float = 1.5
    add_rate: float = Field(0.05, ge=0.0, le=1.0)
    dep_rate: float = Field(0.05, ge=0.0, le=1.0)

    @field_validator("lease_s")
    @classmethod
    def _lease(cls, value: float) -> float:
        if _positive(value) > 86_400:
            raise ValueError(f"at most 86400 s, not {value:g}")
        return value

    @field_validator("split_size")
    @classmethod
    def _split(cls, value: float) -> float:
        return _positive(value)

    @property
    def runs(self) -> int:
        """How many simulated runs the grid makes (for a progress bar)."""
        return len(self.topologies) * len(set(self.workers) | {1}) * self.reps

    def settings(self) -> SimSettings:
        """The settings every run of the grid starts from (topology and size set per cell)."""
        return SimSettings(
            topology=self.topologies[0],
            workers=1,
            seed=self.seed,
            balance=self.balance,
            harness=self.harness,
            chooser=self.chooser,
            redo_rate=self.redo,
            profiles=self.profiles,
            lease_s=self.lease_s,
            split_rate=self.split_rate,
            split_size=self.split_size,
            add_rate=self.add_rate,
            dep_rate=self.dep_rate,
        )


class AdviceRequest(SimulationRequest):
    """The flags of `lmteams advise`: a simulation over n = 1..max, prices and limits."""

    flags: ClassVar[Mapping[str, str]] = {
        "topologies": "--topology",
        "deadline_s": "--deadline",
    }

    topologies: Topologies = ("preassign", "steal", "decentralized", "lead")
    workers: TeamSizes = tuple(range(1, 9))
    reps: int = Field(10, ge=1, le=10_000)
    price: str | Price | None = Field(
        None,
        description="input=USD_PER_MTOK,output=USD_PER_MTOK[,node_hour=USD], or a Price; "
        "default: the team's model prices.",
    )
    tolerance: float = Field(0.10, ge=0.0, le=10.0)
    deadline_s: float | None = Field(None, ge=0.0)
    budget: float | None = Field(None, ge=0.0)

    def prices(self) -> Price:
        if isinstance(self.price, Price):
            return self.price
        if self.price is not None:
            return parse_price(self.price)
        if self.team is not None:
            spec = _team(self.team)
            prices = spec.models[spec.default_model].prices
            return Price(
                input_per_mtok=prices.input_per_mtok, output_per_mtok=prices.output_per_mtok
            )
        raise ConfigError(
            "give --price input=...,output=... (or a --team with prices)", field="--price"
        )


def simulate(request: SimulationRequest, *, on_run: OnRun | None = None) -> SimGrid:
    """Run the request's grid: every (topology, n), ``reps`` times, n = 1 always.

    ``on_run(topology, n, rep, result)`` is called after each simulated run.
    """
    return _run_grid(request, _inputs(request), on_run)


def recommend(request: AdviceRequest, *, on_run: OnRun | None = None) -> Advice:
    """Simulate the request's grid and recommend the cheapest option fast enough."""
    inputs = _inputs(request)  # a bad project is named before a missing price
    price = request.prices()
    grid = _run_grid(request, inputs, on_run)
    return advise(
        grid,
        price,
        tolerance=request.tolerance,
        deadline_s=request.deadline_s,
        budget=request.budget,
    )


def _run_grid(
    request: SimulationRequest,
    read: tuple[SimInputs, str, ProjectSpec | None],
    on_run: OnRun | None,
) -> SimGrid:
    inputs, label, needs_roles = read
    factory, eligible = _team_factory(request.team, needs_roles)
    _check_faults(inputs.faults, factory, request.topologies, max(request.workers))
    return run_grid(
        inputs,
        request.settings(),
        workers=request.workers,
        topologies=request.topologies,
        reps=request.reps,
        project=label,
        latency=request.latency,
        faults=request.faults,
        team=factory,
        eligibility=eligible,
        on_run=on_run,
    )


def _team(team: str | TeamSpec) -> TeamSpec:
    return team if isinstance(team, TeamSpec) else load_team(team)


def _inputs(request: SimulationRequest) -> tuple[SimInputs, str, ProjectSpec | None]:
    """(inputs, label, the project if its tasks need roles or skills)."""
    from lmteams.faults.injection.rules import parse_inject
    from lmteams.sim.generators import generate, is_generator
    from lmteams.sim.latency import parse_latency, parse_tokens

    latency_model = parse_latency(request.latency)
    token_model = parse_tokens(request.tokens)
    try:
        faults_spec = parse_inject([request.faults]) if request.faults else None
    except ConfigError as exc:
        raise ConfigError(exc.problem, field="--faults") from None
    project = request.project
    if isinstance(project, str) and is_generator(project):
        graph = generate(project)
        return (
            SimInputs(graph, latency_model, token_model, faults_spec, project=project),
            project,
            None,
        )
    if isinstance(project, ProjectSpec):
        spec, label = project, project.project
    else:
        spec, label = resolve_project(project), Path(project).stem
    roles = any(t.role or t.skills for t in spec.tasks)
    checks = any(spec.check_for(t) for t in spec.tasks)
    inputs = SimInputs(
        spec.graph(),
        latency_model,
        token_model,
        faults_spec,
        project_checks=checks or request.redo > 0,
        project=label,
    )
    return inputs, spec.project, spec if roles else None


def _team_factory(
    team: str | TeamSpec | None, project: ProjectSpec | None
) -> tuple[TeamFactory | None, Eligibility | None]:
    from lmteams.scheduling.topologies import eligibility

    if team is None:
        if project is not None:
            raise ConfigError(
                "the project's tasks need roles or skills: pass --team with nodes that have them",
                field="--team",
            )
        return None, None
    spec = _team(team)

    def factory(topology: str, n: int) -> SimTeam:
        return SimTeam.from_spec(spec, topology, n)

    if project is None:
        return factory, None
    needs = project

    def eligible(members: SimTeam) -> Mapping[str, Sequence[str]]:
        workers = [
            spec.node(m.source or m.name).model_copy(update={"name": m.name})
            for m in members.workers
        ]
        return eligibility(needs, workers)

    return factory, eligible


def _check_faults(
    faults: FaultsSpec | None,
    factory: TeamFactory | None,
    topologies: Sequence[str],
    largest: int,
) -> None:
    """Fault rules must name nodes the simulated teams have (n0.. or the team file's)."""
    from lmteams.faults.config import check_references

    if faults is None:
        return
    names: set[str] = set()
    roles: set[str] = set()
    for topology in topologies:
        members = (
            factory(topology, largest)
            if factory
            else SimTeam.numbered(largest, lead=topology == "lead")
        )
        names |= {m.name for m in members.everyone}
        roles |= {m.role for m in members.everyone}
    try:
        check_references(
            node_names=tuple(sorted(names)),
            roles=roles,
            models=set(),
            faults=faults,
            resilience=None,
        )
    except ValueError as exc:
        raise ConfigError(str(exc).removeprefix("faults.nodes."), field="--faults") from None


__all__ = [
    "AdviceRequest",
    "Balance",
    "Profiles",
    "SimTopology",
    "SimulationRequest",
    "recommend",
    "simulate",
]
