"""Placement policy of the Ray runtime: which nodes share which actor, on which machine.

Pure: it takes the team's node demands, the cluster's machines and the ``ray:`` settings, and
returns a plan; the Ray runtime carries it out. Rules:

* Nodes are grouped by placement: a role listed under ``ray.roles`` gets its own actors; all
  other roles share actors, kept contiguous by role. Nodes that need different resources
  (``NodeSpec.resources``) never share an actor.
* A group gets ``actors_per_machine`` actors on every machine that can host it (never more
  actors than nodes; more if ``nodes_per_actor`` caps them), nodes split evenly in team order.
* An actor reserves its role's per-actor resources plus the sum of its nodes' resources; actors
  go round-robin over the machines with room, and an actor that fits nowhere is split in two.
  A single node that fits nowhere is a configuration error, reported before anything starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lmteams.errors import ConfigError
from lmteams.runtime.ray.settings import RaySettings

SHARED = "*"
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Machine:
    """One machine (a Ray node) and the resources it has in total."""

    id: str
    address: str
    resources: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class NodeDemand:
    """What one team node asks of the cluster."""

    name: str
    role: str
    resources: Mapping[str, float] = field(default_factory=dict)
    index: int = 0  # position in the team file, for error messages


@dataclass(frozen=True, slots=True)
class ActorPlan:
    """One node-host actor to start: its nodes, its machine and what it reserves there."""

    index: int
    group: str
    nodes: tuple[str, ...]
    machine: str
    resources: Mapping[str, float]


@dataclass(slots=True)
class _Group:
    key: tuple[str, tuple[tuple[str, float], ...]]
    nodes: list[NodeDemand]

    @property
    def role(self) -> str:
        return self.key[0]

    @property
    def node_resources(self) -> dict[str, float]:
        return dict(self.key[1])


def _clean(resources: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in resources.items() if v > 0))


def _add(*parts: Mapping[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in parts:
        for key, value in part.items():
            if value > 0:
                total[key] = total.get(key, 0.0) + value
    return total


def _scaled(resources: Mapping[str, float], factor: int) -> dict[str, float]:
    return {key: value * factor for key, value in resources.items()}


def fits(need: Mapping[str, float], free: Mapping[str, float]) -> bool:
    return all(free.get(key, 0.0) + _EPSILON >= value for key, value in need.items())


def _groups(nodes: Sequence[NodeDemand], settings: RaySettings) -> list[_Group]:
    role_order: dict[str, int] = {}
    for node in nodes:
        role_order.setdefault(node.role, len(role_order))
    groups: dict[tuple[str, tuple[tuple[str, float], ...]], _Group] = {}
    for node in nodes:
        role = node.role if node.role in settings.roles else SHARED
        key = (role, _clean(node.resources))
        groups.setdefault(key, _Group(key, [])).nodes.append(node)
    for group in groups.values():
        # Shared actors keep each role's nodes together (stable: team order within a role).
        group.nodes.sort(key=lambda n: role_order[n.role])
    # The most constrained groups are placed first, while every machine still has room.
    return sorted(groups.values(), key=lambda g: not g.key[1] and g.role == SHARED)


def _split(items: list[NodeDemand], parts: int) -> list[list[NodeDemand]]:
    base, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        size = base + (1 if index < extra else 0)
        chunks.append(items[start : start + size])
        start += size
    return [chunk for chunk in chunks if chunk]


def _describe(resources: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(resources.items())) + "}"


def _where(group: _Group, node: NodeDemand) -> str:
    """The team-file field that asked for what could not be had."""
    if group.key[1]:
        return f"nodes[{node.index}].resources"
    if group.role != SHARED:
        return f"ray.roles.{group.role}.resources"
    return "ray.actor_cpus"


def plan_actors(
    nodes: Sequence[NodeDemand], machines: Sequence[Machine], settings: RaySettings
) -> list[ActorPlan]:
    """Assign every node to exactly one actor and every actor to a machine.

    Raises :class:`~lmteams.errors.ConfigError` naming the field when a role or node needs
    resources that no machine has, or more than is free once the other actors are placed.
    """
    if not machines:
        raise ConfigError("the Ray cluster has no live machines")
    free = {machine.id: dict(machine.resources) for machine in machines}
    order = {machine.id: index for index, machine in enumerate(machines)}
    plans: list[tuple[str, list[NodeDemand], str, dict[str, float]]] = []
    for group in _groups(nodes, settings):
        placement = settings.roles.get(group.role) if group.role != SHARED else None
        per_actor = _add({"CPU": settings.actor_cpus}, placement.resources if placement else {})
        per_node = group.node_resources
        eligible = [m.id for m in machines if fits(_add(per_actor, per_node), m.resources)]
        if not eligible:
            raise ConfigError(
                f"needs {_describe(_add(per_actor, per_node))} per actor; no machine in the "
                f"Ray cluster has that ({_machines(machines)})",
                field=_where(group, group.nodes[0]),
            )
        per_machine = (placement.actors_per_machine if placement else None) or (
            settings.actors_per_machine
        )
        cap = (placement.nodes_per_actor if placement else None) or settings.nodes_per_actor
        count = min(len(group.nodes), per_machine * len(eligible))
        if cap is not None:
            count = max(count, math.ceil(len(group.nodes) / cap))
        used = dict.fromkeys(eligible, 0)
        queue = _split(group.nodes, count)
        while queue:
            chunk = queue.pop(0)
            need = _add(per_actor, _scaled(per_node, len(chunk)))
            room = [m for m in eligible if fits(need, free[m])]
            if not room:
                if len(chunk) == 1:
                    raise ConfigError(
                        f"not enough free resources for node {chunk[0].name!r}: its actor "
                        f"needs {_describe(need)} ({_machines(machines)})",
                        field=_where(group, chunk[0]),
                    )
                half = len(chunk) // 2
                queue[:0] = [chunk[:half], chunk[half:]]
                continue
            machine = min(room, key=lambda m: (used[m], order[m]))
            used[machine] += 1
            for key, value in need.items():
                free[machine][key] = free[machine].get(key, 0.0) - value
            plans.append((group.role, chunk, machine, need))
    return [
        ActorPlan(index, role, tuple(n.name for n in chunk), machine, need)
        for index, (role, chunk, machine, need) in enumerate(plans)
    ]


def _machines(machines: Sequence[Machine]) -> str:
    shown = ", ".join(
        f"{m.address} {_describe({k: v for k, v in m.resources.items() if _visible(k)})}"
        for m in machines[:4]
    )
    more = f" and {len(machines) - 4} more" if len(machines) > 4 else ""
    return f"machines: {shown}{more}"


def _visible(resource: str) -> bool:
    # Ray's bookkeeping resources (node:<ip>, memory in bytes...) only clutter an error line.
    return not resource.startswith("node:") and resource not in (
        "memory",
        "object_store_memory",
    )


def machines_for(
    plans: Iterable[ActorPlan], model_of: Mapping[str, str], models: Iterable[str]
) -> dict[str, list[str]]:
    """For each of ``models``, the machines whose actors host a node using it (plan order)."""
    wanted = set(models)
    where: dict[str, list[str]] = {model: [] for model in wanted}
    for plan in plans:
        for node in plan.nodes:
            model = model_of[node]
            if model in wanted and plan.machine not in where[model]:
                where[model].append(plan.machine)
    return {model: machines for model, machines in where.items() if machines}
