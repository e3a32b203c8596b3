"""Who may get a piece of work: role and skill matching, checked before a run starts.

A node serves a requirement when it has the required role (if one is named) and every required
skill. :func:`eligible` is the one rule, for the schedulers' tasks and for routed requests
alike; work that no node can serve is rejected up front with one error text that names the task
and what is missing. Pure: reads team specs, performs no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lmteams.errors import ConfigError
from lmteams.routing.settings import RoleConfig

if TYPE_CHECKING:  # only the types: config stays a leaf that knows nothing of routing
    from lmteams.config import NodeSpec, TeamSpec


class UnroutableTask(ConfigError):
    """No node of the team can serve a task; raised before the run starts."""

    def __init__(
        self,
        problem: str,
        *,
        task: str,
        role: str | None,
        skills: tuple[str, ...],
        source: str | None = None,
        field: str | None = None,
    ) -> None:
        self.task = task
        self.role = role
        self.skills = skills
        super().__init__(problem, source=source, field=field)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one piece of work needs: a role (None: any role) and all of ``skills``."""

    task: str
    role: str | None = None
    skills: tuple[str, ...] = ()


def serves(node: NodeSpec, role: str | None, skills: Iterable[str] = ()) -> bool:
    """Whether ``node`` has ``role`` (when given) and every one of ``skills``."""
    if role is not None and node.role != role:
        return False
    return set(skills) <= set(node.skills)


def nodes_for(role: str | None, skills: Iterable[str], team: TeamSpec) -> tuple[NodeSpec, ...]:
    """Every node that can serve ``role`` with ``skills``, in team order (may be empty)."""
    return _serving(role, tuple(skills), team.nodes)


def _serving(
    role: str | None, skills: tuple[str, ...], nodes: Sequence[NodeSpec]
) -> tuple[NodeSpec, ...]:
    return tuple(node for node in nodes if serves(node, role, skills))


def roles_of(team: TeamSpec) -> dict[str, tuple[str, ...]]:
    """Role -> the names of its nodes (its replica group), roles in order of first appearance."""
    return _groups(team.nodes)


def _groups(nodes: Sequence[NodeSpec]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault(node.role, []).append(node.name)
    return {role: tuple(names) for role, names in groups.items()}


def role_config(team: TeamSpec, role: str) -> RoleConfig:
    """The role's ``roles:`` settings, or the defaults."""
    return team.roles.get(role) or RoleConfig()


def unroutable_reason(requirement: Requirement, team: TeamSpec) -> str | None:
    """Why no node can serve ``requirement``, or None when some node can."""
    return _reason(requirement, team.nodes)


def _reason(requirement: Requirement, nodes: Sequence[NodeSpec]) -> str | None:
    missing = _missing(requirement.role, requirement.skills, nodes)
    return None if missing is None else f"task {requirement.task!r} needs {missing}"


def _missing(role: str | None, skills: tuple[str, ...], nodes: Sequence[NodeSpec]) -> str | None:
    """What no node has, in words (the one text of every eligibility error), or None."""
    if _serving(role, skills, nodes):
        return None
    if role is not None and not any(node.role == role for node in nodes):
        return f"role {role!r}, which no node has (roles: {', '.join(_groups(nodes))})"
    needed = ", ".join(skills)
    if role is None:
        return f"skills {needed}, which no single node has all of"
    members = "; ".join(
        f"{node.name} [{', '.join(node.skills) or 'no skills'}]"
        for node in nodes
        if node.role == role
    )
    return f"role {role!r} with skills {needed}; no {role} node has them all ({members})"


def eligible(
    requirements: Iterable[Requirement],
    nodes: Sequence[NodeSpec],
    *,
    source: str | None = None,
    field: str | Callable[[Requirement], str] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Task -> the names of the ``nodes`` that serve it, in their order: who may get the work.

    The one eligibility rule, used by the schedulers (a task's role and skills, among the run's
    workers) and by routing (a request's, among the team's nodes). Raises
    :class:`UnroutableTask` for the first requirement no node serves (with how many more), so
    that nothing is sent when any piece of work has nowhere to go; ``field`` names where the
    requirement came from (a callable: per requirement, e.g. ``tasks.<id>``).
    """
    wanted = list(requirements)
    failures = [(r, reason) for r in wanted if (reason := _reason(r, nodes))]
    if failures:
        first, reason = failures[0]
        more = f" (and {len(failures) - 1} more unroutable)" if len(failures) > 1 else ""
        raise UnroutableTask(
            reason + more,
            task=first.task,
            role=first.role,
            skills=first.skills,
            source=source,
            field=field(first) if callable(field) else field,
        )
    return {r.task: tuple(n.name for n in _serving(r.role, r.skills, nodes)) for r in wanted}


def check_routable(
    requirements: Iterable[Requirement],
    team: TeamSpec,
    *,
    source: str | None = None,
    field: str | None = None,
) -> None:
    """Raise :class:`UnroutableTask` for the first requirement no node of ``team`` can serve.

    Call before a run starts, so that nothing is sent when any piece of work has nowhere to go.
    """
    eligible(requirements, team.nodes, source=source, field=field)


def restrict_to_role(team: TeamSpec, role: str | None, skills: Sequence[str] = ()) -> TeamSpec:
    """The team with only the nodes that serve ``role`` (and ``skills``), e.g. for ``ask --role``.

    Raises :class:`UnroutableTask` (field ``--role``) when no node serves it.
    """
    wanted = tuple(skills)
    missing = _missing(role, wanted, team.nodes)
    if missing is not None:
        raise UnroutableTask(
            f"no node to ask: the question needs {missing}",
            task="ask",
            role=role,
            skills=wanted,
            field="--role",
        )
    kept = nodes_for(role, wanted, team)
    roles = {name: config for name, config in team.roles.items() if name == role}
    return team.model_copy(update={"nodes": kept, "roles": roles})
