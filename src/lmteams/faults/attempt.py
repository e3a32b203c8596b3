"""One attempt of a node call, and everything its outcome teaches the fault policies.

:class:`Attempts` sends one admitted request under the node's adaptive deadline, checks the
reply against the output rules, and accounts for the outcome on the
:class:`~lmteams.faults.board.FaultBoard`: latency (the node's and its replica group's),
health, the endpoint's breaker and rate limit, and the budget. A reply that fails the checks
raises :class:`RejectedOutput` (its tokens were still spent); a server's ``Retry-After``
pauses every node's calls to that endpoint and blames no one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lmteams.errors import BadOutput, ModelError, ModelTimeout, RateLimited
from lmteams.faults.admission import Admission, Ticket
from lmteams.faults.board import DELIVERY, FaultBoard
from lmteams.faults.budget import Spend
from lmteams.faults.config import RateLimitConfig
from lmteams.faults.ratelimit import EndpointLimiter
from lmteams.faults.retry import ErrorClass, classify
from lmteams.faults.validation import OutputRules, problem
from lmteams.messages import Envelope
from lmteams.state.events import OutputRejected, ServerRateLimited

#: One attempt: log the request, deliver it under the deadline, log the reply (or failure).
Send = Callable[[Envelope, float | None], Awaitable[Envelope]]


class RejectedOutput(BadOutput):
    """A reply that failed the output checks; it keeps the reply to feed the problem back."""

    def __init__(self, problem: str, *, text: str, **where: str | None) -> None:
        self.problem = problem
        self.text = text
        super().__init__(problem, **where)


class Attempts:
    """Single attempts under the board's policies (see the module docstring)."""

    def __init__(self, board: FaultBoard, admission: Admission, send: Send) -> None:
        self.board = board
        self.admission = admission
        self._send = send

    async def one(self, request: Envelope, target: str, rules: OutputRules) -> Envelope:
        """A required attempt: wait for the rate limit, be admitted (or refused), send."""
        await self.admission.wait_rate(request, target)
        ticket = self.admission.admit(request, target, optional=False)
        assert ticket is not None
        return await self.send(ticket, request, rules)

    async def send(self, ticket: Ticket, request: Envelope, rules: OutputRules) -> Envelope:
        """One request to one node, and what its outcome teaches: latency, health, breaker,
        budget and rate-limit accounting. A reply failing ``rules`` raises
        :class:`RejectedOutput` (its tokens were still spent)."""
        board = self.board
        target = ticket.target
        timeout_s = board.health.timeout_s(target, board.fixed_timeout_s)
        started = board.clock()
        try:
            reply = await self._send(request, timeout_s)
        except ModelError as exc:
            self._on_error(ticket, exc, timeout_s)
            if board.budget is not None:
                board.budget.settle(ticket.estimate, Spend())
            raise
        except BaseException:
            self.admission.release(ticket)  # cancelled: the outcome will never be known
            raise
        now = board.clock()
        latency = now - started
        self._settle(ticket, reply, latency, now)
        if rules.active:
            text = str(reply.payload.get("text", ""))
            found = problem(text, rules)
            if found is not None:
                self._reject(reply, request, found)
                raise RejectedOutput(found, text=text, node=target)
        board.log(board.health.on_success(target, latency, now))
        return reply

    def _settle(self, ticket: Ticket, reply: Envelope, latency: float, now: float) -> None:
        """What an answered attempt spent and took: budget, rate limit, latency, breaker."""
        board = self.board
        info = ticket.info
        usage = reply.usage
        tokens = usage.total_tokens if usage else 0
        if board.budget is not None:
            cost = info.prices.cost(usage.prompt_tokens, usage.completion_tokens) if usage else 0.0
            board.budget.settle(ticket.estimate, Spend(tokens, cost))
        limiter = board.limiters.get(info.endpoint)
        if limiter is not None and ticket.tokens:
            limiter.settle(ticket.tokens, tokens, now)
        board.group_latency[info.role].add(latency)
        if ticket.breaker is not None:
            board.log(ticket.breaker.on_success(now))  # the endpoint answered, good or bad

    def _reject(self, reply: Envelope, request: Envelope, found: str) -> None:
        board = self.board
        board.counters.outputs_rejected += 1
        delivery = (request.payload.get("meta") or {}).get(DELIVERY) or {}
        board.emit(
            OutputRejected(
                request_id=request.id,
                reply_id=reply.id,
                problem=found,
                attempt=delivery.get("try", 1),
            ),
            request.recipients[0],
        )
        board.log(
            board.health.on_failure(request.recipients[0], board.clock(), reason="bad output")
        )

    def _on_error(self, ticket: Ticket, exc: ModelError, timeout_s: float) -> None:
        board = self.board
        now = board.clock()
        target, breaker = ticket.target, ticket.breaker
        kind = classify(exc)
        if isinstance(exc, RateLimited):
            self._pause_endpoint(ticket, exc, now)
            kind = ErrorClass.PERMANENT  # neutral for breaker and health below
        if kind is ErrorClass.TRANSIENT:
            if breaker is not None:
                board.log(breaker.on_failure(now))
            deadline = timeout_s if isinstance(exc, ModelTimeout) else None
            reason = type(exc).__name__
            board.log(board.health.on_failure(target, now, reason=reason, timeout_s=deadline))
            return
        if breaker is not None:
            breaker.on_abandoned()
        if kind is ErrorClass.BAD_OUTPUT:
            board.log(board.health.on_failure(target, now, reason="bad output"))
        elif ticket.probe:
            board.health.probe_abandoned(target)

    def _pause_endpoint(self, ticket: Ticket, exc: RateLimited, now: float) -> None:
        """The endpoint is fine, only busy: hold every node's calls to it, blame no one."""
        if not exc.retry_after_s:
            return
        board = self.board
        endpoint = ticket.info.endpoint
        limiter = board.limiters.get(endpoint)
        if limiter is None:
            limiter = board.limiters[endpoint] = EndpointLimiter(endpoint, RateLimitConfig(), now)
        limiter.pause(now + exc.retry_after_s)
        board.emit(
            ServerRateLimited(endpoint=endpoint, retry_after_s=exc.retry_after_s), ticket.target
        )
