"""What a project run is given and what it reports: settings, result, live snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError
from lmteams.request import Request


class RunSettings(Request):
    """How to run a project (the `lmteams run` flags; a bad one is named by its flag)."""

    topology: str = "steal"
    workers: int = Field(3, ge=1, le=4096)
    balance: str = Field("least-loaded", pattern="^(least-loaded|round-robin)$")
    lead: str | None = Field(
        None, description="Lead node for `lead` (default: a node with role lead, else the first)."
    )
    seed: int = 0
    lease_ttl_s: float = Field(600.0, gt=0)
    lease_s: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="dynamic: a claim with no progress (an attempt, a check) for this long "
        "is released.",
    )
    max_task_attempts: int = Field(3, ge=1, le=50, description="Re-runs after failed calls.")
    node_failure_limit: int = Field(
        3, ge=1, le=100, description="Consecutive failures before a node is lost."
    )
    max_claims: int = Field(
        0, ge=0, description="Stop after this many claim requests (0: 20 per task)."
    )
    claim_max_tokens: int = Field(24, ge=4, le=512)
    success: Literal["declared", "checks", "suite"] = Field(
        "checks",
        description="When the run succeeds: every task declared done (the study's rule), "
        "every task's check passed, or that plus the whole suite passing at the end.",
    )
    harness: Literal["lmteams", "rounds"] = Field(
        "lmteams",
        description="lmteams: one call per task attempt; rounds: the study's synchronous "
        "rounds, every agent called each round and acting through structured actions.",
    )
    max_rounds: int = Field(
        0, ge=0, le=100_000, description="rounds: stop after this many rounds (0: 5 per task)."
    )
    workdir: str | None = Field(
        None,
        description="Where the run's files are written (default: beside the event log, "
        "runs/RUN/workspace).",
    )


class SuiteResult(BaseModel):
    """The project's whole suite, run once after the last task."""

    model_config = ConfigDict(frozen=True)

    command: str
    ok: bool
    returncode: int | None
    passed: int | None = None  # None: no junit report (not pytest, or it did not get that far)
    failed: int | None = None
    errors: int | None = None
    skipped: int | None = None
    summary: str = ""


class RunResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    status: str  # done | partial | stalled | stopped (budget)
    tasks: dict[str, str]
    workspace: str
    wall_s: float
    stopped: str | None = None  # why the run stopped early (its budget was spent)
    suite: SuiteResult | None = None  # the whole suite, run once at the end (None: no suite)
    success: str = "checks"  # the rule the status was decided by


@dataclass
class Snapshot:
    """What the live view shows."""

    counts: dict[str, int]
    ready: int
    nodes: dict[str, str]
    notes: dict[str, int]
    tokens: int
    # role -> (busy workers, workers, ready tasks they may take): utilization and queue depth
    roles: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)  # node -> healthy / suspect / dead
    breakers: dict[str, str] = field(default_factory=dict)  # endpoint -> closed / open / half_open


def select_workers(team: TeamSpec, settings: RunSettings) -> tuple[list[str], str | None]:
    """(workers, lead): nodes with role ``lead`` or ``planner`` do not take tasks (unless
    nothing else can); under ``lead`` the lead is kept out of the workers."""
    lead = None
    names = [n.name for n in team.nodes if n.role not in ("lead", "planner")] or list(
        team.node_names
    )
    if settings.topology == "lead":
        lead = settings.lead or next((n.name for n in team.nodes if n.role == "lead"), names[0])
        if lead not in team.node_names:
            raise ConfigError(f"no node named {lead!r} for --lead", field="--lead")
        if len(names) > 1 and lead in names:
            names.remove(lead)
    if settings.workers > len(names):
        raise ConfigError(
            f"--workers {settings.workers} but the team has only {len(names)} worker nodes "
            "(use a larger team, or --nodes to repeat its nodes)",
            field="--workers",
        )
    return names[: settings.workers], lead
