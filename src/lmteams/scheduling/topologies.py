"""Topology names -> policy classes, and eligibility (which nodes may run which task)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lmteams.config import NodeSpec
from lmteams.errors import ConfigError
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
    """For every task that names a role or skills, the workers that match.

    Raises :class:`ConfigError` before the run if a task has no matching worker, naming the
    task and what is missing.
    """
    out: dict[str, list[str]] = {}
    roles = sorted({w.role for w in workers})
    for task in project.tasks:
        if task.role is None and not task.skills:
            continue
        matching = [
            w.name
            for w in workers
            if (task.role is None or w.role == task.role) and set(task.skills) <= set(w.skills)
        ]
        if not matching:
            need = f"role {task.role!r}" if task.role else ""
            if task.skills:
                need += (" and " if need else "") + f"skills {sorted(task.skills)}"
            raise ConfigError(
                f"no worker can run task {task.id!r}: it needs {need}; workers have roles "
                f"{', '.join(roles)}",
                field=f"tasks.{task.id}",
            )
        out[task.id] = matching
    return out
