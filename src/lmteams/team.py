"""A running team: a team spec, a runtime hosting its nodes, and the run's journal.

:class:`Team` is the one door through which higher layers (ask, the coordinator, consensus)
talk to nodes: :meth:`Team.call` builds the request envelope, logs it, delivers it through the
runtime, logs the reply, waits until both are durable and returns a typed :class:`Reply`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from lmteams.config import TeamSpec
from lmteams.errors import ModelError
from lmteams.messages import ZERO_USAGE, Envelope, Kind, Usage
from lmteams.models.base import ChatMessage, ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.runtime.local import LocalRuntime
from lmteams.state.journal import Journal
from lmteams.state.store import EventStore

COORDINATOR = "coordinator"


def idempotency_key(run_id: str, node: str, key: str, payload: dict[str, Any]) -> str:
    """(run, node, caller's key, hash of the request) as one string."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return f"{run_id}|{node}|{key}|{digest}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A node's reply to one call."""

    node: str
    text: str
    usage: Usage
    latency_s: float
    finish_reason: str
    model: str
    envelope_id: str
    token_logprobs: tuple[float, ...] | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-able form, kept in the call-result table for replay."""
        return {
            "node": self.node,
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
        )

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Reply:
        payload = envelope.payload
        logprobs = payload.get("token_logprobs")
        return cls(
            node=envelope.sender,
            text=payload.get("text", ""),
            usage=envelope.usage or ZERO_USAGE,
            latency_s=float(payload.get("latency_s", 0.0)),
            finish_reason=str(payload.get("finish_reason", "stop")),
            model=str(payload.get("model", "")),
            envelope_id=envelope.id,
            token_logprobs=tuple(logprobs) if logprobs is not None else None,
        )


@dataclass(slots=True)
class TeamTotals:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)


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
    ) -> None:
        self.spec = spec
        self.store = store
        self.kind = kind
        self.params = params or {}
        self.runtime = runtime or LocalRuntime()
        self._backends = backends
        self.run_id = run_id or ""
        self.resume = resume
        self.journal: Journal | None = None
        # Committed call results of this run by idempotency key: replayed, never re-sent.
        self._replay: dict[str, dict[str, Any]] = {}
        self.replayed = 0
        self.totals = TeamTotals()
        self.result: dict[str, Any] | None = None
        self.status = "done"

    async def __aenter__(self) -> Team:
        if self.resume:
            if not self.run_id:
                raise ValueError("resuming needs the run id")
            self.store.set_status(self.run_id, "running")
            self._replay = {
                k: json.loads(v) for k, v in self.store.call_results(self.run_id).items()
            }
        else:
            self.run_id = self.store.new_run(
                self.kind, params=self.params, team=self.spec.name, run_id=self.run_id or None
            )
        self.journal = Journal(self.store, self.run_id)
        self.journal.start_clock()
        if self.resume:
            self.journal.event(
                "run_resumed", {"runtime": self.runtime.name, "committed_calls": len(self._replay)}
            )
        else:
            self.journal.event(
                "run_started",
                {
                    "kind": self.kind,
                    "team": self.spec.model_dump(mode="json", exclude_none=True),
                    "runtime": self.runtime.name,
                    "params": self.params,
                },
            )
        try:
            await self.runtime.start(self.spec, self._backends)
        except BaseException as exc:
            self.journal.event("run_failed", {"error": str(exc)})
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
        if exc is not None:
            self.status = (
                "cancelled"
                if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
                else "failed"
            )
            self.result = {**(self.result or {}), "error": str(exc) or type(exc).__name__}
        journal.event(
            "run_finished",
            {
                "status": self.status,
                "calls": self.totals.calls,
                "failures": self.totals.failures,
                "prompt_tokens": self.totals.prompt_tokens,
                "completion_tokens": self.totals.completion_tokens,
            },
        )
        await journal.aclose()
        self.store.finish_run(self.run_id, self.status, self.result)
        await self.runtime.aclose()

    def _journal(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("the team is not open; use `async with Team(...)`")
        return self.journal

    def request_envelope(
        self,
        node: str,
        messages: Sequence[ChatMessage | dict[str, str]] | str,
        *,
        sampling: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        parent_id: str | None = None,
        sender: str = COORDINATOR,
    ) -> Envelope:
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
        return Envelope.make(
            run_id=self.run_id,
            sender=sender,
            recipients=(node,),
            kind=Kind.REQUEST,
            payload=payload,
            parent_id=parent_id,
        )

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
    ) -> Reply:
        """Send one request to ``node`` and return its reply once both are durably logged.

        ``messages`` is a prompt or a chat (the node adds its system prompt). With
        ``durable=False`` the reply returns before its commit; the caller must then await
        :meth:`wait_durable` before acting on it (one barrier for a whole fan-out).

        ``key`` makes the call idempotent within the run: its result is committed under
        (run, node, key, request hash), and a resumed run replays it instead of calling the
        model again. Put the task id and attempt number in the key.

        Raises :class:`~lmteams.errors.ModelError` if the node's call fails; the failure is logged.
        """
        envelope = self.request_envelope(
            node, messages, sampling=sampling, meta=meta, parent_id=parent_id
        )
        if key is None:
            return await self.deliver(envelope, durable=durable)
        call_key = idempotency_key(self.run_id, node, key, envelope.payload)
        record = self._replay.get(call_key)
        if record is not None:
            self.replayed += 1
            self._journal().event("call_replayed", {"key": key}, node=node)
            return Reply.from_record(record)
        reply = await self.deliver(envelope, durable=False)
        self._journal().record_call(call_key, node, reply.to_record())
        await self.wait_durable()
        return reply

    async def wait_durable(self) -> None:
        """Return once every message and event logged so far is committed."""
        await self._journal().wait_durable()

    async def deliver(self, envelope: Envelope, *, durable: bool = True) -> Reply:
        """Log, deliver and await one request envelope (see :meth:`call`)."""
        journal = self._journal()
        journal.message(envelope)
        self.totals.calls += 1
        try:
            reply = await self.runtime.request(envelope)
        except ModelError as exc:
            self.totals.failures += 1
            journal.event(
                "call_failed",
                {
                    "request_id": envelope.id,
                    "error": type(exc).__name__,
                    "message": str(exc),
                    "transient": exc.transient,
                },
                node=envelope.recipients[0],
            )
            raise
        journal.message(reply)
        usage = reply.usage
        if usage is not None:
            self.totals.prompt_tokens += usage.prompt_tokens
            self.totals.completion_tokens += usage.completion_tokens
        if durable:
            await journal.wait_durable()
        return Reply.from_envelope(reply)

    def event(
        self, type: str, data: dict[str, Any] | None = None, *, node: str | None = None
    ) -> None:
        """Log a state change of this run."""
        self._journal().event(type, data, node=node)
