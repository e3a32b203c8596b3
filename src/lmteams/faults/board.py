"""What a team's resilience layer knows, and the one way its state changes are told.

:class:`FaultBoard` holds the state the fault policies decide from: each node's health (the
detector), the endpoints' breakers and rate limiters, the run's budget, the latencies of each
replica group, the calls in flight and the counters of the live view. :meth:`FaultBoard.log`
turns a detector's or breaker's transition into an event and wakes every call waiting for a
change (one refused by an open breaker or a dead node). The collaborators of
:class:`~lmteams.faults.resilient.Resilience` (admission, attempts, routing, hedging) share
one board.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmteams.config import Prices, TeamSpec
from lmteams.faults.breaker import BreakerTransition, CircuitBreaker
from lmteams.faults.budget import Budget
from lmteams.faults.config import BudgetSpec, ResilienceSpec
from lmteams.faults.detector import HealthBoard, LatencyHistory, Transition
from lmteams.faults.ratelimit import EndpointLimiter
from lmteams.faults.reroute import Candidate
from lmteams.faults.validation import OutputRules
from lmteams.messages import Envelope, Usage
from lmteams.state.events import BreakerChanged, Emit, NodeHealthChanged

# Waits shorter than this are rounded up: at large clock values a tiny timeout would not move
# a (virtual) clock forward at all, and a loop waiting for it would never end.
EPSILON_S = 1e-6

#: Key in a request's ``meta`` describing a retry, reroute or hedge copy of a logical call.
DELIVERY = "delivery"

#: Add the (estimated) usage of a copy cancelled before its reply to the run's totals.
Charge = Callable[[Usage], None]


def no_charge(usage: Usage) -> None:
    return None


@dataclass(slots=True)
class Counters:
    """What the layer did so far in this run (part of the live view)."""

    retries: int = 0
    reroutes: int = 0
    hedges_sent: int = 0
    hedges_won: int = 0  # the hedge copy answered first
    hedges_cancelled: int = 0
    hedge_extra_tokens: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_s: float = 0.0
    outputs_rejected: int = 0
    breaker_refusals: int = 0
    budget_refusals: int = 0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the layer needs to know of a node: its role, endpoint, prices and sampling."""

    name: str
    role: str
    endpoint: str
    prices: Prices
    system_tokens: int
    max_tokens: int
    sampling: dict[str, Any]


def _tokens_of(text: str) -> int:
    return (len(text) + 3) // 4


def node_infos(spec: TeamSpec) -> dict[str, NodeInfo]:
    """Each node of ``spec`` as the layer sees it (its sampling as sent on the wire)."""
    nodes: dict[str, NodeInfo] = {}
    for node in spec.nodes:
        sampling = spec.sampling(node)
        wire: dict[str, Any] = {
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            wire["seed"] = sampling.seed
        model = spec.model_of(node)
        nodes[node.name] = NodeInfo(
            name=node.name,
            role=node.role,
            endpoint=model,
            prices=spec.models[model].prices,
            system_tokens=_tokens_of(spec.system_prompt(node)),
            max_tokens=sampling.max_tokens,
            sampling=wire,
        )
    return nodes


def prompt_tokens(request: Envelope, info: NodeInfo) -> int:
    """Estimated prompt tokens of ``request`` to the node ``info`` (its system prompt included)."""
    chars = sum(len(m.get("content", "")) for m in request.payload.get("messages", []))
    return info.system_tokens + (chars + 3) // 4


def max_tokens(request: Envelope, info: NodeInfo) -> int:
    """The most completion tokens ``request`` may cost."""
    sampling = request.payload.get("sampling") or {}
    return int(sampling.get("max_tokens") or info.max_tokens)


class FaultBoard:
    """The shared state of one team's resilience layer (see the module docstring)."""

    def __init__(
        self,
        spec: TeamSpec,
        config: ResilienceSpec,
        budget: BudgetSpec | None,
        *,
        emit: Emit,
        clock: Callable[[], float],
        charge: Charge = no_charge,
    ) -> None:
        self.config = config
        self.emit = emit
        self.charge = charge
        self.clock = clock
        self.rng = random.Random(config.seed)
        self.nodes = node_infos(spec)
        self.health = HealthBoard(self.nodes, config.health, config.timeouts)
        self.fixed_timeout_s = config.timeouts.call_s or spec.defaults.timeout_s
        endpoints = sorted({info.endpoint for info in self.nodes.values()})
        self.breakers = (
            {name: CircuitBreaker(name, config.breaker) for name in endpoints}
            if config.breaker.enabled
            else {}
        )
        now = clock()
        self.limiters = {
            name: EndpointLimiter(name, limits, now) for name, limits in config.rate_limits.items()
        }
        self.budget = Budget(budget) if budget is not None else None
        self.rules = OutputRules.from_config(config.validation)
        self.group_latency = {
            info.role: LatencyHistory(config.timeouts.window) for info in self.nodes.values()
        }
        self.in_flight = dict.fromkeys(self.nodes, 0)
        self.counters = Counters()
        self._change_waiters: list[asyncio.Future[None]] = []

    def breaker_of(self, node: str) -> CircuitBreaker | None:
        return self.breakers.get(self.nodes[node].endpoint)

    def usable(self, name: str, now: float) -> bool:
        """The node may be sent a call now: alive, and its endpoint's breaker lets calls by."""
        if not self.health.available(name, now):
            return False
        breaker = self.breaker_of(name)
        return breaker is None or breaker.wait_s(now) == 0.0

    def candidates(self, now: float) -> list[Candidate]:
        """Every node as the rerouting policy ranks it."""
        out = []
        for name, info in self.nodes.items():
            breaker = self.breakers.get(info.endpoint)
            out.append(
                Candidate(
                    name=name,
                    role=info.role,
                    state=self.health.state(name),
                    in_flight=self.in_flight[name],
                    latency_s=self.health[name].latency.mean(),
                    open_endpoint=breaker is not None and breaker.wait_s(now) > 0,
                )
            )
        return out

    async def wait_change(self, timeout_s: float) -> None:
        """Wait until a node or breaker changes state, or ``timeout_s`` passes."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._change_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            pass
        finally:
            if waiter in self._change_waiters:
                self._change_waiters.remove(waiter)

    def log(self, change: Transition | BreakerTransition | None) -> None:
        """Log a transition as its event and wake the calls waiting for a change."""
        if change is None:
            return
        waiters, self._change_waiters = self._change_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if isinstance(change, Transition):
            health = {"from": change.old.value, "to": change.new.value, "reason": change.reason}
            self.emit(
                NodeHealthChanged.model_validate({"type": change.event, **health}), change.node
            )
        else:
            breaker = {
                "endpoint": change.endpoint,
                "from": change.old.value,
                "reason": change.reason,
            }
            self.emit(BreakerChanged.model_validate({"type": change.event, **breaker}), None)
