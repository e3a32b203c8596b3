"""Topology names -> policy classes, and which workers may run which task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lmteams.config import NodeSpec
from lmteams.errors import ConfigError
from lmteams.routing.roles import Requirement, eligible
from lmteams.scheduling.decentralized import DecentralizedPolicy
from lmteams.scheduling.dynamic import DynamicPolicy
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.lead import LeadPolicy
from lmteams.scheduling.policy import Policy
from lmteams.scheduling.preassign import PreassignPolicy, StealPolicy
from lmteams.scheduling.project import ProjectSpec

POLICIES: dict[str, type[Policy]] = {
    "preassign": PreassignPolicy,
    "steal": StealPolicy,
    "decentralized": DecentralizedPolicy,
    "lead": LeadPolicy,
    "dynamic": DynamicPolicy,
}
TOPOLOGIES = (*POLICIES, "plan")


def make_policy(
    topology: str,
    graph: TaskGraph,
    workers: Sequence[str],
    *,
    eligible: Mapping[str, Iterable[str]] | None = None,
    seed: int = 0,
    **options: Any,
) -> Policy:
    if topology not in POLICIES:
        raise ConfigError(
            f"unknown topology {topology!r}; one of: {', '.join(TOPOLOGIES)}", field="--topology"
        )
    return POLICIES[topology](graph, workers, eligible=eligible, seed=seed, **options)


def eligibility(project: ProjectSpec, workers: Sequence[NodeSpec]) -> dict[str, list[str]]:
    """For every task that names a role or skills, the workers that match
    (:func:`lmteams.routing.roles.eligible`, the one rule).

    Raises :class:`~lmteams.routing.roles.UnroutableTask` (a :class:`ConfigError`, field
    ``tasks.<id>``) before the run if a task has no matching worker, naming the task and what
    is missing.
    """
    needs = [
        Requirement(task.id, task.role, tuple(task.skills))
        for task in project.tasks
        if task.role is not None or task.skills
    ]
    found = eligible(needs, workers, field=lambda need: f"tasks.{need.task}")
    return {task: list(names) for task, names in found.items()}
