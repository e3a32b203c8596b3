"""Admission of one attempt: may it be sent now, and what does it reserve?

An attempt passes, in order, the node's health (a dead node is refused), its endpoint's breaker
(open: refused; half-open: this attempt may be the probe), the run's budget (the attempt's
estimated tokens and cost are reserved) and, for an optional attempt (a hedge copy), the
endpoint's rate limit. A required attempt that is refused raises the refusal; an optional one
is skipped (None). A :class:`Ticket` records what was reserved, so that every way out of the
attempt gives it back (:meth:`Admission.release`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from lmteams.errors import ModelUnavailable
from lmteams.faults.board import EPSILON_S, FaultBoard, NodeInfo, max_tokens, prompt_tokens
from lmteams.faults.breaker import BreakerState, CircuitBreaker
from lmteams.faults.budget import BudgetStop, Spend
from lmteams.faults.ratelimit import EndpointLimiter
from lmteams.messages import Envelope
from lmteams.state.events import BudgetSpent, RateLimitWait


class CircuitOpen(ModelUnavailable):
    """Refused without calling: the endpoint's circuit breaker is open."""

    def __init__(self, message: str, *, retry_after_s: float, **where: str | None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **where)


class NodeDown(ModelUnavailable):
    """Refused without calling: the node is dead and no other node can take the call."""

    def __init__(self, message: str, *, retry_after_s: float, **where: str | None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **where)


@dataclass(slots=True)
class Ticket:
    """An admitted attempt: what it reserved, so that every way out releases it."""

    target: str
    info: NodeInfo
    estimate: Spend
    tokens: int
    probe: bool
    breaker: CircuitBreaker | None


class Admission:
    """Admits attempts against the board's health, breakers, budget and rate limits."""

    def __init__(self, board: FaultBoard) -> None:
        self.board = board

    async def wait_rate(self, request: Envelope, target: str) -> None:
        """Wait until the endpoint's rate limit lets ``request`` through (no limit: at once)."""
        board = self.board
        info = board.nodes[target]
        limiter = board.limiters.get(info.endpoint)
        if limiter is None:
            return
        tokens = prompt_tokens(request, info) + max_tokens(request, info)
        while True:
            wait, which = limiter.acquire(tokens, board.clock())
            if wait <= 0:
                return
            board.counters.rate_limit_waits += 1
            board.counters.rate_limit_wait_s += wait
            board.emit(
                RateLimitWait(endpoint=limiter.endpoint, limit=which, wait_s=round(wait, 6)),
                target,
            )
            await asyncio.sleep(max(wait, EPSILON_S))

    def admit(self, request: Envelope, target: str, *, optional: bool) -> Ticket | None:
        """Health, breaker and budget admission (see the module docstring). Optional attempts
        (hedges) that do not fit get None; required ones raise the refusal."""
        board = self.board
        info = board.nodes[target]
        now = board.clock()
        prompt = prompt_tokens(request, info)
        most = max_tokens(request, info)
        estimate = Spend(prompt + most, info.prices.cost(prompt, most))
        if not self._alive(target, now, optional=optional):
            return None
        breaker = board.breakers.get(info.endpoint)
        if breaker is not None and not self._breaker_allows(breaker, target, now, optional):
            return None
        if not self._budget_allows(estimate, breaker, target, optional=optional):
            return None
        limiter = board.limiters.get(info.endpoint)
        if optional and limiter is not None and not self._rate_allows(limiter, estimate, now):
            self.release(Ticket(target, info, estimate, estimate.tokens, False, breaker))
            return None
        probe = board.health.begin(target, now)
        return Ticket(target, info, estimate, estimate.tokens, probe, breaker)

    def release(self, ticket: Ticket) -> None:
        """Give back what an attempt reserved whose outcome will never be known."""
        if ticket.breaker is not None:
            ticket.breaker.on_abandoned()
        if ticket.probe:
            self.board.health.probe_abandoned(ticket.target)
        if self.board.budget is not None:
            self.board.budget.settle(ticket.estimate, Spend())

    def _alive(self, target: str, now: float, *, optional: bool) -> bool:
        health = self.board.health
        if health.available(target, now):
            return True
        if optional:
            return False
        retry_in = max(0.0, health[target].probe_at - now)
        raise NodeDown(
            f"node {target} is dead; next probe in {retry_in:.3g}s",
            retry_after_s=retry_in,
            node=target,
        )

    def _breaker_allows(
        self, breaker: CircuitBreaker, target: str, now: float, optional: bool
    ) -> bool:
        self.board.log(breaker.tick(now))
        if optional and breaker.state is not BreakerState.CLOSED:
            return False  # an optional attempt is never a half-open breaker's probe
        if breaker.allow(now):
            return True
        self.board.counters.breaker_refusals += 1
        wait = breaker.wait_s(now)
        raise CircuitOpen(
            f"circuit open for model {breaker.endpoint}; next probe in {wait:.3g}s",
            retry_after_s=wait,
            node=target,
            model=breaker.endpoint,
        )

    def _budget_allows(
        self, estimate: Spend, breaker: CircuitBreaker | None, target: str, *, optional: bool
    ) -> bool:
        budget = self.board.budget
        if budget is None:
            return True
        admitted, reason = budget.admit(estimate, optional=optional)
        if reason is not None:
            self.board.emit(BudgetSpent(reason=reason, **budget.statistics()), None)
        if admitted:
            return True
        if breaker is not None:
            breaker.on_abandoned()
        if optional:
            return False
        self.board.counters.budget_refusals += 1
        raise BudgetStop(budget.exhausted or "the run's budget is spent", node=target)

    @staticmethod
    def _rate_allows(limiter: EndpointLimiter, estimate: Spend, now: float) -> bool:
        wait, _ = limiter.acquire(estimate.tokens, now)
        return wait <= 0
