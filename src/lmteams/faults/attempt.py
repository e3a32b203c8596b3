"""One attempt of a node call, and everything it teaches the fault policies.

:class:`AttemptLayer` holds the state of a team's resilience layer (node health, breakers,
rate limiters, the budget, counters) and makes single attempts: admission (budget, rate
limit, health, breaker), the call under its adaptive deadline, the output check, and the
accounting of the outcome. :class:`~lmteams.faults.resilient.Resilience` builds the logical
call (routing, retries, hedging) on top of it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lmteams.config import Prices, TeamSpec
from lmteams.errors import BadOutput, ModelError, ModelTimeout, ModelUnavailable, RateLimited
from lmteams.faults.breaker import BreakerState, BreakerTransition, CircuitBreaker
from lmteams.faults.budget import Budget, BudgetStop, Spend
from lmteams.faults.config import BudgetSpec, RateLimitConfig, ResilienceSpec
from lmteams.faults.detector import HealthBoard, LatencyHistory, Transition
from lmteams.faults.ratelimit import EndpointLimiter
from lmteams.faults.retry import ErrorClass, classify
from lmteams.faults.validation import OutputRules, problem
from lmteams.messages import Envelope, Usage

# Waits shorter than this are rounded up: at large clock values a tiny timeout would not move
# a (virtual) clock forward at all, and a loop waiting for it would never end.
EPSILON_S = 1e-6

#: Key in a request's ``meta`` describing a retry, reroute or hedge copy of a logical call.
DELIVERY = "delivery"

#: One attempt: log the request, deliver it under the deadline, log the reply (or failure).
Send = Callable[[Envelope, float | None], Awaitable[Envelope]]
#: Log a state change: (event type, data, node).
Emit = Callable[[str, dict[str, Any], str | None], None]
#: Add the (estimated) usage of a copy cancelled before its reply to the run's totals.
Charge = Callable[[Usage], None]


def _no_charge(usage: Usage) -> None:
    return None


class CircuitOpen(ModelUnavailable):
    """Refused without calling: the endpoint's circuit breaker is open."""

    def __init__(self, message: str, *, retry_after_s: float, **where: str | None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **where)


class RejectedOutput(BadOutput):
    """A reply that failed the output checks; it keeps the reply to feed the problem back."""

    def __init__(self, problem: str, *, text: str, **where: str | None) -> None:
        self.problem = problem
        self.text = text
        super().__init__(problem, **where)


class NodeDown(ModelUnavailable):
    """Refused without calling: the node is dead and no other node can take the call."""

    def __init__(self, message: str, *, retry_after_s: float, **where: str | None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **where)


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


@dataclass(slots=True)
class Ticket:
    """An admitted attempt: what it reserved, so that every way out releases it."""

    target: str
    info: NodeInfo
    estimate: Spend
    tokens: int
    probe: bool
    breaker: CircuitBreaker | None


def _tokens_of(text: str) -> int:
    return (len(text) + 3) // 4


class AttemptLayer:
    """State of a team's resilience layer, and single attempts under its policies."""

    def __init__(
        self,
        spec: TeamSpec,
        config: ResilienceSpec,
        budget: BudgetSpec | None,
        *,
        send: Send,
        emit: Emit,
        clock: Callable[[], float],
        charge: Charge = _no_charge,
    ) -> None:
        self.config = config
        self._send = send
        self._emit = emit
        self._charge = charge
        self.clock = clock
        self.rng = random.Random(config.seed)
        self.nodes: dict[str, NodeInfo] = {}
        for node in spec.nodes:
            sampling = spec.sampling(node)
            wire: dict[str, Any] = {
                "temperature": sampling.temperature,
                "max_tokens": sampling.max_tokens,
            }
            if sampling.seed is not None:
                wire["seed"] = sampling.seed
            model = spec.model_of(node)
            self.nodes[node.name] = NodeInfo(
                name=node.name,
                role=node.role,
                endpoint=model,
                prices=spec.models[model].prices,
                system_tokens=_tokens_of(spec.system_prompt(node)),
                max_tokens=sampling.max_tokens,
                sampling=wire,
            )
        self.health = HealthBoard(self.nodes, config.health, config.timeouts)
        self.fixed_timeout_s = config.timeouts.call_s or spec.defaults.timeout_s
        endpoints = {info.endpoint for info in self.nodes.values()}
        self.breakers = (
            {name: CircuitBreaker(name, config.breaker) for name in sorted(endpoints)}
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

    def _reject(self, reply: Envelope, request: Envelope, found: str) -> None:
        self.counters.outputs_rejected += 1
        delivery = (request.payload.get("meta") or {}).get(DELIVERY) or {}
        self._emit(
            "output_rejected",
            {
                "request_id": request.id,
                "reply_id": reply.id,
                "problem": found,
                "attempt": delivery.get("try", 1),
            },
            request.recipients[0],
        )
        self._log(self.health.on_failure(request.recipients[0], self.clock(), reason="bad output"))

    # -- one attempt -----------------------------------------------------------------------

    def _prompt_tokens(self, request: Envelope, info: NodeInfo) -> int:
        chars = sum(len(m.get("content", "")) for m in request.payload.get("messages", []))
        return info.system_tokens + (chars + 3) // 4

    def _max_tokens(self, request: Envelope, info: NodeInfo) -> int:
        sampling = request.payload.get("sampling") or {}
        return int(sampling.get("max_tokens") or info.max_tokens)

    async def _one(self, request: Envelope, target: str, rules: OutputRules) -> Envelope:
        info = self.nodes[target]
        limiter = self.limiters.get(info.endpoint)
        if limiter is not None:
            tokens = self._prompt_tokens(request, info) + self._max_tokens(request, info)
            await self._wait_rate(limiter, tokens, target)
        ticket = self._admit(request, target, optional=False)
        assert ticket is not None
        return await self._attempt(ticket, request, rules)

    async def _wait_rate(self, limiter: EndpointLimiter, tokens: int, node: str) -> None:
        while True:
            wait, which = limiter.acquire(tokens, self.clock())
            if wait <= 0:
                return
            self.counters.rate_limit_waits += 1
            self.counters.rate_limit_wait_s += wait
            self._emit(
                "rate_limit_wait",
                {"endpoint": limiter.endpoint, "limit": which, "wait_s": round(wait, 6)},
                node,
            )
            await asyncio.sleep(max(wait, EPSILON_S))

    def _admit(self, request: Envelope, target: str, *, optional: bool) -> Ticket | None:
        """Budget, health and breaker admission. Optional attempts (hedges) that do not fit get
        None; required ones raise the refusal."""
        info = self.nodes[target]
        now = self.clock()
        prompt = self._prompt_tokens(request, info)
        most = self._max_tokens(request, info)
        estimate = Spend(prompt + most, info.prices.cost(prompt, most))
        if not self.health.available(target, now):
            if optional:
                return None
            retry_in = max(0.0, self.health[target].probe_at - now)
            raise NodeDown(
                f"node {target} is dead; next probe in {retry_in:.3g}s",
                retry_after_s=retry_in,
                node=target,
            )
        breaker = self.breakers.get(info.endpoint)
        if breaker is not None:
            self._log(breaker.tick(now))
            if optional and breaker.state is not BreakerState.CLOSED:
                return None
            if not breaker.allow(now):
                self.counters.breaker_refusals += 1
                wait = breaker.wait_s(now)
                raise CircuitOpen(
                    f"circuit open for model {info.endpoint}; next probe in {wait:.3g}s",
                    retry_after_s=wait,
                    node=target,
                    model=info.endpoint,
                )
        budget = self.budget
        if budget is not None:
            admitted, reason = budget.admit(estimate, optional=optional)
            if reason is not None:
                self._emit("budget_exceeded", {"reason": reason, **budget.statistics()}, None)
            if not admitted:
                if breaker is not None:
                    breaker.on_abandoned()
                if optional:
                    return None
                self.counters.budget_refusals += 1
                raise BudgetStop(budget.exhausted or "the run's budget is spent", node=target)
        limiter = self.limiters.get(info.endpoint)
        if optional and limiter is not None:
            wait, _ = limiter.acquire(estimate.tokens, now)
            if wait > 0:
                self._release(Ticket(target, info, estimate, estimate.tokens, False, breaker))
                return None
        probe = self.health.begin(target, now)
        return Ticket(target, info, estimate, estimate.tokens, probe, breaker)

    def _release(self, ticket: Ticket) -> None:
        if ticket.breaker is not None:
            ticket.breaker.on_abandoned()
        if ticket.probe:
            self.health.probe_abandoned(ticket.target)
        if self.budget is not None:
            self.budget.settle(ticket.estimate, Spend())

    async def _attempt(self, ticket: Ticket, request: Envelope, rules: OutputRules) -> Envelope:
        """One request to one node, and what its outcome teaches: latency, health, breaker,
        budget and rate-limit accounting. A reply failing ``rules`` raises
        :class:`RejectedOutput` (its tokens were still spent)."""
        target = ticket.target
        timeout_s = self.health.timeout_s(target, self.fixed_timeout_s)
        started = self.clock()
        try:
            reply = await self._send(request, timeout_s)
        except ModelError as exc:
            self._on_error(ticket, exc, timeout_s)
            if self.budget is not None:
                self.budget.settle(ticket.estimate, Spend())
            raise
        except BaseException:
            self._release(ticket)  # cancelled: the outcome will never be known
            raise
        now = self.clock()
        info = ticket.info
        usage = reply.usage
        tokens = usage.total_tokens if usage else 0
        if self.budget is not None:
            cost = info.prices.cost(usage.prompt_tokens, usage.completion_tokens) if usage else 0.0
            self.budget.settle(ticket.estimate, Spend(tokens, cost))
        limiter = self.limiters.get(info.endpoint)
        if limiter is not None and ticket.tokens:
            limiter.settle(ticket.tokens, tokens, now)
        latency = now - started
        self.group_latency[info.role].add(latency)
        if ticket.breaker is not None:
            self._log(ticket.breaker.on_success(now))  # the endpoint answered, good or bad
        if rules.active:
            text = str(reply.payload.get("text", ""))
            found = problem(text, rules)
            if found is not None:
                self._reject(reply, request, found)
                raise RejectedOutput(found, text=text, node=target)
        self._log(self.health.on_success(target, latency, now))
        return reply

    def _on_error(self, ticket: Ticket, exc: ModelError, timeout_s: float) -> None:
        now = self.clock()
        target, info, breaker = ticket.target, ticket.info, ticket.breaker
        kind = classify(exc)
        if isinstance(exc, RateLimited):
            # The endpoint is fine, only busy: hold every node's calls to it, blame no one.
            if exc.retry_after_s:
                limiter = self.limiters.get(info.endpoint)
                if limiter is None:
                    limiter = EndpointLimiter(info.endpoint, RateLimitConfig(), now)
                    self.limiters[info.endpoint] = limiter
                limiter.pause(now + exc.retry_after_s)
                self._emit(
                    "rate_limited",
                    {"endpoint": info.endpoint, "retry_after_s": exc.retry_after_s},
                    target,
                )
            kind = ErrorClass.PERMANENT  # neutral for breaker and health below
        if kind is ErrorClass.TRANSIENT:
            if breaker is not None:
                self._log(breaker.on_failure(now))
            deadline = timeout_s if isinstance(exc, ModelTimeout) else None
            reason = type(exc).__name__
            self._log(self.health.on_failure(target, now, reason=reason, timeout_s=deadline))
            return
        if breaker is not None:
            breaker.on_abandoned()
        if kind is ErrorClass.BAD_OUTPUT:
            self._log(self.health.on_failure(target, now, reason="bad output"))
        elif ticket.probe:
            self.health.probe_abandoned(target)

    # -- state changes ---------------------------------------------------------------------

    async def _wait_change(self, timeout_s: float) -> None:
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

    def _log(self, change: Transition | BreakerTransition | None) -> None:
        if change is None:
            return
        waiters, self._change_waiters = self._change_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if isinstance(change, Transition):
            self._emit(
                change.event,
                {"from": change.old.value, "to": change.new.value, "reason": change.reason},
                change.node,
            )
        else:
            self._emit(
                change.event,
                {"endpoint": change.endpoint, "from": change.old.value, "reason": change.reason},
                None,
            )
