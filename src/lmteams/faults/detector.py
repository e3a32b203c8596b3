"""Failure detection: latency history, adaptive deadlines, phi-accrual heartbeats, node states.

Three signals, one state machine per node::

    healthy --failures >= suspect_after / silent heartbeat--> suspect
    suspect --failures >= dead_after / phi >= phi_dead------> dead
    suspect --a success, or a heartbeat after silence-------> healthy
    dead    --probe_after_s later, one probe call let through; success--> healthy
    dead    --probe fails: next probe after twice the delay (capped)

Successful calls feed each node's latency history, from which the adaptive deadline of its next
call is computed (``factor`` x a high percentile, never below ``min_s``, never above the fixed
deadline). Each timeout lengthens the node's next deadline by half, so a node that became
slower is given more time instead of being starved by ever-failing short deadlines.

Pure: every method takes ``now`` (seconds on the run's clock) and returns what changed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lmteams.faults.config import HealthConfig, TimeoutConfig

#: Each timeout of a node lengthens its next adaptive deadline by this factor (capped).
TIMEOUT_GROWTH = 1.5


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; ``values`` need not be sorted."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class LatencyHistory:
    """The last ``window`` latencies of one node (or one replica group)."""

    __slots__ = ("_cache", "_values")

    def __init__(self, window: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=window)
        # Percentiles are asked for on every call and change only when a latency is added.
        self._cache: dict[float, float] = {}

    def add(self, latency_s: float) -> None:
        self._values.append(max(0.0, latency_s))
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._values)

    def values(self) -> list[float]:
        return list(self._values)

    def percentile(self, q: float) -> float | None:
        if not self._values:
            return None
        cached = self._cache.get(q)
        if cached is None:
            cached = self._cache[q] = percentile(self._values, q)
        return cached

    def mean(self) -> float | None:
        return sum(self._values) / len(self._values) if self._values else None


def adaptive_timeout_s(history: LatencyHistory, config: TimeoutConfig, fixed_s: float) -> float:
    """The deadline of a node's next call: adaptive once it has enough history, else fixed."""
    if not config.adaptive or len(history) < config.min_samples:
        return fixed_s
    observed = history.percentile(config.percentile)
    assert observed is not None
    return min(fixed_s, max(config.min_s, config.factor * observed))


class PhiAccrual:
    """Phi-accrual failure detector (Hayashibara et al.) over heartbeat inter-arrival times.

    ``phi(now)`` is -log10 of the probability that a heartbeat arrives later than now, given
    the intervals seen so far (normal approximation): 1 means a 10% chance the node is merely
    late, 3 means 0.1%.
    """

    __slots__ = ("_intervals", "last", "min_std_s")

    def __init__(self, window: int = 100, min_std_s: float = 0.01) -> None:
        self._intervals: deque[float] = deque(maxlen=window)
        self.last: float | None = None
        self.min_std_s = min_std_s

    def heartbeat(self, now: float) -> None:
        if self.last is not None and now >= self.last:
            self._intervals.append(now - self.last)
        self.last = now

    @property
    def samples(self) -> int:
        return len(self._intervals)

    def phi(self, now: float) -> float:
        if self.last is None or not self._intervals:
            return 0.0
        n = len(self._intervals)
        mean = sum(self._intervals) / n
        variance = sum((x - mean) ** 2 for x in self._intervals) / n
        # A perfectly regular sender has zero variance; a floor keeps phi finite and sane.
        std = max(math.sqrt(variance), self.min_std_s, 0.1 * mean)
        elapsed = now - self.last
        p_later = 0.5 * math.erfc((elapsed - mean) / (std * math.sqrt(2.0)))
        return -math.log10(max(p_later, 1e-300))


class NodeState(StrEnum):
    HEALTHY = "healthy"
    SUSPECT = "suspect"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Transition:
    """A node changed state; the shell logs it as ``node_<new state>`` or ``node_recovered``."""

    node: str
    old: NodeState
    new: NodeState
    reason: str

    @property
    def event(self) -> str:
        return "node_recovered" if self.new is NodeState.HEALTHY else f"node_{self.new.value}"


class NodeHealth:
    """What the detector knows of one node."""

    __slots__ = (
        "failures",
        "heartbeats",
        "latency",
        "name",
        "probe_at",
        "probe_delay_s",
        "probing",
        "reason",
        "since",
        "state",
        "successes",
        "total_failures",
    )

    def __init__(self, name: str, config: HealthConfig, window: int) -> None:
        self.name = name
        self.state = NodeState.HEALTHY
        self.reason = ""
        self.since = 0.0
        self.failures = 0  # consecutive
        self.total_failures = 0
        self.successes = 0
        self.latency = LatencyHistory(window)
        self.heartbeats = PhiAccrual(config.heartbeat_window)
        self.probe_at = math.inf
        self.probe_delay_s = config.probe_after_s
        self.probing = False


class HealthBoard:
    """The healthy / suspect / dead state of every node of a team."""

    def __init__(
        self, nodes: Iterable[str], config: HealthConfig, timeouts: TimeoutConfig | None = None
    ) -> None:
        self.config = config
        self.timeouts = timeouts or TimeoutConfig()
        self.nodes = {name: NodeHealth(name, config, self.timeouts.window) for name in nodes}

    def __getitem__(self, name: str) -> NodeHealth:
        return self.nodes[name]

    def _move(self, node: NodeHealth, new: NodeState, reason: str, now: float) -> Transition:
        old = node.state
        node.state = new
        node.reason = reason
        node.since = now
        if new is NodeState.DEAD:
            node.probe_delay_s = self.config.probe_after_s
            node.probe_at = now + node.probe_delay_s
            node.probing = False
        elif new is NodeState.HEALTHY:
            node.probe_at = math.inf
            node.probing = False
        return Transition(node.name, old, new, reason)

    # -- routing questions ---------------------------------------------------------------

    def state(self, name: str) -> NodeState:
        return self.nodes[name].state

    def available(self, name: str, now: float) -> bool:
        """May a call be sent to ``name`` now? Dead nodes only when a probe is due."""
        node = self.nodes[name]
        if node.state is not NodeState.DEAD:
            return True
        return not node.probing and now >= node.probe_at

    def begin(self, name: str, now: float) -> bool:
        """A call to ``name`` starts; returns True when that call is a dead node's probe."""
        node = self.nodes[name]
        if node.state is NodeState.DEAD and not node.probing and now >= node.probe_at:
            node.probing = True
            return True
        return False

    def timeout_s(self, name: str, fixed_s: float) -> float:
        return adaptive_timeout_s(self.nodes[name].latency, self.timeouts, fixed_s)

    # -- observations ----------------------------------------------------------------------

    def on_success(self, name: str, latency_s: float, now: float) -> Transition | None:
        node = self.nodes[name]
        node.latency.add(latency_s)
        node.successes += 1
        node.failures = 0
        if node.state is NodeState.HEALTHY:
            return None
        return self._move(node, NodeState.HEALTHY, "call succeeded", now)

    def on_failure(
        self,
        name: str,
        now: float,
        *,
        reason: str,
        timeout_s: float | None = None,
        slower_than_s: float | None = None,
    ) -> Transition | None:
        """A call to ``name`` failed in a way that is the node's fault (not a permanent error
        of the request). ``timeout_s``: the call ran past this deadline; ``slower_than_s``: the
        call was abandoned after this long (overtaken by a hedge)."""
        node = self.nodes[name]
        node.failures += 1
        node.total_failures += 1
        if timeout_s is not None:
            # Recorded so that the next deadline is TIMEOUT_GROWTH times longer (while this
            # sample is the high percentile): a node that became slower is given more time,
            # step by step, instead of timing out forever or jumping to the fixed deadline.
            node.latency.add(timeout_s * TIMEOUT_GROWTH / self.timeouts.factor)
        if slower_than_s is not None:
            node.latency.add(slower_than_s)
        if node.state is NodeState.DEAD:
            if node.probing:
                node.probing = False
                node.probe_delay_s = min(node.probe_delay_s * 2, self.config.max_probe_after_s)
                node.probe_at = now + node.probe_delay_s
            return None
        if node.failures >= self.config.dead_after:
            return self._move(node, NodeState.DEAD, reason, now)
        if node.failures >= self.config.suspect_after and node.state is NodeState.HEALTHY:
            return self._move(node, NodeState.SUSPECT, reason, now)
        return None

    def probe_abandoned(self, name: str) -> None:
        """A probe call was cancelled before it told anything: let the next call probe."""
        self.nodes[name].probing = False

    def heartbeat(self, name: str, now: float) -> Transition | None:
        """A sign of life. Clears suspicion that silence caused; not suspicion from failures."""
        node = self.nodes[name]
        node.heartbeats.heartbeat(now)
        if node.state is not NodeState.HEALTHY and node.reason == "heartbeat silence":
            return self._move(node, NodeState.HEALTHY, "heartbeat", now)
        return None

    def observe(self, name: str, now: float) -> Transition | None:
        """Re-evaluate the heartbeat silence of one node (nodes without heartbeats: no-op)."""
        node = self.nodes[name]
        if node.heartbeats.samples < self.config.min_heartbeats - 1:
            return None
        phi = node.heartbeats.phi(now)
        if phi >= self.config.phi_dead and node.state is not NodeState.DEAD:
            return self._move(node, NodeState.DEAD, "heartbeat silence", now)
        if phi >= self.config.phi_suspect and node.state is NodeState.HEALTHY:
            return self._move(node, NodeState.SUSPECT, "heartbeat silence", now)
        return None

    def sweep(self, now: float) -> list[Transition]:
        """Re-evaluate the heartbeat silence of every node."""
        out = [self.observe(name, now) for name in self.nodes]
        return [t for t in out if t is not None]

    def statistics(self, now: float) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for name, node in self.nodes.items():
            out[name] = {
                "state": node.state.value,
                "reason": node.reason,
                "since": node.since,
                "consecutive_failures": node.failures,
                "failures": node.total_failures,
                "successes": node.successes,
                "latency_p50_s": node.latency.percentile(50),
                "latency_p95_s": node.latency.percentile(95),
                "phi": round(node.heartbeats.phi(now), 3) if node.heartbeats.samples else None,
            }
        return out
