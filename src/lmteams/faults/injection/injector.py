"""Fault injection at the edge: a runtime decorator that makes chosen nodes misbehave.

:class:`FaultInjectingRuntime` wraps any :class:`~lmteams.runtime.base.Runtime` and, for the
nodes a ``faults:`` section names, carries out the decisions of
:class:`~lmteams.faults.injection.rules.NodeFaults`: a crashed node refuses every call (or, in
``hang`` mode, never answers) and the calls it had in flight when it crashed fail; a straggler
answers ``slow`` times later; a fraction of calls fail with the configured error; replies are
replaced by garbage or by a plausible wrong answer. Nodes without a rule pass straight through.
Every injected fault is an event (``fault_injected``) so analyses can tell them apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from lmteams.config import TeamSpec
from lmteams.errors import MODEL_ERRORS, ModelError, ModelUnavailable, RateLimited
from lmteams.faults.config import FaultsSpec
from lmteams.faults.injection.rules import Action, NodeFaults, garbage, rule_for, wrong_answer
from lmteams.messages import Envelope
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import NodeStats, Runtime
from lmteams.state.events import Emit, FaultInjected


class _NodeState:
    __slots__ = ("faults", "in_flight")

    def __init__(self, faults: NodeFaults) -> None:
        self.faults = faults
        self.in_flight: set[asyncio.Timeout] = set()


class FaultInjectingRuntime(Runtime):
    """A runtime whose chosen nodes crash, straggle, fail, or lie, as ``faults`` says."""

    def __init__(self, inner: Runtime, faults: FaultsSpec, *, emit: Emit | None = None) -> None:
        self.inner = inner
        self.faults = faults
        self.name = inner.name
        self._emit = emit
        self._nodes: dict[str, _NodeState] = {}
        self.injected: dict[str, int] = {}

    async def start(
        self, team: TeamSpec, backends: Mapping[str, ModelBackend] | None = None
    ) -> None:
        self._nodes = {}
        for node in team.nodes:
            rule = rule_for(self.faults, node.name, node.role)
            if rule is not None and rule.active:
                self._nodes[node.name] = _NodeState(NodeFaults(node.name, rule, self.faults.seed))
        await self.inner.start(team, backends)

    def _record(self, fault: str, node: str, **data: Any) -> None:
        self.injected[fault] = self.injected.get(fault, 0) + 1
        if self._emit is not None:
            self._emit(FaultInjected(fault=fault, **data), node)

    async def request(self, envelope: Envelope) -> Envelope:
        node = envelope.recipients[0]
        state = self._nodes.get(node)
        if state is None:
            return await self.inner.request(envelope)
        faults = state.faults
        rule = faults.rule
        action = faults.on_start()
        if action is Action.CRASHED:
            if rule.crash_mode == "hang":
                await asyncio.Future()  # never answers; the caller's deadline or cancel ends it
            raise ModelUnavailable("node crashed (injected)", node=node)
        if action is Action.ERROR:
            faults.on_finish()
            self._record("error", node, error=rule.error, request_id=envelope.id)
            raise _injected_error(rule.error, node, rule.retry_after_s)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(None) as scope:
                state.in_flight.add(scope)
                try:
                    reply = await self.inner.request(envelope)
                    if rule.slow > 1.0:
                        added = (rule.slow - 1.0) * (loop.time() - started)
                        await asyncio.sleep(added)
                finally:
                    state.in_flight.discard(scope)
        except TimeoutError:
            if scope.expired() and faults.crashed:
                raise ModelUnavailable(
                    "node crashed during the call (injected)", node=node
                ) from None
            raise
        except ModelError:
            self._finish(state, node)
            raise
        self._finish(state, node)
        corruption = faults.corrupt()
        if corruption is Action.GARBAGE:
            self._record("garbage", node, request_id=envelope.id)
            return _with_text(reply, garbage(faults.rng))
        if corruption is Action.BYZANTINE:
            text = str(reply.payload.get("text", ""))
            wrong = wrong_answer(text, faults.rng, rule.wrong_answer)
            self._record("byzantine", node, request_id=envelope.id)
            return _with_text(reply, wrong)
        return reply

    def _finish(self, state: _NodeState, node: str) -> None:
        if not state.faults.on_finish():
            return
        self._record(
            "crash", node, after_calls=state.faults.finished, in_flight=len(state.in_flight)
        )
        if state.faults.rule.crash_mode == "hang":
            return  # hang mode: calls in flight finish; only later calls never answer
        now = asyncio.get_running_loop().time()
        for scope in list(state.in_flight):
            scope.reschedule(now)  # the node died: its calls in flight fail now

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        # Anything else a runtime offers (its own live views, cluster handles) is the inner one's.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def statistics(self) -> dict[str, NodeStats]:
        return self.inner.statistics()


def _injected_error(kind: str, node: str, retry_after_s: float | None) -> ModelError:
    message = f"injected {kind}"
    if kind == "rate_limited":
        return RateLimited(message, retry_after_s=retry_after_s, node=node)
    return MODEL_ERRORS[kind](message, node=node)


def _with_text(reply: Envelope, text: str) -> Envelope:
    return dataclasses.replace(reply, payload={**reply.payload, "text": text})
