"""Replica groups in virtual time: which replica serves a call, and when it can start.

A run routes every call addressed to a member of a replica group (a role whose
``roles.<role>.balance`` is set) to the replica that the role's policy picks
(:mod:`lmteams.routing.balancer`); this module makes the same choice for the simulator, with the
same policies and books, at the simulated time. A replica serves at most ``max_concurrent`` calls
at once, as a node's semaphore lets it: a call placed on a full replica waits for the first of
its calls to end (first come, first served).

The simulator places a task's calls when the task starts, so its retries stay on the replica its
first call went to (a run routes each retry afresh); the difference only shows with retries.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from lmteams.routing.balancer import Balancer, replica_groups

if TYPE_CHECKING:
    from lmteams.config import TeamSpec
    from lmteams.routing.balance import Outcome


class SimRouter:
    """The replica groups of one simulated team (``seed``: the policies' seed)."""

    def __init__(self, spec: TeamSpec, seed: int) -> None:
        self.balancer = Balancer(spec, seed=seed)
        # replica -> end times of the calls it holds (a heap, at most its capacity long)
        self._slots: dict[str, list[float]] = {}
        # calls placed and not yet ended in the books: (end, order, replica, latency, outcome)
        self._ending: list[tuple[float, int, str, float, Outcome]] = []
        self._order = 0

    @classmethod
    def of(cls, spec: TeamSpec | None, seed: int) -> SimRouter | None:
        """A router for ``spec``'s replica groups; None when it has none (every node serves
        its own calls)."""
        if spec is None or not replica_groups(spec):
            return None
        return cls(spec, seed)

    def choose(self, node: str, now: float) -> str:
        """The node that serves a call addressed to ``node`` at ``now`` (``node`` itself
        outside replica groups)."""
        balancer = self.balancer
        group = balancer.group_of(node)
        if group is None:
            return node
        self._settle(now)
        return balancer.choose(balancer.grouped[node], group, now).name

    def place(self, served: str, at: float, seconds: float, outcome: Outcome) -> float:
        """Put a call of ``seconds`` sent at ``at`` on ``served``; returns when it starts
        (``at``, or later when every slot of the replica is taken)."""
        replica = self.balancer.replicas.get(served)
        if replica is None or served not in self.balancer.grouped:
            return at
        replica.start(at)
        slots = self._slots.setdefault(served, [])
        start = at
        if len(slots) >= replica.capacity:
            start = max(at, heapq.heappop(slots))
        end = start + seconds
        heapq.heappush(slots, end)
        self._order += 1
        heapq.heappush(self._ending, (end, self._order, served, end - at, outcome))
        return start

    def _settle(self, now: float) -> None:
        """Enter in the books every call that has ended by ``now``, in the order they ended."""
        ending, replicas = self._ending, self.balancer.replicas
        while ending and ending[0][0] <= now:
            end, _, name, latency, outcome = heapq.heappop(ending)
            replicas[name].finish(end, outcome, latency)
