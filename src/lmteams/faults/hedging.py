"""Hedged attempts: a copy of a straggling call to a replica; the first answer wins.

:meth:`Hedger.call` runs an attempt and watches it: once it has run past the node's hedge
threshold (:func:`~lmteams.faults.hedge.hedge_delay_s`, looked at again while the call runs,
so a call that started before there was enough history can still be hedged), the same request
also goes to a replica (:meth:`~lmteams.faults.router.Router.replica`), admitted as an
optional attempt. The first good answer wins; the other copy is cancelled, and its estimated
tokens (:func:`~lmteams.faults.hedge.loser_usage`) count in the run's totals and budget. A
primary overtaken by its hedge counts against its node's health. Both copies live in one
``TaskGroup``: nothing outlives the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lmteams.errors import ModelError
from lmteams.faults.admission import Admission, Ticket
from lmteams.faults.attempt import Attempts
from lmteams.faults.board import EPSILON_S, FaultBoard, prompt_tokens
from lmteams.faults.budget import Spend
from lmteams.faults.hedge import hedge_delay_s, loser_usage
from lmteams.faults.router import Router
from lmteams.faults.validation import OutputRules
from lmteams.messages import Envelope
from lmteams.state.events import HedgeCancelled, HedgeSent, HedgeWon

#: The chat a node is sent for this call (feedback goes only to the node it is about).
ChatOf = Callable[[str], list[dict[str, str]]]
Outcome = Envelope | ModelError


async def _capture(attempt: Awaitable[Envelope]) -> Outcome:
    try:
        return await attempt
    except ModelError as exc:
        return exc


@dataclass(slots=True)
class _Copy:
    """One copy of the call in a race: its task, node, request and start time."""

    task: asyncio.Task[Outcome]
    node: str
    request: Envelope
    started: float


@dataclass(slots=True)
class _Hedged:
    """One hedged attempt: its copies' task group, the logical call, and its primary copy."""

    group: asyncio.TaskGroup
    original: Envelope
    attempt: int
    chat_of: ChatOf
    rules: OutputRules
    primary: _Copy


class Hedger:
    """Runs attempts with hedging, as the board's ``hedging`` settings say."""

    def __init__(
        self, board: FaultBoard, admission: Admission, attempts: Attempts, router: Router
    ) -> None:
        self.board = board
        self.admission = admission
        self.attempts = attempts
        self.router = router

    async def call(
        self,
        original: Envelope,
        request: Envelope,
        target: str,
        attempt: int,
        chat_of: ChatOf,
        rules: OutputRules,
    ) -> Envelope:
        """One attempt of ``original`` (sent as ``request`` to ``target``), hedged if it
        straggles. Raises the attempt's error when no copy answers."""
        if not self.board.config.hedging.enabled:
            return await self.attempts.one(request, target, rules)
        try:
            async with asyncio.TaskGroup() as group:
                task = group.create_task(_capture(self.attempts.one(request, target, rules)))
                primary = _Copy(task, target, request, self.board.clock())
                hedged = _Hedged(group, original, attempt, chat_of, rules, primary)
                outcome = await self._watch(hedged)
        except BaseExceptionGroup as errors:
            raise errors.exceptions[0] from None
        if isinstance(outcome, ModelError):
            raise outcome
        return outcome

    def delay_s(self, target: str) -> float | None:
        """Seconds after which a call to ``target`` is hedged (None: not, or not yet known)."""
        board = self.board
        hedging = board.config.hedging
        if not hedging.enabled:
            return None
        role = board.nodes[target].role
        return hedge_delay_s(board.health[target].latency, board.group_latency[role], hedging)

    def _recheck_s(self, target: str) -> float:
        """How soon to look again at a call whose hedge threshold is not known yet."""
        typical = self.board.group_latency[self.board.nodes[target].role].percentile(50)
        return max(0.05, typical if typical is not None else 1.0)

    async def _watch(self, hedged: _Hedged) -> Outcome:
        primary = hedged.primary
        while True:
            delay = self.delay_s(primary.node)
            elapsed = self.board.clock() - primary.started
            if delay is not None and elapsed >= delay - EPSILON_S:
                hedge = self._send_hedge(hedged)
                if hedge is None:
                    return await primary.task
                return await self._race(primary, hedge)
            wait = self._recheck_s(primary.node)
            if delay is not None:
                wait = min(wait, delay - elapsed)
            done, _ = await asyncio.wait({primary.task}, timeout=max(wait, EPSILON_S))
            if done:
                return primary.task.result()

    def _send_hedge(self, hedged: _Hedged) -> _Copy | None:
        """Start the hedge copy, or None when no replica can take it now."""
        board = self.board
        primary = hedged.primary
        replica = self.router.replica(primary.node)
        if replica is None:
            return None
        request = self.router.variant(
            hedged.original,
            replica,
            attempt=hedged.attempt,
            messages=hedged.chat_of(replica),
            hedge_of=primary.request.id,
        )
        ticket = self.admission.admit(request, replica, optional=True)
        if ticket is None:
            return None
        board.counters.hedges_sent += 1
        after_s = round(board.clock() - primary.started, 6)
        board.emit(
            HedgeSent(
                request_id=primary.request.id,
                hedge_id=request.id,
                to=ticket.target,
                after_s=after_s,
            ),
            primary.node,
        )
        board.in_flight[ticket.target] += 1
        copy = self._hedge_copy(ticket, request, hedged.rules)
        task = hedged.group.create_task(_capture(copy))
        return _Copy(task, ticket.target, request, board.clock())

    async def _hedge_copy(self, ticket: Ticket, request: Envelope, rules: OutputRules) -> Envelope:
        try:
            return await self.attempts.send(ticket, request, rules)
        finally:
            self.board.in_flight[ticket.target] -= 1

    async def _race(self, primary: _Copy, hedge: _Copy) -> Outcome:
        """The first good answer of the two copies (or the first error if neither answers)."""
        pending: set[asyncio.Task[Outcome]] = {primary.task, hedge.task}
        errors: list[ModelError] = []
        winner: _Copy | None = None
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for copy in (primary, hedge):  # in this order when both are done: deterministic
                if copy.task not in done:
                    continue
                result = copy.task.result()
                if isinstance(result, ModelError):
                    errors.append(result)
                elif winner is None:
                    winner = copy
        if winner is None:
            return errors[0]
        reply = winner.task.result()
        assert isinstance(reply, Envelope)
        loser = hedge if winner is primary else primary
        if loser.task in pending:
            extra = self._cancel(loser, winner, reply, primary)
        else:
            late = loser.task.result()
            extra = late.usage.total_tokens if isinstance(late, Envelope) and late.usage else 0
        self._won(primary, winner is hedge, reply, extra)
        return reply

    def _cancel(self, loser: _Copy, winner: _Copy, reply: Envelope, primary: _Copy) -> int:
        """Cancel the copy still running and charge what it spent (estimated); its tokens."""
        board = self.board
        loser.task.cancel()
        now = board.clock()
        info = board.nodes[loser.node]
        spent = loser_usage(
            prompt_tokens=prompt_tokens(loser.request, info),
            winner_completion_tokens=reply.usage.completion_tokens if reply.usage else 0,
            loser_elapsed_s=now - loser.started,
            winner_latency_s=now - winner.started,
        )
        extra = spent.total_tokens
        board.counters.hedges_cancelled += 1
        board.emit(
            HedgeCancelled(
                request_id=loser.request.id,
                estimated_tokens=extra,
                prompt_tokens=spent.prompt_tokens,
                completion_tokens=spent.completion_tokens,
            ),
            loser.node,
        )
        # A real call with real tokens: the run's totals count them (estimated).
        board.charge(spent)
        if board.budget is not None:
            cost = info.prices.cost(spent.prompt_tokens, spent.completion_tokens)
            board.budget.settle(Spend(), Spend(extra, cost))
        if loser is primary:
            # A primary overtaken by its hedge was straggling: its elapsed time is a lower
            # bound on its latency, and losing counts against its health, so a node that
            # hangs or crawls is found out (and its work moved) although no call fails.
            slower = now - loser.started
            failure = board.health.on_failure(
                loser.node, now, reason="overtaken by a hedge", slower_than_s=slower
            )
            board.log(failure)
        return extra

    def _won(self, primary: _Copy, by_hedge: bool, reply: Envelope, extra: int) -> None:
        board = self.board
        board.counters.hedge_extra_tokens += extra
        if by_hedge:
            board.counters.hedges_won += 1
        board.emit(
            HedgeWon(
                request_id=primary.request.id,
                by="hedge" if by_hedge else "primary",
                winner=reply.sender,
                extra_tokens=extra,
            ),
            primary.node,
        )
