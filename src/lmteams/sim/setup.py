"""What a simulation is given: its settings, its team, and the models of latency and tokens.

Shared by both harnesses (:mod:`lmteams.sim.engine`, one call per task attempt as
``lmteams run`` makes them; :mod:`lmteams.sim.rounds`, the study's synchronous rounds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lmteams.analysis.metrics import RunMetrics
from lmteams.config import TeamSpec
from lmteams.faults.config import FaultsSpec
from lmteams.faults.injection.rules import NodeFaults, rule_for
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Decision, Policy
from lmteams.scheduling.topologies import make_policy
from lmteams.sim.latency import LatencyModel, NodeLatency, NodeTokens, TokenModel, parse_tokens

Harness = Literal["lmteams", "rounds"]
Chooser = Literal["ready", "first-pending"]


class SimSettings(BaseModel):
    """How one simulated run is carried out (the `lmteams simulate` flags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topology: str = "steal"
    workers: int = Field(3, ge=1, le=1_000_000)
    seed: int = 0
    balance: str = Field("least-loaded", pattern="^(least-loaded|round-robin)$")
    harness: Harness = "lmteams"
    chooser: Chooser = Field(
        "ready",
        description="How a node's model picks a claim: a random ready task (as a careful model "
        "would), or the first pending task on the board (the scripted test model's naive pick).",
    )
    refusal: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Chance a claim names a task that is not ready (default: "
        "the calibration's, else 0).",
    )
    redo_rate: float = Field(
        0.0, ge=0, le=0.99, description="Chance a task call must be redone (failed check)."
    )
    max_check_retries: int = Field(2, ge=0, le=20)
    max_task_attempts: int = Field(3, ge=1, le=50)
    node_failure_limit: int = Field(3, ge=1, le=100)
    max_claims: int = Field(0, ge=0, description="Stop after this many claims (0: 20 per task).")
    idle_calls: bool = Field(
        True, description="rounds harness: nodes with nothing to do are still called each round."
    )
    tasks_per_call: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="rounds harness: tasks one call can carry (default: "
        "a calibrated profile, else 1).",
    )
    profiles: Literal["condition", "solo"] = Field(
        "condition",
        description="rounds harness with a calibration: replay agents observed in the same "
        "condition (mode, team size, project), or one-agent runs only.",
    )
    round_overhead_s: float | None = Field(
        None, ge=0, description="rounds harness: time added per round (default: calibrated or 0)."
    )
    lease_s: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="dynamic: a claim with no progress this long is released.",
    )
    split_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="dynamic: chance a node splits a long task it is about to claim.",
    )
    split_size: float = Field(
        1.5, gt=0, description="dynamic: a task is long from this size on (1 = the mean task)."
    )
    add_rate: float = Field(
        0.05, ge=0, le=1, description="dynamic: chance a claim adds a follow-up task."
    )
    dep_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="dynamic: chance a claim proposes a dependency between "
        "two open tasks (refused when it closes a cycle or touches a claimed task).",
    )
    keep_spans: bool = True


@dataclass(frozen=True, slots=True)
class SimNode:
    name: str
    model: str | None = None
    role: str = "generalist"
    source: str | None = None  # the team file's node it repeats, when it comes from one


@dataclass(frozen=True)
class SimTeam:
    """The worker nodes in team order, and the lead node (for the lead topology)."""

    workers: tuple[SimNode, ...]
    lead: SimNode | None = None
    #: The team a run would open, when it comes from a team file: its nodes, the repeats
    #: included. Its replica groups serve the calls addressed to their members
    #: (:mod:`lmteams.sim.replicas`), whether or not the replica is a worker.
    spec: TeamSpec | None = None

    @classmethod
    def numbered(cls, workers: int, *, lead: bool = False, model: str | None = None) -> SimTeam:
        nodes = tuple(SimNode(f"n{i}", model) for i in range(workers))
        return cls(nodes, SimNode("lead", model, "lead") if lead else None)

    @classmethod
    def from_spec(cls, spec: TeamSpec, topology: str, workers: int) -> SimTeam:
        """The nodes `lmteams run` would use from this team file (nodes with role lead or
        planner take no tasks; under ``lead`` the lead is apart). A team with fewer worker
        nodes than ``workers`` has them repeated (``coder``, ``coder-2``...), as ``--nodes``
        does for real runs."""
        lead = None
        if topology == "lead":
            lead_spec = next((n for n in spec.nodes if n.role == "lead"), spec.nodes[0])
            lead = SimNode(lead_spec.name, spec.model_of(lead_spec), lead_spec.role, lead_spec.name)
        pool = [n for n in spec.nodes if n.role not in ("lead", "planner")] or list(spec.nodes)
        if lead is not None and len(pool) > 1:
            pool = [n for n in pool if n.name != lead.name]
        nodes = []
        repeats = []
        for i in range(workers):
            node = pool[i % len(pool)]
            round_ = i // len(pool)
            name = node.name if round_ == 0 else f"{node.name}-{round_ + 1}"
            nodes.append(SimNode(name, spec.model_of(node), node.role, node.name))
            if round_:
                repeats.append(node.model_copy(update={"name": name}))
        opened = spec.model_copy(update={"nodes": (*spec.nodes, *repeats)}) if repeats else spec
        return cls(tuple(nodes), lead, opened)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.workers]

    @property
    def everyone(self) -> tuple[SimNode, ...]:
        return (*self.workers, self.lead) if self.lead else self.workers

    @property
    def serving(self) -> tuple[SimNode, ...]:
        """Everyone, and the team file's nodes that only serve calls as replicas."""
        if self.spec is None:
            return self.everyone
        known = {n.name for n in self.everyone}
        others = tuple(
            SimNode(n.name, self.spec.model_of(n), n.role, n.name)
            for n in self.spec.nodes
            if n.name not in known
        )
        return (*self.everyone, *others)


@dataclass
class SimInputs:
    """Everything but the settings: the graph, latencies, tokens, faults, eligibility."""

    graph: TaskGraph
    latency: LatencyModel
    tokens: TokenModel = field(default_factory=lambda: parse_tokens(None))
    faults: FaultsSpec | None = None
    eligible: Mapping[str, Sequence[str]] | None = None
    project_checks: bool = False  # the project has check commands (redo_rate applies)
    project: str | None = None  # a label matched against calibrated profiles (e.g. file stem)


@dataclass(frozen=True)
class SimResult:
    metrics: RunMetrics
    status: str  # done | partial | stalled
    events: int  # events processed
    elapsed_s: float  # real seconds the simulation took
    policy_s: float  # of which in the scheduling policy


@dataclass(slots=True)
class NodeModel:
    """One node's latency, tokens and faults, resolved once before a run."""

    latency: NodeLatency
    tokens: NodeTokens
    slow: float
    faults: NodeFaults | None


def node_models(team: SimTeam, inputs: SimInputs) -> dict[str, NodeModel]:
    out: dict[str, NodeModel] = {}
    for node in team.serving:
        rule = rule_for(inputs.faults, node.name, node.role) if inputs.faults else None
        faults = None
        if rule is not None and rule.active and inputs.faults is not None:
            faults = NodeFaults(node.name, rule, inputs.faults.seed)
        out[node.name] = NodeModel(
            latency=inputs.latency.for_node(node.name, node.model, node.role),
            tokens=inputs.tokens.for_node(node.name, node.model, node.role),
            slow=rule.slow if rule is not None else 1.0,
            faults=faults,
        )
    return out


def build_policy(settings: SimSettings, inputs: SimInputs, team: SimTeam) -> Policy:
    options: dict[str, object] = {}
    if settings.topology in ("preassign", "steal"):
        options["balance"] = settings.balance
    if settings.topology == "dynamic":
        options["lease_s"] = settings.lease_s
    return make_policy(
        settings.topology,
        inputs.graph,
        team.names,
        eligible=inputs.eligible,
        seed=settings.seed,
        **options,
    )


def task_sizes(graph: TaskGraph) -> list[float]:
    """Each task's size relative to the mean (1.0 everywhere when tasks carry no estimates)."""
    if not graph.durations:
        return [1.0] * graph.n
    values = [graph.duration(t) for t in graph.ids]
    mean = sum(values) / len(values)
    return [v / mean for v in values]


__all__ = [
    "Decision",
    "NodeModel",
    "SimInputs",
    "SimNode",
    "SimResult",
    "SimSettings",
    "SimTeam",
    "build_policy",
    "node_models",
    "task_sizes",
]
