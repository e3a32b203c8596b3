"""A team's replica groups and their books: who may serve a call, and which replica does.

One :class:`Balancer` per open team (:attr:`lmteams.team.Team.balancer`) holds a
:class:`~lmteams.routing.balance.Replica` per node and a policy per role. Two kinds of call are
balanced:

* work sent to a role as a whole (:func:`lmteams.routing.dispatch.call_role`): any node with
  the role and the skills may serve it, picked by the role's policy (least_outstanding unless
  the team file names another);
* a call addressed to one node of a **replica group**, a role whose ``roles.<role>.balance`` is
  set: any node of the role with the addressed node's skills may serve it, picked by that
  policy. Nodes of other roles serve their own calls.

Pure: the caller passes ``now`` and records each request's start and end on the chosen replica.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from lmteams.routing.balance import Policy, Replica, group_load, make_policy
from lmteams.routing.roles import Requirement, eligible, role_config

if TYPE_CHECKING:
    from lmteams.config import TeamSpec

ANY_ROLE = "*"


def replica_groups(spec: TeamSpec) -> dict[str, str]:
    """Node -> its role, for every node of a replica group (a role with ``balance`` set and
    more than one node): the calls addressed to these nodes are balanced."""
    members: dict[str, list[str]] = {}
    for node in spec.nodes:
        config = spec.roles.get(node.role)
        if config is not None and config.balance is not None:
            members.setdefault(node.role, []).append(node.name)
    return {name: role for role, names in members.items() if len(names) > 1 for name in names}


class ReplicaStats(BaseModel):
    """One node as the balancer sees it (part of :class:`RoleStats`)."""

    model_config = ConfigDict(frozen=True)

    node: str
    outstanding: int
    capacity: int
    dispatched: int
    completed: int
    failed: int
    mean_latency_s: float | None
    throughput_per_s: float | None


class RoleStats(BaseModel):
    """Live load of one role's replica group: for live views and ``--json``."""

    model_config = ConfigDict(frozen=True)

    role: str
    policy: str
    replicas: list[ReplicaStats]
    outstanding: int
    capacity: int
    queue_depth: int
    utilization: float
    completed: int
    failed: int
    mean_latency_s: float | None


class Balancer:
    """The replicas of a team and one policy per role (``seed``: reseed every policy)."""

    def __init__(self, spec: TeamSpec, *, seed: int | None = None) -> None:
        self.spec = spec
        self.replicas: dict[str, Replica] = {}
        self.roles: dict[str, list[Replica]] = {}
        for index, node in enumerate(spec.nodes):
            prices = spec.models[spec.model_of(node)].prices
            replica = Replica(
                node.name,
                capacity=spec.max_concurrent(node),
                price=prices.input_per_mtok + prices.output_per_mtok,
                index=index,
            )
            self.replicas[node.name] = replica
            self.roles.setdefault(node.role, []).append(replica)
        self.grouped = replica_groups(spec)
        self._seed = seed
        self._policies: dict[str, Policy] = {}
        self._candidates: dict[tuple[str | None, tuple[str, ...]], list[Replica]] = {}

    def policy(self, role: str | None) -> Policy:
        """The role's policy (created on first use, from the team file's ``roles:``)."""
        key = ANY_ROLE if role is None else role
        policy = self._policies.get(key)
        if policy is None:
            config = role_config(self.spec, key)
            rng = None if self._seed is None else random.Random(f"{self._seed}:{key}")
            policy = self._policies[key] = make_policy(config, rng)
        return policy

    def candidates(
        self, role: str | None, skills: Sequence[str] = (), *, task: str | None = None
    ) -> list[Replica]:
        """The replicas that serve ``role`` with ``skills``; raises
        :class:`~lmteams.routing.roles.UnroutableTask` when there are none."""
        key = (role, tuple(skills))
        found = self._candidates.get(key)
        if found is None:
            need = Requirement(task or role or "request", role, key[1])
            names = eligible([need], self.spec.nodes)[need.task]
            found = self._candidates[key] = [self.replicas[name] for name in names]
        return found

    def group_of(self, node: str) -> list[Replica] | None:
        """The replicas that may serve a call addressed to ``node``: its replica group's nodes
        with all of its skills (itself included); None when ``node`` is in no group."""
        role = self.grouped.get(node)
        if role is None:
            return None
        return self.candidates(role, self.spec.node(node).skills, task=node)

    def choose(self, role: str | None, candidates: Sequence[Replica], now: float) -> Replica:
        """The replica for the next request (records nothing)."""
        return self.policy(role).choose(candidates, now)

    def route_data(
        self,
        replica: Replica,
        role: str | None,
        skills: Sequence[str],
        *,
        task: str | None = None,
        key: str | None = None,
        addressed: str | None = None,
    ) -> dict[str, Any]:
        """The ``route`` event of a request placed on ``replica`` (after its start)."""
        group = self.roles[self.spec.node(replica.name).role]
        load = group_load(group)
        data: dict[str, Any] = {
            "role": role,
            "policy": self.policy(role).name,
            "queue_depth": load.queue_depth,
            "utilization": round(load.utilization, 4),
            "outstanding": {r.name: r.outstanding for r in group},
        }
        if skills:
            data["skills"] = list(skills)
        if task is not None:
            data["task"] = task
        if key is not None:
            data["key"] = key
        if addressed is not None:
            data["addressed"] = addressed
        return data

    def statistics(self, now: float) -> dict[str, RoleStats]:
        """Per role: queue depth, utilization and per-replica counters, as of ``now``."""
        stats: dict[str, RoleStats] = {}
        for role, group in self.roles.items():
            load = group_load(group)
            completed = sum(r.completed for r in group)
            latency = sum(r.latency_sum_s for r in group)
            stats[role] = RoleStats(
                role=role,
                policy=role_config(self.spec, role).policy,
                replicas=[
                    ReplicaStats(
                        node=r.name,
                        outstanding=r.outstanding,
                        capacity=r.capacity,
                        dispatched=r.dispatched,
                        completed=r.completed,
                        failed=r.failed,
                        mean_latency_s=r.mean_latency_s,
                        throughput_per_s=r.throughput(now),
                    )
                    for r in group
                ],
                outstanding=load.outstanding,
                capacity=load.capacity,
                queue_depth=load.queue_depth,
                utilization=load.utilization,
                completed=completed,
                failed=sum(r.failed for r in group),
                mean_latency_s=latency / completed if completed else None,
            )
        return stats
