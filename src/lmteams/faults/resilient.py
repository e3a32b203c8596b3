"""The resilience layer: the shell that carries out the fault policies around every node call.

For one logical call (a request envelope addressed to node N), :meth:`Resilience.deliver`:

    route    N, or another node when N is dead, its endpoint's breaker is open, or N already
             failed this call (:mod:`~lmteams.faults.reroute`: healthy, same role first)
    admit    the run's budget (refused: :class:`~lmteams.faults.budget.BudgetStop`), the
             endpoint's rate limit (waits), the node's health and its endpoint's breaker
    attempt  under a deadline from N's latency history (``asyncio.timeout``); past the hedge
             threshold the same request also goes to a replica, the first answer wins and the
             other copy is cancelled, its tokens counted as the hedge's extra cost
    check    output validation; a bad reply is retried with the problem fed back
    retry    transient errors after backoff with jitter (Retry-After honoured); never permanent

Every state change is an event of the run (``retry``, ``rerouted``, ``breaker_*``,
``node_*``, ``hedge_*``, ``rate_limit_wait``, ``rate_limited``, ``output_rejected``,
``budget_exceeded``). Cancelling the caller cancels every attempt in flight, hedges included:
nothing outlives the call, and ``CancelledError`` is never swallowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lmteams.errors import ModelError, ModelTimeout, ModelUnavailable
from lmteams.faults.attempt import (
    DELIVERY,
    EPSILON_S,
    AttemptLayer,
    CircuitOpen,
    Counters,
    NodeDown,
    RejectedOutput,
    Ticket,
)
from lmteams.faults.breaker import BreakerStats
from lmteams.faults.budget import Spend
from lmteams.faults.detector import NodeState
from lmteams.faults.hedge import hedge_delay_s, loser_usage
from lmteams.faults.reroute import Candidate, choose
from lmteams.faults.retry import decide
from lmteams.faults.validation import OutputRules, feedback_message
from lmteams.messages import Envelope, Kind


@dataclass(slots=True)
class ResilienceStats:
    """Live view: node health, breakers, budget and counters."""

    nodes: dict[str, dict[str, object]]
    breakers: dict[str, BreakerStats]
    budget: dict[str, object] | None
    counters: Counters


async def _capture(attempt: Awaitable[Envelope]) -> Envelope | ModelError:
    try:
        return await attempt
    except ModelError as exc:
        return exc


class Resilience(AttemptLayer):
    """Timeouts, retries, breakers, rate limits, hedging, rerouting and budget for one team.

    Built by :class:`~lmteams.team.Team` from the team file's ``resilience:`` and ``budget:``
    sections; :meth:`deliver` is what ``Team.call`` awaits.
    """

    # -- the logical call ------------------------------------------------------------------

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
        original: list[dict[str, str]] = list(envelope.payload.get("messages", []))
        # Each node's side of this call: feedback goes only to the node whose reply it is about
        # (a small model shown another node's garbage as its own "previous reply" copies it).
        chats: dict[str, list[dict[str, str]]] = {}

        def chat_of(name: str) -> list[dict[str, str]]:
            return chats.get(name, original)

        avoid: list[str] = []
        bad_replies: dict[str, int] = {}
        prefer: str | None = None  # the node a feedback retry goes back to
        attempt = 0
        feedback_used = 0
        exc: ModelError | None = timed_out
        if timed_out is not None:
            attempt = 1
            self._log(
                self.health.on_failure(
                    node, self.clock(), reason="ModelTimeout", timeout_s=self.fixed_timeout_s
                )
            )
        while True:
            if exc is None:
                attempt += 1
                target = self._route(node, avoid, prefer)
                prefer = None
                request = envelope
                if attempt > 1 or target != node:
                    request = self._variant(
                        envelope, target, attempt=attempt, messages=chat_of(target)
                    )
                # Counted from the routing decision on, so that calls routed in the same
                # instant (a fan-out) see each other's load.
                self.in_flight[target] += 1
                try:
                    return await self._hedged(envelope, request, target, attempt, chat_of, rules)
                except ModelError as error:
                    exc = error
                finally:
                    self.in_flight[target] -= 1
            else:
                target = node
            decision = decide(
                self.config.retries,
                exc,
                attempt=attempt,
                feedback_retries_used=feedback_used,
                feedback_retries=rules.max_retries,
                rng=self.rng,
            )
            if not decision.retry:
                raise exc
            failed = exc.node if exc.node is not None and exc.node in self.nodes else target
            if decision.feedback:
                # Feedback is for the node that erred: it gets one more chance to fix its
                # reply; a second bad reply sends the call elsewhere.
                bad_replies[failed] = bad_replies.get(failed, 0) + 1
                if bad_replies[failed] >= 2:
                    avoid.append(failed)
                else:
                    prefer = failed
            elif self.health.state(failed) is not NodeState.HEALTHY:
                avoid.append(failed)
            if decision.feedback:
                feedback_used += 1
                chat = chat_of(failed)
                found = str(exc)
                if isinstance(exc, RejectedOutput):
                    found = exc.problem
                    chat = [*chat, {"role": "assistant", "content": exc.text[:4000]}]
                chats[failed] = [
                    *chat,
                    {"role": "user", "content": feedback_message(found, rules)},
                ]
            self.counters.retries += 1
            self._emit(
                "retry",
                {
                    "request_id": envelope.id,
                    "attempt": attempt,
                    "error": type(exc).__name__,
                    "message": str(exc)[:200],
                    "delay_s": round(decision.delay_s, 6),
                    "feedback": decision.feedback,
                },
                node,
            )
            if isinstance(exc, CircuitOpen | NodeDown):
                # Refused before sending: try again as soon as the breaker or node changes.
                await self._wait_change(decision.delay_s)
            elif decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)
            exc = None

    # -- routing ---------------------------------------------------------------------------

    def _usable(self, name: str, now: float) -> bool:
        if not self.health.available(name, now):
            return False
        breaker = self.breakers.get(self.nodes[name].endpoint)
        return breaker is None or breaker.wait_s(now) == 0.0

    def _candidates(self, now: float) -> list[Candidate]:
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

    def _route(self, node: str, avoid: list[str], prefer: str | None = None) -> str:
        now = self.clock()
        self._log(self.health.observe(node, now))
        if prefer is not None and prefer not in avoid and self._usable(prefer, now):
            return prefer
        if node not in avoid and self._usable(node, now):
            return node
        if not self.config.reroute.enabled:
            return node
        role = self.nodes[node].role
        only = self.config.reroute.same_role_only
        candidates = self._candidates(now)
        other = choose(candidates, role=role, exclude=[node, *avoid], same_role_only=only)
        if other is None and avoid:
            # Every candidate failed this call already: a second chance beats giving up.
            other = choose(candidates, role=role, exclude=[node], same_role_only=only)
        if other is None:
            return node
        reason = "failed this call" if node in avoid else self.health.state(node).value
        if reason == NodeState.HEALTHY.value:
            reason = "breaker open"
        self.counters.reroutes += 1
        self._emit("rerouted", {"from": node, "to": other, "reason": reason}, node)
        return other

    def _replica(self, target: str) -> str | None:
        now = self.clock()
        info = self.nodes[target]
        return choose(
            self._candidates(now),
            role=info.role,
            exclude=[target],
            same_role_only=self.config.reroute.same_role_only,
        )

    def _variant(
        self,
        original: Envelope,
        target: str,
        *,
        attempt: int,
        messages: list[dict[str, str]],
        hedge_of: str | None = None,
    ) -> Envelope:
        """The request of a retry, reroute or hedge: same question, new id, new recipient."""
        node = original.recipients[0]
        payload = dict(original.payload)
        delivery: dict[str, Any] = {"first_id": original.id, "try": attempt}
        if hedge_of is not None:
            delivery["hedge_of"] = hedge_of
        if target != node:
            # Sample as the original node would have (its seed, temperature, token limit).
            delivery["for_node"] = node
            payload["sampling"] = {**self.nodes[node].sampling, **(payload.get("sampling") or {})}
        payload["messages"] = messages
        # Under a key of its own: callers' meta (their own "attempt" numbers) stays untouched.
        payload["meta"] = {**(payload.get("meta") or {}), DELIVERY: delivery}
        return Envelope.make(
            run_id=original.run_id,
            sender=original.sender,
            recipients=(target,),
            kind=Kind.REQUEST,
            payload=payload,
            parent_id=original.parent_id,
        )

    # -- hedging ---------------------------------------------------------------------------

    def _hedge_delay(self, target: str) -> float | None:
        hedging = self.config.hedging
        if not hedging.enabled:
            return None
        info = self.nodes[target]
        return hedge_delay_s(self.health[target].latency, self.group_latency[info.role], hedging)

    def _recheck_s(self, target: str) -> float:
        """How soon to look again at a call whose hedge threshold is not known yet."""
        typical = self.group_latency[self.nodes[target].role].percentile(50)
        return max(0.05, typical if typical is not None else 1.0)

    async def _hedged(
        self,
        original: Envelope,
        request: Envelope,
        target: str,
        attempt: int,
        chat_of: Callable[[str], list[dict[str, str]]],
        rules: OutputRules,
    ) -> Envelope:
        if not self.config.hedging.enabled:
            return await self._one(request, target, rules)
        try:
            async with asyncio.TaskGroup() as group:
                primary = group.create_task(_capture(self._one(request, target, rules)))
                started = self.clock()
                while True:
                    # The threshold is looked at again while the call runs: a call that
                    # started before there was enough history can still be hedged.
                    delay = self._hedge_delay(target)
                    elapsed = self.clock() - started
                    if delay is not None and elapsed >= delay - EPSILON_S:
                        outcome = await self._race(
                            group,
                            original,
                            request,
                            target,
                            primary,
                            attempt,
                            chat_of,
                            started,
                            rules,
                        )
                        break
                    wait = self._recheck_s(target)
                    if delay is not None:
                        wait = min(wait, delay - elapsed)
                    done, _ = await asyncio.wait({primary}, timeout=max(wait, EPSILON_S))
                    if done:
                        outcome = primary.result()
                        break
        except BaseExceptionGroup as errors:
            raise errors.exceptions[0] from None
        if isinstance(outcome, ModelError):
            raise outcome
        return outcome

    async def _race(
        self,
        group: asyncio.TaskGroup,
        original: Envelope,
        request: Envelope,
        target: str,
        primary: asyncio.Task[Envelope | ModelError],
        attempt: int,
        chat_of: Callable[[str], list[dict[str, str]]],
        started_primary: float,
        rules: OutputRules,
    ) -> Envelope | ModelError:
        replica = self._replica(target)
        ticket = None
        hedge_request = None
        if replica is not None:
            hedge_request = self._variant(
                original, replica, attempt=attempt, messages=chat_of(replica), hedge_of=request.id
            )
            ticket = self._admit(hedge_request, replica, optional=True)
        if ticket is None or hedge_request is None:
            return await primary
        self.counters.hedges_sent += 1
        self._emit(
            "hedge_sent",
            {
                "request_id": request.id,
                "hedge_id": hedge_request.id,
                "to": ticket.target,
                "after_s": round(self.clock() - started_primary, 6),
            },
            target,
        )
        self.in_flight[ticket.target] += 1
        hedge = group.create_task(_capture(self._hedge_copy(ticket, hedge_request, rules)))
        started_hedge = self.clock()
        pending: set[asyncio.Task[Envelope | ModelError]] = {primary, hedge}
        errors: list[ModelError] = []
        winner: asyncio.Task[Envelope | ModelError] | None = None
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in (primary, hedge):
                if task not in done:
                    continue
                result = task.result()
                if isinstance(result, ModelError):
                    errors.append(result)
                elif winner is None:
                    winner = task
        if winner is None:
            return errors[0]
        reply = winner.result()
        assert isinstance(reply, Envelope)
        loser = hedge if winner is primary else primary
        loser_node = ticket.target if loser is hedge else target
        extra = 0
        if loser in pending:
            loser.cancel()
            now = self.clock()
            loser_started = started_hedge if loser is hedge else started_primary
            winner_started = started_primary if winner is primary else started_hedge
            usage = reply.usage
            loser_info = self.nodes[loser_node]
            loser_req = hedge_request if loser is hedge else request
            spent = loser_usage(
                prompt_tokens=self._prompt_tokens(loser_req, loser_info),
                winner_completion_tokens=usage.completion_tokens if usage else 0,
                loser_elapsed_s=now - loser_started,
                winner_latency_s=now - winner_started,
            )
            extra = spent.total_tokens
            self.counters.hedges_cancelled += 1
            self._emit(
                "hedge_cancelled",
                {
                    "request_id": loser_req.id,
                    "estimated_tokens": extra,
                    "prompt_tokens": spent.prompt_tokens,
                    "completion_tokens": spent.completion_tokens,
                },
                loser_node,
            )
            # A real call with real tokens: the run's totals count them (estimated).
            self._charge(spent)
            if self.budget is not None:
                cost = loser_info.prices.cost(spent.prompt_tokens, spent.completion_tokens)
                self.budget.settle(Spend(), Spend(extra, cost))
            if loser is primary:
                # A primary overtaken by its hedge was straggling: its elapsed time is a lower
                # bound on its latency, and losing counts against its health, so a node that
                # hangs or crawls is found out (and its work moved) although no call fails.
                self._log(
                    self.health.on_failure(
                        target,
                        now,
                        reason="overtaken by a hedge",
                        slower_than_s=now - loser_started,
                    )
                )
        elif not isinstance(loser.result(), ModelError):
            loser_reply = loser.result()
            assert isinstance(loser_reply, Envelope)
            extra = loser_reply.usage.total_tokens if loser_reply.usage else 0
        self.counters.hedge_extra_tokens += extra
        if winner is hedge:
            self.counters.hedges_won += 1
        self._emit(
            "hedge_won",
            {
                "request_id": request.id,
                "by": "hedge" if winner is hedge else "primary",
                "winner": reply.sender,
                "extra_tokens": extra,
            },
            target,
        )
        return reply

    async def _hedge_copy(self, ticket: Ticket, request: Envelope, rules: OutputRules) -> Envelope:
        try:
            return await self._attempt(ticket, request, rules)
        finally:
            self.in_flight[ticket.target] -= 1

    # -- state changes, heartbeats and the live view ---------------------------------------

    def heartbeat(self, node: str) -> None:
        """A sign of life from ``node`` (a long-running call, a remote actor)."""
        self._log(self.health.heartbeat(node, self.clock()))

    def sweep(self) -> None:
        """Re-evaluate every node's heartbeat silence and every breaker's reset time."""
        now = self.clock()
        for change in self.health.sweep(now):
            self._log(change)
        for breaker in self.breakers.values():
            self._log(breaker.tick(now))

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
