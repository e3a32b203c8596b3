"""Choosing one replica of a role: load-balancing policies as small, pure state machines.

Several nodes serving one role form a replica group. A :class:`Replica` holds what the router
has observed of one node (requests outstanding, completed, busy time); a :class:`Policy` picks
one of the candidate replicas for the next request. The caller records the start and the end
of each request, passing ``now``; policies never read a clock, and randomness comes from a
seeded :class:`random.Random`.

Policies:
    round_robin          each replica in turn, whatever its load or speed
    least_outstanding    fewest requests in flight per slot (ties: the faster)
    power_of_two         two replicas at random, the less loaded of them
    weighted_throughput  in proportion to observed throughput (smooth weighted round-robin)
    cheapest             the cheapest replica that is not busy; spills over to the next when busy
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from lmteams.routing.settings import BalancePolicy, RoleConfig

Outcome = Literal["ok", "failed", "cancelled"]

#: A replica whose observed throughput is tiny still gets this share of the best one's weight,
#: so that it is probed now and then and can recover after a bad spell.
MIN_WEIGHT_FRACTION = 0.01


@dataclass(slots=True)
class Replica:
    """The router's view of one node: static facts plus counters it updates itself."""

    name: str
    capacity: int = 1  # requests the node serves at once (its max_concurrent)
    price: float = 0.0  # per million tokens, input and output added
    index: int = 0  # position in the team, for stable tie-breaking
    outstanding: int = 0
    dispatched: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    latency_sum_s: float = 0.0
    busy_s: float = 0.0
    busy_since: float | None = None

    def start(self, now: float) -> None:
        """A request was sent to this replica at ``now``."""
        if self.outstanding == 0:
            self.busy_since = now
        self.outstanding += 1
        self.dispatched += 1

    def finish(self, now: float, outcome: Outcome, latency_s: float = 0.0) -> None:
        """A request sent to this replica ended at ``now``."""
        if self.outstanding <= 0:
            raise ValueError(f"replica {self.name!r} has no outstanding request to finish")
        self.outstanding -= 1
        if outcome == "ok":
            self.completed += 1
            self.latency_sum_s += latency_s
        elif outcome == "failed":
            self.failed += 1
        else:
            self.cancelled += 1
        if self.outstanding == 0 and self.busy_since is not None:
            self.busy_s += max(0.0, now - self.busy_since)
            self.busy_since = None

    @property
    def load(self) -> float:
        """Outstanding requests per slot: 1.0 means every slot is taken."""
        return self.outstanding / self.capacity

    @property
    def queued(self) -> int:
        """Requests waiting for a free slot of this replica."""
        return max(0, self.outstanding - self.capacity)

    @property
    def mean_latency_s(self) -> float | None:
        return self.latency_sum_s / self.completed if self.completed else None

    def busy_time(self, now: float) -> float:
        """Seconds during which at least one request was outstanding."""
        running = now - self.busy_since if self.busy_since is not None else 0.0
        return self.busy_s + max(0.0, running)

    def throughput(self, now: float) -> float | None:
        """Completed requests per busy second; None until a request has completed or failed."""
        busy = self.busy_time(now)
        if not (self.completed or self.failed) or busy <= 0:
            return None
        return self.completed / busy


@dataclass(frozen=True, slots=True)
class GroupLoad:
    """Load of a replica group at one instant."""

    replicas: int
    outstanding: int
    capacity: int
    queue_depth: int  # requests waiting for a slot, summed over the replicas
    utilization: float  # taken slots / all slots, in [0, 1]


def group_load(replicas: Sequence[Replica]) -> GroupLoad:
    capacity = sum(r.capacity for r in replicas)
    in_service = sum(min(r.outstanding, r.capacity) for r in replicas)
    return GroupLoad(
        replicas=len(replicas),
        outstanding=sum(r.outstanding for r in replicas),
        capacity=capacity,
        queue_depth=sum(r.queued for r in replicas),
        utilization=in_service / capacity if capacity else 0.0,
    )


class Policy(ABC):
    """Picks one replica among candidates (non-empty, in team order)."""

    name: ClassVar[BalancePolicy]

    @abstractmethod
    def choose(self, replicas: Sequence[Replica], now: float) -> Replica:
        """The replica for the next request. Records nothing on the replica itself."""


class RoundRobin(Policy):
    """Each replica in turn, in team order; a subset of candidates continues the rotation."""

    name = "round_robin"

    def __init__(self) -> None:
        self._last = -1

    def choose(self, replicas: Sequence[Replica], now: float) -> Replica:
        _require(replicas)
        after = [r for r in replicas if r.index > self._last]
        chosen = after[0] if after else replicas[0]
        self._last = chosen.index
        return chosen


class LeastOutstanding(Policy):
    """The replica with the fewest outstanding requests per slot.

    Ties go to the replica observed to answer fastest (one not yet measured counts as fastest,
    so each is tried), then to the one sent the fewest requests.
    """

    name = "least_outstanding"

    def choose(self, replicas: Sequence[Replica], now: float) -> Replica:
        _require(replicas)
        return min(replicas, key=lambda r: (r.load, r.mean_latency_s or 0.0, r.dispatched, r.index))


class PowerOfTwo(Policy):
    """Two distinct replicas drawn at random; the one with fewer outstanding per slot wins.

    Nearly as good as least-outstanding with a fraction of the information (it needs the load
    of two replicas, not all), which matters when load reports are remote or stale.
    """

    name = "power_of_two"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def choose(self, replicas: Sequence[Replica], now: float) -> Replica:
        _require(replicas)
        if len(replicas) == 1:
            return replicas[0]
        first, second = self._rng.sample(range(len(replicas)), 2)
        a, b = replicas[first], replicas[second]
        return b if b.load < a.load else a


class WeightedThroughput(Policy):
    """Requests in proportion to each replica's observed throughput (smooth weighted RR).

    A replica not yet measured gets the mean weight of the measured ones (1.0 when none is),
    so new replicas are tried; no weight falls below :data:`MIN_WEIGHT_FRACTION` of the best.
    """

    name = "weighted_throughput"

    def __init__(self) -> None:
        self._current: dict[str, float] = {}

    def weights(self, replicas: Sequence[Replica], now: float) -> list[float]:
        measured = [r.throughput(now) for r in replicas]
        known = [w for w in measured if w is not None]
        fill = sum(known) / len(known) if known else 1.0
        weights = [fill if w is None else w for w in measured]
        floor = max(weights) * MIN_WEIGHT_FRACTION
        return [max(w, floor) for w in weights]

    def choose(self, replicas: Sequence[Replica], now: float) -> Replica:
        _require(replicas)
        weights = self.weights(replicas, now)
        current = self._current
        best: Replica | None = None
        best_value = 0.0
        for replica, weight in zip(replicas, weights, strict=True):
            value = current.get(replica.name, 0.0) + weight
            current[replica.name] = value
            if best is None or value > best_value:
                best, best_value = replica, value
        assert best is not None
        current[best.name] -= sum(weights)
        return best


class CheapestFirst(Policy):
    """The cheapest replica with room; when every one is busy, the least loaded (then cheapest).

    A replica counts as busy at ``spill_at`` outstanding requests (default: its capacity), so
    work fills the cheapest replica's slots first and spills over to dearer ones only under load.
    """

    name = "cheapest"

    def __init__(self, spill_at: int | None = None) -> None:
        if spill_at is not None and spill_at < 1:
            raise ValueError("spill_at must be at least 1")
        self.spill_at = spill_at

    def limit(self, replica: Replica) -> int:
        return self.spill_at or replica.capacity

    def choose(self, replicas: Sequence[Replica], now: float) -> Replica:
        _require(replicas)
        by_price = sorted(replicas, key=lambda r: (r.price, r.index))
        for replica in by_price:
            if replica.outstanding < self.limit(replica):
                return replica
        return min(by_price, key=lambda r: (r.outstanding / self.limit(r), r.price, r.index))


def make_policy(config: RoleConfig, rng: random.Random | None = None) -> Policy:
    """A fresh policy for a role's settings; ``rng`` defaults to one seeded with ``config.seed``."""
    match config.policy:
        case "round_robin":
            return RoundRobin()
        case "least_outstanding":
            return LeastOutstanding()
        case "power_of_two":
            return PowerOfTwo(rng or random.Random(config.seed))
        case "weighted_throughput":
            return WeightedThroughput()
        case "cheapest":
            return CheapestFirst(config.spill_at)
    raise ValueError(f"unknown balancing policy {config.policy!r}")  # pragma: no cover


def _require(replicas: Sequence[Replica]) -> None:
    if not replicas:
        raise ValueError("no replica to choose from")
