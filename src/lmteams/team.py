"""A running team: a team spec, a runtime hosting its nodes, and the run's journal.

:class:`Team` is the one door through which higher layers (ask, the coordinator, consensus)
talk to nodes: :meth:`Team.call` builds the request envelope, logs it, delivers it through the
runtime, logs the reply, waits until both are durable and returns a typed :class:`Reply`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from lmteams.config import TeamSpec
from lmteams.errors import BudgetExceeded, ModelError, ModelTimeout
from lmteams.faults.budget import Spend
from lmteams.faults.config import ResilienceSpec
from lmteams.faults.injection.injector import FaultInjectingRuntime
from lmteams.faults.resilient import Resilience, ResilienceStats
from lmteams.faults.validation import OutputRules
from lmteams.faults.watchdog import Watchdog
from lmteams.messages import ZERO_USAGE, Envelope, Kind, Usage
from lmteams.models.base import ChatMessage, ModelBackend
from lmteams.models.embeddings import open_embedding_backend
from lmteams.routing.balancer import Balancer, replica_groups
from lmteams.routing.dispatch import routed_call
from lmteams.runtime.base import NodeStats, Runtime
from lmteams.runtime.local import LocalRuntime
from lmteams.state.events import (
    CallFailed,
    CallReplayed,
    Event,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
)
from lmteams.state.journal import Journal
from lmteams.state.liveness import coordinator_stamp
from lmteams.state.replay import ReplayLog
from lmteams.state.store import EventStore

COORDINATOR = "coordinator"


@dataclass(slots=True)
class Reply:
    """A node's reply to one call (not frozen: one per call, and frozen costs ~0.6 µs)."""

    node: str
    text: str
    usage: Usage
    latency_s: float
    finish_reason: str
    model: str
    envelope_id: str
    token_logprobs: tuple[float, ...] | None = None
    #: The node that actually answered, when the call was rerouted or hedged to another one.
    served_by: str | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-able form, kept in the call-result table for replay."""
        return {
            "node": self.node,
            "served_by": self.served_by,
            "text": self.text,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "latency_s": self.latency_s,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "envelope_id": self.envelope_id,
            "token_logprobs": list(self.token_logprobs) if self.token_logprobs else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Reply:
        logprobs = record.get("token_logprobs")
        return cls(
            node=record["node"],
            text=record["text"],
            usage=Usage(record["prompt_tokens"], record["completion_tokens"]),
            latency_s=record["latency_s"],
            finish_reason=record["finish_reason"],
            model=record["model"],
            envelope_id=record["envelope_id"],
            token_logprobs=tuple(logprobs) if logprobs else None,
            served_by=record.get("served_by"),
        )

    @classmethod
    def from_envelope(cls, envelope: Envelope, node: str | None = None) -> Reply:
        """The reply in ``envelope``; ``node`` is the node the call was addressed to."""
        payload = envelope.payload
        logprobs = payload.get("token_logprobs")
        return cls(
            node=node or envelope.sender,
            text=payload.get("text", ""),
            usage=envelope.usage or ZERO_USAGE,
            latency_s=float(payload.get("latency_s", 0.0)),
            finish_reason=str(payload.get("finish_reason", "stop")),
            model=str(payload.get("model", "")),
            envelope_id=envelope.id,
            token_logprobs=tuple(logprobs) if logprobs is not None else None,
            served_by=envelope.sender if node is not None and node != envelope.sender else None,
        )


@dataclass(slots=True)
class TeamTotals:
    """Every call sent (retries, reroutes and hedge copies included) and its tokens."""

    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Part of the tokens above that is estimated: copies cancelled before their reply.
    estimated_tokens: int = 0

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)


def request_payload(
    messages: Sequence[ChatMessage | dict[str, str]] | str,
    sampling: dict[str, Any] | None,
    meta: dict[str, Any] | None,
) -> dict[str, Any]:
    """A request envelope's payload: the chat on the wire, with sampling and meta when given."""
    if isinstance(messages, str):
        wire: list[dict[str, str]] = [{"role": "user", "content": messages}]
    else:
        wire = [
            {"role": m.role, "content": m.content} if isinstance(m, ChatMessage) else m
            for m in messages
        ]
    payload: dict[str, Any] = {"messages": wire}
    if sampling:
        payload["sampling"] = sampling
    if meta:
        payload["meta"] = meta
    return payload


class Team:
    """Open with ``async with Team(spec, store, kind=...) as team:``; the run ends on exit."""

    def __init__(
        self,
        spec: TeamSpec,
        store: EventStore,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        runtime: Runtime | None = None,
        backends: Mapping[str, ModelBackend] | None = None,
        run_id: str | None = None,
        resume: bool = False,
        replay_unkeyed: bool = False,
    ) -> None:
        """``replay_unkeyed`` (with ``resume``): also replay calls made without a key, matched
        by node and request in the order they were made (for deterministic callers such as
        ``ask``; see :mod:`lmteams.state.replay`)."""
        self.spec = spec
        self.store = store
        self.kind = kind
        self.params = params or {}
        self.runtime = runtime or LocalRuntime()
        self.runtime.emit = self._emit
        if spec.faults is not None and any(r.active for r in spec.faults.nodes.values()):
            self.runtime = FaultInjectingRuntime(self.runtime, spec.faults, emit=self._emit)
        self._backends = backends
        # Backends that embed for this team (consensus similarity), by model: opened on first
        # use, closed with the team when it opened them.
        self._embedders: dict[str, tuple[ModelBackend, bool]] = {}
        self._embedders_lock = asyncio.Lock()  # two first uses at once open one backend
        self.run_id = run_id or ""
        self.resume = resume
        self.journal: Journal | None = None
        # A resumed run's completed calls: replayed, never re-sent (empty unless resuming).
        self._replay = ReplayLog()
        self._replay_unkeyed_wanted = replay_unkeyed
        # Events a resumed run redoes but had already logged before it died (type -> count):
        # the redo skips logging them again (see :meth:`event`).
        self.already_logged: dict[str, int] = {}
        self.totals = TeamTotals()
        self.result: dict[str, Any] | None = None
        self.status = "done"
        # None keeps the fast path: no resilience section and no budget in the team file
        # (until a call runs past its deadline: see deliver).
        self.resilience: Resilience | None = None
        self._deadlines: Resilience | None = None
        # The fast path's deadline per call (a resilience layer has its own).
        self._watchdog = Watchdog(spec.defaults.timeout_s)
        # Node -> role, for the nodes of replica groups: their calls go through the balancer.
        self._replica_nodes = replica_groups(spec)
        self._balancer: Balancer | None = None

    async def __aenter__(self) -> Team:
        if self.resume:
            if not self.run_id:
                raise ValueError("resuming needs the run id")
            self.store.set_status(self.run_id, "running")
            self._replay = ReplayLog.load(
                self.store, self.run_id, unkeyed=self._replay_unkeyed_wanted
            )
        else:
            # Its first event goes in with the run: one commit opens it.
            self.run_id = self.store.new_run(
                self.kind,
                params=self.params,
                team=self.spec.name,
                run_id=self.run_id or None,
                first=RunStarted(
                    kind=self.kind,
                    team=loggable_team(self.spec),
                    runtime=self.runtime.name,
                    params=self.params,
                    **coordinator_stamp(),
                ),
            )
        self.journal = Journal(self.store, self.run_id)
        self.journal.start_clock()
        if self.resume:
            # Who runs the coordinator: `lmteams resume` refuses to resume a run still alive.
            self.journal.event(
                RunResumed(
                    runtime=self.runtime.name,
                    committed_calls=len(self._replay.keyed),
                    logged_replies=self._replay.logged_replies,
                    **coordinator_stamp(),
                )
            )
        if self.spec.resilience is not None:
            self.resilience = self._new_resilience(self.spec.resilience)
        elif self.spec.budget is not None:
            self.resilience = self._deadlines_layer()
        if self.resume:
            self._restore_budget()
        try:
            await self.runtime.start(self.spec, self._backends)
        except BaseException as exc:
            self.journal.event(RunFailed(error=str(exc)))
            self.store.finish_run(self.run_id, "failed", {"error": str(exc)})
            await self.runtime.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        journal = self._journal()
        budget = self.resilience.budget if self.resilience is not None else None
        if exc is not None and _only_budget(exc):
            # The budget ran out: a clean stop that keeps whatever results were reached.
            self.status = "stopped"
            reason = budget.exhausted if budget is not None and budget.exhausted else str(exc)
            self.result = {**(self.result or {}), "stopped": reason}
        elif exc is not None:
            self.status = (
                "cancelled"
                if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
                else "failed"
            )
            self.result = {**(self.result or {}), "error": str(exc) or type(exc).__name__}
        elif budget is not None and budget.exhausted:
            self.status = "stopped"
            self.result = {**(self.result or {}), "stopped": budget.exhausted}
        try:
            journal.event(
                RunFinished(
                    status=self.status,
                    calls=self.totals.calls,
                    failures=self.totals.failures,
                    prompt_tokens=self.totals.prompt_tokens,
                    completion_tokens=self.totals.completion_tokens,
                )
            )
            # Committed with the rest in one transaction. Raises when the log cannot be
            # written (locked past every retry): the run stays open in the log, with every
            # committed call, and can be resumed.
            self.store.end_run(self.run_id, self.status, self.result)
            await journal.aclose()
        finally:
            self._watchdog.close()
            await self.runtime.aclose()
            await self._close_embedders()

    async def embedding_backend(self, model: str) -> ModelBackend:
        """The backend that embeds texts with ``model`` (of ``models:``), for this team's life.

        Raises :class:`~lmteams.errors.ConfigError` when the model cannot embed.
        """
        async with self._embedders_lock:
            if model not in self._embedders:
                opened = await open_embedding_backend(self.spec, model, self._backends)
                self._embedders[model] = opened
        return self._embedders[model][0]

    async def _close_embedders(self) -> None:
        embedders, self._embedders = self._embedders, {}
        for backend, owned in embedders.values():
            if owned:
                await backend.aclose()

    def _journal(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("the team is not open; use `async with Team(...)`")
        return self.journal

    async def call(
        self,
        node: str,
        messages: Sequence[ChatMessage | dict[str, str]] | str,
        *,
        sampling: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        parent_id: str | None = None,
        durable: bool = True,
        key: str | None = None,
        validate: OutputRules | None = None,
        balance: bool = True,
    ) -> Reply:
        """Send one request to ``node`` and return its reply once both are durably logged.

        ``messages`` is a prompt or a chat (the node adds its system prompt). With
        ``durable=False`` the reply returns before its commit; the caller must then await
        :meth:`wait_durable` before acting on it (one barrier for a whole fan-out).

        ``key`` makes the call idempotent within the run: its result is committed under
        (run, node, key, request hash), and a resumed run replays it instead of calling the
        model again. Put the task id and attempt number in the key.

        Every call has a deadline (``defaults.timeout_s`` unless the ``resilience:`` section
        says otherwise); a call past it is retried, on another node once the hung one is
        suspect. When the team file has a ``resilience:`` or ``budget:`` section, the call goes
        through the resilience layer (:mod:`lmteams.faults.resilient`): deadlines, retries,
        breakers, rerouting, hedging, rate limits, the budget and output checks; ``validate``
        replaces the team's output checks for this call (a reply failing them is retried with
        feedback). The reply's ``node`` is always ``node``; ``served_by`` names another node
        that answered instead.

        A call addressed to a node of a replica group (a role whose ``roles.<role>.balance``
        is set) is served by the replica that policy picks (:mod:`lmteams.routing.dispatch`);
        the reply's ``served_by`` names it when it is not ``node``. ``balance=False`` sends to
        exactly ``node`` (what the balancer does once it has picked the replica).

        Raises :class:`~lmteams.errors.ModelError` if the node's call fails; the failure is
        logged. Once the budget is spent, raises :class:`~lmteams.faults.budget.BudgetStop`
        (both a ModelError and a :class:`~lmteams.errors.BudgetExceeded`).
        """
        if balance and node in self._replica_nodes:
            balancer = self.balancer
            return await routed_call(
                self,
                balancer,
                self._replica_nodes[node],
                balancer.group_of(node) or (),
                messages,
                addressed=node,
                sampling=sampling,
                meta=meta,
                parent_id=parent_id,
                durable=durable,
                key=key,
                validate=validate,
            )
        envelope = Envelope.make(
            run_id=self.run_id,
            sender=COORDINATOR,
            recipients=(node,),
            kind=Kind.REQUEST,
            payload=request_payload(messages, sampling, meta),
            parent_id=parent_id,
        )
        if key is None:
            if self._replay.unkeyed:
                logged = self._replay.take_unkeyed(node, envelope.payload)
                if logged is not None:
                    self._journal().event(CallReplayed(reply_id=logged.id), node=node)
                    return Reply.from_envelope(logged, node=node)
            return await self.deliver(envelope, durable=durable, validate=validate)
        call_key, record = self._replay.take_call(self.run_id, node, key, envelope.payload)
        if record is not None:
            self._journal().event(CallReplayed(key=key), node=node)
            return Reply.from_record(record)
        reply = await self.deliver(envelope, durable=False, validate=validate)
        self._journal().record_call(call_key, node, reply.to_record())
        await self.wait_durable()
        return reply

    @property
    def replayed(self) -> int:
        """Calls of this (resumed) run answered from the log instead of sent again."""
        return self._replay.replayed

    @property
    def balancer(self) -> Balancer:
        """The team's replicas and balancing policies (one per open team, so load is shared)."""
        if self._balancer is None:
            self._balancer = Balancer(self.spec)
        return self._balancer

    async def wait_durable(self) -> None:
        """Return once every message and event logged so far is committed."""
        await self._journal().wait_durable()

    async def deliver(
        self, envelope: Envelope, *, durable: bool = True, validate: OutputRules | None = None
    ) -> Reply:
        """Log, deliver and await one request envelope (see :meth:`call`).

        Every call has a deadline: the resilience layer's, or ``defaults.timeout_s`` on the
        fast path (no ``resilience:`` section). A fast-path call past its deadline is handed
        to a layer that retries it, on another node once the hung one is suspect
        (:meth:`~lmteams.faults.config.ResilienceSpec.deadlines`), and from then on every
        call of the team goes through that layer, so that a dead node is routed around.
        """
        resilience = self.resilience
        if resilience is None and validate is None:
            try:
                reply = await self._send(envelope, None)
            except ModelTimeout as exc:
                self.resilience = resilience = self._deadlines_layer()
                reply = await resilience.deliver(envelope, timed_out=exc)
        else:
            if resilience is None:
                # Only a per-call output check: the calls without one stay on the fast path.
                resilience = self._deadlines_layer()
            reply = await resilience.deliver(envelope, validate)
        if durable:
            await self._journal().wait_durable()
        return Reply.from_envelope(reply, envelope.recipients[0])

    async def _send(self, envelope: Envelope, timeout_s: float | None) -> Envelope:
        """One attempt: log the request, deliver it within ``timeout_s`` (None: the fast path's
        ``defaults.timeout_s``, watched by the team's one watchdog timer), log the outcome."""
        journal = self._journal()
        journal.message(envelope)
        self.totals.calls += 1
        try:
            if timeout_s is None:
                watchdog = self._watchdog
                key = envelope.id
                watchdog.start(key)
                try:
                    reply = await self.runtime.request(envelope)
                except asyncio.CancelledError:
                    if watchdog.stop(key):
                        raise ModelTimeout(
                            f"no reply within {watchdog.timeout_s:.3g}s (defaults.timeout_s)",
                            node=envelope.recipients[0],
                        ) from None
                    raise
                watchdog.stop(key)
            else:
                try:
                    async with asyncio.timeout(timeout_s):
                        reply = await self.runtime.request(envelope)
                except TimeoutError:
                    raise ModelTimeout(
                        f"no reply within {timeout_s:.3g}s", node=envelope.recipients[0]
                    ) from None
        except ModelError as exc:
            self.totals.failures += 1
            journal.event(
                CallFailed(
                    request_id=envelope.id,
                    error=type(exc).__name__,
                    message=str(exc),
                    transient=exc.transient,
                ),
                node=envelope.recipients[0],
            )
            raise
        journal.message(reply)
        usage = reply.usage
        if usage is not None:
            self.totals.prompt_tokens += usage.prompt_tokens
            self.totals.completion_tokens += usage.completion_tokens
        return reply

    def _deadlines_layer(self) -> Resilience:
        if self._deadlines is None:
            self._deadlines = self._new_resilience(ResilienceSpec.deadlines())
        return self._deadlines

    def _new_resilience(self, config: ResilienceSpec) -> Resilience:
        journal = self._journal()
        return Resilience(
            self.spec,
            config,
            self.spec.budget,
            send=self._send,
            emit=self._emit,
            clock=journal.now,
            charge=self._charge,
        )

    def _restore_budget(self) -> None:
        """On resume, what the run spent before counts against its budget again (every
        logged reply), so a resumed run stops where the uninterrupted one would have."""
        budget = self.resilience.budget if self.resilience is not None else None
        if budget is None:
            return
        names = set(self.spec.node_names)
        for event in self.store.events(self.run_id, types=["message"]):
            data = event.data
            usage = data.get("usage") or {}
            if data.get("kind") != "reply" or not usage:
                continue
            prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
            sender = data.get("sender")
            cost = 0.0
            if sender in names:
                prices = self.spec.models[self.spec.model_of(self.spec.node(sender))].prices
                cost = prices.cost(prompt, completion)
            budget.settle(Spend(), Spend(prompt + completion, cost))

    def _charge(self, usage: Usage) -> None:
        """A copy cancelled before its reply (a hedge's loser) spent these tokens."""
        self.totals.prompt_tokens += usage.prompt_tokens
        self.totals.completion_tokens += usage.completion_tokens
        self.totals.estimated_tokens += usage.total_tokens

    def event(self, event: Event, *, node: str | None = None) -> None:
        """Log a state change of this run (a model of :mod:`lmteams.state.events`), unless a
        resumed run had logged it already."""
        pending = self.already_logged.get(event.type)
        if pending:
            self.already_logged[event.type] = pending - 1
            return
        self._journal().event(event, node=node)

    def _emit(self, event: Event, node: str | None) -> None:
        self._journal().event(event, node=node)

    # -- live view -----------------------------------------------------------------------

    def heartbeat(self, node: str) -> None:
        """Record a sign of life from ``node`` (a long call in progress, a remote actor).

        Nodes that send heartbeats are watched by the phi-accrual detector: when they fall
        silent they become suspect, then dead (their work is rerouted), and recover with the
        next heartbeat. Without a ``resilience:`` section this does nothing.
        """
        if self.resilience is not None:
            self.resilience.heartbeat(node)

    def statistics(self) -> TeamStats:
        """Live view of the run: totals, each node's runtime counters, and (with a resilience
        layer) node health, breakers, budget and fault-handling counters."""
        return TeamStats(
            totals=self.totals,
            replayed=self.replayed,
            runtime=self.runtime.statistics(),
            resilience=self.resilience.statistics() if self.resilience is not None else None,
        )


@dataclass(slots=True)
class TeamStats:
    totals: TeamTotals
    replayed: int
    runtime: dict[str, NodeStats]
    resilience: ResilienceStats | None


#: What a logged team shows in place of a secret.
REDACTED = "***"
_SECRET_NAMES = ("key", "token", "secret", "password")


def loggable_team(spec: TeamSpec) -> dict[str, Any]:
    """The team as JSON for the log, with every secret-looking model setting redacted
    (``api_key``, ``*_token``...; ``api_key_env`` only names a variable and is kept)."""
    data = spec.model_dump(mode="json", exclude_none=True)
    for options in data.get("models", {}).values():
        for name, value in options.items():
            lowered = name.lower()
            if isinstance(value, str) and (
                lowered in _SECRET_NAMES or lowered.endswith(tuple(f"_{s}" for s in _SECRET_NAMES))
            ):
                options[name] = REDACTED
    return data


def _only_budget(exc: BaseException) -> bool:
    """Is ``exc`` a budget stop (possibly inside exception groups, with nothing else)?"""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_budget(inner) for inner in exc.exceptions)
    return isinstance(exc, BudgetExceeded)
