"""Sending work to a role: pick a replica with the role's policy, call it, keep the books.

The imperative shell around :mod:`lmteams.routing.balance`: a :class:`Router` holds one
:class:`~lmteams.routing.balance.Replica` per node and one policy per role, logs a ``route``
event (with the role's queue depth and utilization) for every request it places, then calls the
chosen node through :meth:`Team.call`, so routed calls are logged like any other.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.errors import ModelError
from lmteams.models.base import ChatMessage
from lmteams.routing.balance import Outcome, Policy, Replica, group_load, make_policy
from lmteams.routing.roles import Requirement, check_routable, nodes_for, role_config
from lmteams.runtime.clock import now_s
from lmteams.state.events import Routed
from lmteams.team import Reply, Team

ANY_ROLE = "*"


class ReplicaStats(BaseModel):
    """One node as the router sees it (part of :class:`RoleStats`)."""

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


class Router:
    """Routes requests of an open :class:`Team` to its nodes by role, skills and policy."""

    def __init__(self, team: Team, *, seed: int | None = None) -> None:
        self.team = team
        spec = team.spec
        self._replicas: dict[str, Replica] = {}
        self._roles: dict[str, list[Replica]] = {}
        for index, node in enumerate(spec.nodes):
            prices = spec.models[spec.model_of(node)].prices
            replica = Replica(
                node.name,
                capacity=spec.max_concurrent(node),
                price=prices.input_per_mtok + prices.output_per_mtok,
                index=index,
            )
            self._replicas[node.name] = replica
            self._roles.setdefault(node.role, []).append(replica)
        self._seed = seed
        self._policies: dict[str, Policy] = {}
        self._candidates: dict[tuple[str | None, tuple[str, ...]], list[Replica]] = {}
        self._resumed: dict[str, str] | None = None

    # -- decisions ---------------------------------------------------------------------------

    def policy(self, role: str | None) -> Policy:
        """The role's policy (created on first use, from the team file's ``roles:``)."""
        key = ANY_ROLE if role is None else role
        policy = self._policies.get(key)
        if policy is None:
            config = role_config(self.team.spec, key)
            rng = None if self._seed is None else random.Random(f"{self._seed}:{key}")
            policy = self._policies[key] = make_policy(config, rng)
        return policy

    def candidates(
        self, role: str | None, skills: Sequence[str] = (), *, task: str | None = None
    ) -> list[Replica]:
        """The replicas that can serve ``role`` with ``skills``; raises if there are none."""
        key = (role, tuple(skills))
        found = self._candidates.get(key)
        if found is None:
            check_routable([Requirement(task or role or "request", role, key[1])], self.team.spec)
            names = [node.name for node in nodes_for(role, key[1], self.team.spec)]
            found = self._candidates[key] = [self._replicas[name] for name in names]
        return found

    def choose(
        self, role: str | None, skills: Sequence[str] = (), *, task: str | None = None
    ) -> str:
        """The node the next request for ``role`` would go to (records nothing)."""
        return self.policy(role).choose(self.candidates(role, skills, task=task), now_s()).name

    # -- the call ----------------------------------------------------------------------------

    async def call(
        self,
        role: str | None,
        messages: Sequence[ChatMessage | dict[str, str]] | str,
        *,
        skills: Sequence[str] = (),
        task: str | None = None,
        key: str | None = None,
        sampling: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        parent_id: str | None = None,
        durable: bool = True,
        **options: Any,
    ) -> Reply:
        """Send one request to a node of ``role`` (and ``skills``) picked by the role's policy.

        Everything but ``role``, ``skills`` and ``task`` is passed on to :meth:`Team.call`
        (``options`` too: whatever else that method accepts).

        Raises :class:`~lmteams.routing.roles.UnroutableTask` before sending anything when no
        node serves the role, and :class:`~lmteams.errors.ModelError` when the chosen node
        fails (the failure counts against that replica). A keyed call (see :meth:`Team.call`)
        in a resumed run goes to the node it went to before, so its committed result replays.
        Cancellation cancels the node call; the caller's ``asyncio.timeout`` applies.
        """
        candidates = self.candidates(role, skills, task=task)
        replica = self._previous_choice(key, candidates)
        policy = self.policy(role)
        started = now_s()
        if replica is None:
            replica = policy.choose(candidates, started)
        replica.start(started)
        outcome: Outcome = "cancelled"
        try:
            self._log_route(replica, role, skills, task, key, policy)
            reply = await self.team.call(
                replica.name,
                messages,
                sampling=sampling,
                meta=meta,
                parent_id=parent_id,
                durable=durable,
                key=key,
                **options,
            )
            outcome = "ok"
        except ModelError:
            outcome = "failed"
            raise
        finally:
            finished = now_s()
            replica.finish(finished, outcome, finished - started)
        return reply

    def _previous_choice(self, key: str | None, candidates: list[Replica]) -> Replica | None:
        if key is None or not self.team.resume:
            return None
        if self._resumed is None:
            self._resumed = {}
            for event in self.team.store.events(self.team.run_id, types=["route"]):
                if event.data.get("key") and event.node:
                    self._resumed[str(event.data["key"])] = event.node
        name = self._resumed.get(key)
        return next((r for r in candidates if r.name == name), None)

    def _log_route(
        self,
        replica: Replica,
        role: str | None,
        skills: Sequence[str],
        task: str | None,
        key: str | None,
        policy: Policy,
    ) -> None:
        group = self._roles[self.team.spec.node(replica.name).role]
        load = group_load(group)
        data: dict[str, Any] = {
            "role": role,
            "policy": policy.name,
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
        self.team.event(Routed(**data), node=replica.name)

    # -- live view ---------------------------------------------------------------------------

    def statistics(self) -> dict[str, RoleStats]:
        """Per role: queue depth, utilization and per-replica counters, as of now."""
        now = now_s()
        stats: dict[str, RoleStats] = {}
        for role, group in self._roles.items():
            load = group_load(group)
            completed = sum(r.completed for r in group)
            latency = sum(r.latency_sum_s for r in group)
            stats[role] = RoleStats(
                role=role,
                policy=role_config(self.team.spec, role).policy,
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


_routers: weakref.WeakKeyDictionary[Team, Router] = weakref.WeakKeyDictionary()


def router_for(team: Team) -> Router:
    """The team's router, created on first use (one per open team, so load is shared)."""
    router = _routers.get(team)
    if router is None:
        router = _routers[team] = Router(team)
    return router


async def call_role(
    team: Team,
    role: str | None,
    prompt: Sequence[ChatMessage | dict[str, str]] | str,
    *,
    skills: Sequence[str] = (),
    task: str | None = None,
    key: str | None = None,
    sampling: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    parent_id: str | None = None,
    durable: bool = True,
    **options: Any,
) -> Reply:
    """Send ``prompt`` to one node of ``role`` chosen by the role's balancing policy.

    The shortcut for :meth:`Router.call` on the team's shared :func:`router_for`.
    """
    return await router_for(team).call(
        role,
        prompt,
        skills=skills,
        task=task,
        key=key,
        sampling=sampling,
        meta=meta,
        parent_id=parent_id,
        durable=durable,
        **options,
    )
