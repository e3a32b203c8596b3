"""Carrying out the balancer's choices: pick a replica, log the ``route``, call it, keep the books.

The shell around :mod:`lmteams.routing.balancer`. :func:`routed_call` is the one way a balanced
call is made: :meth:`Team.call <lmteams.team.Team.call>` uses it for a call addressed to a node
of a replica group, and :func:`call_role` (or a :class:`Router`) for work sent to a role as a
whole. Each logs a ``route`` event (the chosen node, the policy, the role's queue depth and
utilization) before the request, then calls the chosen node through
:meth:`Team.call <lmteams.team.Team.call>` with ``balance=False``, so routed calls are
logged like any other. A resumed run sends each call it had routed to the node it went to before, so its
committed or logged reply replays.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lmteams.errors import ModelError
from lmteams.routing.balance import Outcome, Policy, Replica
from lmteams.routing.balancer import Balancer, ReplicaStats, RoleStats
from lmteams.runtime.clock import now_s
from lmteams.state.events import Routed

if TYPE_CHECKING:  # the team calls this module: no import back at run time
    from lmteams.models.base import ChatMessage
    from lmteams.team import Reply, Team

__all__ = ["ReplicaStats", "RoleStats", "Router", "call_role", "routed_call", "router_for"]


class _PastRoutes:
    """A resumed run's routing decisions: by call key, and per addressed node in order."""

    def __init__(self, team: Team) -> None:
        self.by_key: dict[str, str] = {}
        self.by_addressed: dict[str, deque[str]] = {}
        for row in team.store.events(team.run_id, types=["route"]):
            route = row.event
            if not row.node or not isinstance(route, Routed):
                continue
            if route.key:
                self.by_key[route.key] = row.node
            elif route.addressed:
                self.by_addressed.setdefault(route.addressed, deque()).append(row.node)

    def take(self, key: str | None, addressed: str | None) -> str | None:
        if key is not None:
            return self.by_key.get(key)
        if addressed is not None and (earlier := self.by_addressed.get(addressed)):
            return earlier.popleft()
        return None


_past: weakref.WeakKeyDictionary[Team, _PastRoutes] = weakref.WeakKeyDictionary()


def _previous_choice(
    team: Team, key: str | None, addressed: str | None, candidates: Sequence[Replica]
) -> Replica | None:
    if not team.resume or (key is None and addressed is None):
        return None
    past = _past.get(team)
    if past is None:
        past = _past[team] = _PastRoutes(team)
    name = past.take(key, addressed)
    return next((r for r in candidates if r.name == name), None)


async def routed_call(
    team: Team,
    balancer: Balancer,
    role: str | None,
    candidates: Sequence[Replica],
    messages: Sequence[ChatMessage | dict[str, str]] | str,
    *,
    skills: Sequence[str] = (),
    task: str | None = None,
    key: str | None = None,
    addressed: str | None = None,
    **options: Any,
) -> Reply:
    """Send one request to the replica ``balancer``'s policy for ``role`` picks among
    ``candidates``; ``options`` go to :meth:`Team.call`.

    ``addressed``: the node the caller asked for (a replica group's member); the reply then
    carries that node as ``node`` and the replica that answered as ``served_by``. Raises
    :class:`~lmteams.errors.ModelError` when the chosen node fails (the failure counts against
    that replica). Cancellation cancels the node call; the caller's ``asyncio.timeout`` applies.
    """
    started = now_s()
    replica = _previous_choice(team, key, addressed, candidates)
    if replica is None:
        replica = balancer.choose(role, candidates, started)
    replica.start(started)
    outcome: Outcome = "cancelled"
    try:
        data = balancer.route_data(replica, role, skills, task=task, key=key, addressed=addressed)
        team.event(Routed(**data), node=replica.name)
        reply = await team.call(replica.name, messages, key=key, balance=False, **options)
        outcome = "ok"
    except ModelError:
        outcome = "failed"
        raise
    finally:
        finished = now_s()
        replica.finish(finished, outcome, finished - started)
    if addressed is not None and addressed != replica.name:
        reply.node = addressed
        reply.served_by = reply.served_by or replica.name
    return reply


class Router:
    """Routes requests of an open :class:`Team` to its nodes by role, skills and policy.

    Shares the team's :attr:`~lmteams.team.Team.balancer` (so load is counted once), unless
    ``seed`` asks for a balancer of its own with every policy reseeded.
    """

    def __init__(self, team: Team, *, seed: int | None = None) -> None:
        self.team = team
        self.balancer = team.balancer if seed is None else Balancer(team.spec, seed=seed)

    def policy(self, role: str | None) -> Policy:
        """The role's policy (created on first use, from the team file's ``roles:``)."""
        return self.balancer.policy(role)

    def candidates(
        self, role: str | None, skills: Sequence[str] = (), *, task: str | None = None
    ) -> list[Replica]:
        """The replicas that can serve ``role`` with ``skills``; raises if there are none."""
        return self.balancer.candidates(role, skills, task=task)

    def choose(
        self, role: str | None, skills: Sequence[str] = (), *, task: str | None = None
    ) -> str:
        """The node the next request for ``role`` would go to (records nothing)."""
        candidates = self.candidates(role, skills, task=task)
        return self.balancer.choose(role, candidates, now_s()).name

    async def call(
        self,
        role: str | None,
        messages: Sequence[ChatMessage | dict[str, str]] | str,
        *,
        skills: Sequence[str] = (),
        task: str | None = None,
        **options: Any,
    ) -> Reply:
        """Send one request to a node of ``role`` (and ``skills``) picked by the role's policy.

        ``options`` are those of :meth:`Team.call` (``key``, ``sampling``, ``meta``,
        ``parent_id``, ``durable``...). Raises :class:`~lmteams.routing.roles.UnroutableTask`
        before sending anything when no node serves the role, and
        :class:`~lmteams.errors.ModelError` when the chosen node fails. A keyed call in a
        resumed run goes to the node it went to before, so its committed result replays.
        """
        candidates = self.candidates(role, skills, task=task)
        return await routed_call(
            self.team,
            self.balancer,
            role,
            candidates,
            messages,
            skills=skills,
            task=task,
            **options,
        )

    def statistics(self) -> dict[str, RoleStats]:
        """Per role: queue depth, utilization and per-replica counters, as of now."""
        return self.balancer.statistics(now_s())


def router_for(team: Team) -> Router:
    """The team's router (over the team's one balancer, so load is shared)."""
    return Router(team)


async def call_role(
    team: Team,
    role: str | None,
    prompt: Sequence[ChatMessage | dict[str, str]] | str,
    *,
    skills: Sequence[str] = (),
    task: str | None = None,
    **options: Any,
) -> Reply:
    """Send ``prompt`` to one node of ``role`` chosen by the role's balancing policy.

    The shortcut for :meth:`Router.call` on the team's :func:`router_for`.
    """
    return await router_for(team).call(role, prompt, skills=skills, task=task, **options)
