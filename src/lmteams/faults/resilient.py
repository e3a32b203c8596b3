"""The resilience layer: the shell that carries out the fault policies around every node call.

For one logical call (a request envelope addressed to node N), :meth:`Resilience.deliver`:

    route    N, or another node when N is dead, its endpoint's breaker is open, or N already
             failed this call (:class:`~lmteams.faults.router.Router`; the choice is
             :mod:`~lmteams.faults.reroute`'s: healthy, same role first)
    admit    the run's budget (refused: :class:`~lmteams.faults.budget.BudgetStop`), the
             endpoint's rate limit (waits), the node's health and its endpoint's breaker
             (:class:`~lmteams.faults.admission.Admission`)
    attempt  under a deadline from N's latency history (:class:`~lmteams.faults.attempt.Attempts`);
             past the hedge threshold the same request also goes to a replica, the first
             answer wins and the other copy is cancelled, its tokens counted as the hedge's
             extra cost (:class:`~lmteams.faults.hedging.Hedger`)
    check    output validation; a bad reply is retried with the problem fed back
    retry    transient errors after backoff with jitter (Retry-After honoured); never permanent

The collaborators share one :class:`~lmteams.faults.board.FaultBoard` (health, breakers,
limiters, budget, counters); this module holds the retry loop. Every state change is an event
of the run (``retry``, ``rerouted``, ``breaker_*``, ``node_*``, ``hedge_*``,
``rate_limit_wait``, ``rate_limited``, ``output_rejected``, ``budget_exceeded``). Cancelling the
caller cancels every attempt in flight, hedges included: nothing outlives the call, and
``CancelledError`` is never swallowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from lmteams.config import TeamSpec
from lmteams.errors import ModelError, ModelTimeout, ModelUnavailable
from lmteams.faults.admission import Admission, CircuitOpen, NodeDown
from lmteams.faults.attempt import Attempts, RejectedOutput, Send
from lmteams.faults.board import Charge, Counters, FaultBoard, no_charge
from lmteams.faults.breaker import BreakerStats
from lmteams.faults.config import BudgetSpec, ResilienceSpec
from lmteams.faults.detector import NodeState
from lmteams.faults.hedging import Hedger
from lmteams.faults.retry import RetryDecision, decide
from lmteams.faults.router import Router
from lmteams.faults.validation import OutputRules, feedback_message
from lmteams.messages import Envelope
from lmteams.state.events import Emit, Retried


@dataclass(slots=True)
class ResilienceStats:
    """Live view: node health, breakers, budget and counters."""

    nodes: dict[str, dict[str, object]]
    breakers: dict[str, BreakerStats]
    budget: dict[str, object] | None
    counters: Counters


@dataclass(slots=True)
class _Call:
    """One logical call across its attempts: where it may not go, and each node's chat.

    Feedback goes only to the node whose reply it is about (a small model shown another node's
    garbage as its own "previous reply" copies it).
    """

    envelope: Envelope
    original: list[dict[str, str]]
    chats: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    avoid: list[str] = field(default_factory=list)
    bad_replies: dict[str, int] = field(default_factory=dict)
    prefer: str | None = None  # the node a feedback retry goes back to
    attempt: int = 0
    feedback_used: int = 0

    def chat_of(self, name: str) -> list[dict[str, str]]:
        return self.chats.get(name, self.original)

    def feed_back(self, failed: str, exc: ModelError, rules: OutputRules) -> None:
        """The node that erred gets one more chance to fix its reply, shown the problem; a
        second bad reply sends the call elsewhere."""
        self.bad_replies[failed] = self.bad_replies.get(failed, 0) + 1
        if self.bad_replies[failed] >= 2:
            self.avoid.append(failed)
        else:
            self.prefer = failed
        self.feedback_used += 1
        chat = self.chat_of(failed)
        found = str(exc)
        if isinstance(exc, RejectedOutput):
            found = exc.problem
            chat = [*chat, {"role": "assistant", "content": exc.text[:4000]}]
        self.chats[failed] = [*chat, {"role": "user", "content": feedback_message(found, rules)}]


class Resilience:
    """Timeouts, retries, breakers, rate limits, hedging, rerouting and budget for one team.

    Built by :class:`~lmteams.team.Team` from the team file's ``resilience:`` and ``budget:``
    sections; :meth:`deliver` is what ``Team.call`` awaits.
    """

    def __init__(
        self,
        spec: TeamSpec,
        config: ResilienceSpec,
        budget: BudgetSpec | None,
        *,
        send: Send,
        emit: Emit,
        clock: Callable[[], float],
        charge: Charge = no_charge,
    ) -> None:
        board = FaultBoard(spec, config, budget, emit=emit, clock=clock, charge=charge)
        self.board = board
        self.admission = Admission(board)
        self.attempts = Attempts(board, self.admission, send)
        self.router = Router(board)
        self.hedger = Hedger(board, self.admission, self.attempts, self.router)
        # The board's state, under the names the team and the live view read.
        self.config = config
        self.clock = clock
        self.nodes = board.nodes
        self.health = board.health
        self.breakers = board.breakers
        self.limiters = board.limiters
        self.budget = board.budget
        self.rules = board.rules
        self.counters = board.counters
        self.in_flight = board.in_flight
        self.fixed_timeout_s = board.fixed_timeout_s

    async def deliver(
        self,
        envelope: Envelope,
        rules: OutputRules | None = None,
        *,
        timed_out: ModelTimeout | None = None,
    ) -> Envelope:
        """Deliver ``envelope`` to its node, surviving what the policies allow; return the reply.

        ``timed_out``: the envelope was sent already, outside the layer, and ran past its
        deadline (the team's fast path); the call goes on from that first failed attempt.

        Cancelling the caller cancels the attempt (and hedge) in flight. Raises the last
        :class:`~lmteams.errors.ModelError` when retries are exhausted or the error is
        permanent, and :class:`~lmteams.faults.budget.BudgetStop` once the budget is spent.
        """
        rules = self.rules if rules is None else rules
        node = envelope.recipients[0]
        if node not in self.nodes:
            raise ModelUnavailable(f"no node named {node!r} in this team", node=node)
        call = _Call(envelope, list(envelope.payload.get("messages", [])))
        exc: ModelError | None = timed_out
        if timed_out is not None:
            call.attempt = 1
            failure = self.health.on_failure(
                node, self.clock(), reason="ModelTimeout", timeout_s=self.fixed_timeout_s
            )
            self.board.log(failure)
        while True:
            target = node
            if exc is None:
                call.attempt += 1
                target, request = self._next_request(call)
                # Counted from the routing decision on, so that calls routed in the same
                # instant (a fan-out) see each other's load.
                self.in_flight[target] += 1
                try:
                    return await self.hedger.call(
                        envelope, request, target, call.attempt, call.chat_of, rules
                    )
                except ModelError as error:
                    exc = error
                finally:
                    self.in_flight[target] -= 1
            await self._retry_after(call, exc, target, rules)
            exc = None

    def _next_request(self, call: _Call) -> tuple[str, Envelope]:
        """Where the next attempt goes, and the request it goes as."""
        envelope = call.envelope
        node = envelope.recipients[0]
        target = self.router.route(node, call.avoid, call.prefer)
        call.prefer = None
        if call.attempt == 1 and target == node:
            return target, envelope
        chat = call.chat_of(target)
        return target, self.router.variant(envelope, target, attempt=call.attempt, messages=chat)

    async def _retry_after(
        self, call: _Call, exc: ModelError, target: str, rules: OutputRules
    ) -> None:
        """Raise ``exc`` when the retry policy gives up; else note the failure and wait."""
        decision = decide(
            self.config.retries,
            exc,
            attempt=call.attempt,
            feedback_retries_used=call.feedback_used,
            feedback_retries=rules.max_retries,
            rng=self.board.rng,
        )
        if not decision.retry:
            raise exc
        failed = exc.node if exc.node is not None and exc.node in self.nodes else target
        if decision.feedback:
            call.feed_back(failed, exc, rules)
        elif self.health.state(failed) is not NodeState.HEALTHY:
            call.avoid.append(failed)
        self._log_retry(call, exc, decision)
        if isinstance(exc, CircuitOpen | NodeDown):
            # Refused before sending: try again as soon as the breaker or node changes.
            await self.board.wait_change(decision.delay_s)
        elif decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)

    def _log_retry(self, call: _Call, exc: ModelError, decision: RetryDecision) -> None:
        self.counters.retries += 1
        self.board.emit(
            Retried(
                request_id=call.envelope.id,
                attempt=call.attempt,
                error=type(exc).__name__,
                message=str(exc)[:200],
                delay_s=round(decision.delay_s, 6),
                feedback=decision.feedback,
            ),
            call.envelope.recipients[0],
        )

    # -- state changes, heartbeats and the live view ---------------------------------------

    def heartbeat(self, node: str) -> None:
        """A sign of life from ``node`` (a long-running call, a remote actor)."""
        self.board.log(self.health.heartbeat(node, self.clock()))

    def sweep(self) -> None:
        """Re-evaluate every node's heartbeat silence and every breaker's reset time."""
        now = self.clock()
        for change in self.health.sweep(now):
            self.board.log(change)
        for breaker in self.breakers.values():
            self.board.log(breaker.tick(now))

    async def watch(self, interval_s: float = 1.0) -> None:
        """Sweep every ``interval_s`` until cancelled (run it in the coordinator's TaskGroup)."""
        while True:
            await asyncio.sleep(interval_s)
            self.sweep()

    def timeout_s(self, node: str) -> float:
        """The deadline the next call to ``node`` would get."""
        return self.health.timeout_s(node, self.fixed_timeout_s)

    def statistics(self) -> ResilienceStats:
        now = self.clock()
        nodes = self.health.statistics(now)
        for name, row in nodes.items():
            row["in_flight"] = self.in_flight[name]
            row["timeout_s"] = self.timeout_s(name)
            row["endpoint"] = self.nodes[name].endpoint
        return ResilienceStats(
            nodes=nodes,
            breakers={name: b.statistics() for name, b in self.breakers.items()},
            budget=self.budget.statistics() if self.budget is not None else None,
            counters=self.counters,
        )
